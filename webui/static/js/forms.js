/* Fields that fit the outcome: a schema form's fields shown, hidden and marked required as the user chooses.

   The server draws every field with its conditions as data attributes (webui/formdata.py field_rules):
   data-show-when and data-require-when hold a condition — {"action": ["extension"]} (the sibling field's
   value is one of these; "" is "nothing chosen"), {"report": true} (the field is filled in), or
   {"allOf": [...]} / {"anyOf": [...]} of conditions. A hidden field's controls are disabled, so that
   nothing typed into an outcome the user left is sent; a field whose require condition holds gets its
   required mark (<abbr class="req">) and the browser's required check. Without this script every field is
   shown with a hint saying when it is needed, and the server validates the whole schema either way. */
(function () {
  "use strict";

  var UNREQUIRABLE = ["field-multi", "field-photos", "field-checkbox", "field-object"];

  function valuesOf(form, name) {
    var values = [];
    var controls = form.querySelectorAll('[name="' + CSS.escape(name) + '"]');
    controls.forEach(function (control) {
      if (control.disabled) {
        return;
      }
      var single = control.closest(".field-checkbox");
      if (control.type === "checkbox" && single) {
        values.push(control.checked ? "true" : "false");
      } else if (control.type === "radio" || control.type === "checkbox") {
        if (control.checked) {
          values.push(control.value);
        }
      } else if (control.type !== "file" && control.value.trim() !== "") {
        values.push(control.value.trim());
      }
    });
    return values;
  }

  function holds(form, condition) {
    if (condition.allOf) {
      return condition.allOf.every(function (c) { return holds(form, c); });
    }
    if (condition.anyOf) {
      return condition.anyOf.some(function (c) { return holds(form, c); });
    }
    return Object.keys(condition).every(function (name) {
      var wanted = condition[name];
      var values = valuesOf(form, name);
      if (wanted === true) {
        return values.length > 0;
      }
      if (values.length === 0) {
        return wanted.indexOf("") !== -1;
      }
      return values.some(function (v) { return wanted.indexOf(v) !== -1; });
    });
  }

  function condition(field, attribute) {
    var text = field.getAttribute(attribute);
    return text ? JSON.parse(text) : null;
  }

  function fit(form, field) {
    var show = condition(field, "data-show-when");
    var require = condition(field, "data-require-when");
    var shown = show === null || holds(form, show);
    var changed = field.hidden === shown;
    field.hidden = !shown;
    field.querySelectorAll("input, select, textarea").forEach(function (control) {
      control.disabled = !shown;
    });
    if (require !== null) {
      var required = shown && holds(form, require);
      field.querySelectorAll("abbr.req").forEach(function (mark) { mark.hidden = !required; });
      var requirable = !UNREQUIRABLE.some(function (kind) { return field.classList.contains(kind); });
      if (requirable) {
        field.querySelectorAll("input, select, textarea").forEach(function (control) {
          control.required = required;
        });
      }
    }
    return changed;
  }

  function fitAll(form, fields) {
    // a field hidden now may be what another one's condition reads, so go round until nothing changes
    for (var round = 0; round <= fields.length; round += 1) {
      var changed = false;
      fields.forEach(function (field) { changed = fit(form, field) || changed; });
      if (!changed) {
        return;
      }
    }
  }

  document.querySelectorAll("form.schema-form").forEach(function (form) {
    var fields = Array.prototype.slice.call(form.querySelectorAll("[data-show-when], [data-require-when]"));
    if (fields.length === 0) {
      return;
    }
    form.classList.add("fits-outcome");
    fitAll(form, fields);
    form.addEventListener("change", function () { fitAll(form, fields); });
    form.addEventListener("input", function () { fitAll(form, fields); });
  });

  // a button that fills a field of the page's form (a similar case proposed to intake: data-fill-field names the
  // field, data-fill-value its value): the choices its condition asks for are chosen first, so it is shown
  function choose(form, name, value) {
    var controls = form.querySelectorAll("[name='" + name + "']");
    controls.forEach(function (control) {
      if (control.type === "radio" || control.type === "checkbox") {
        control.checked = control.value === value;
      } else {
        control.value = value;
      }
    });
    if (controls.length) {
      controls[0].dispatchEvent(new Event("change", {bubbles: true}));
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-fill-field]") : null;
    if (!button) {
      return;
    }
    var form = document.querySelector("form.schema-form");
    if (!form) {
      return;
    }
    var name = button.getAttribute("data-fill-field");
    var field = form.querySelector("#field-" + name);
    var show = field ? condition(field, "data-show-when") : null;
    if (show && !show.allOf && !show.anyOf) {
      Object.keys(show).forEach(function (other) {
        if (Array.isArray(show[other]) && show[other].length) {
          choose(form, other, String(show[other][0]));
        }
      });
    }
    choose(form, name, button.getAttribute("data-fill-value"));
    var input = form.querySelector("[name='" + name + "']");
    if (input) {
      input.focus();
    }
  });
}());
