/* The designer's workbench page (templates/designer_edit.html): opens the model's diagram in bpmn-js's Modeler
   (vendor/designer.js, built from webui/modeler/), lints as the designer draws — bpmnlint's recommended rules in
   the browser and, a moment after each change, the server's own checks, the ones deploy runs — and lists every
   problem with a link to its element; deploys the diagram as a draft; colours what it changes against the active
   version. */
(function () {
  'use strict';

  var setup = JSON.parse(document.getElementById('designer-setup').textContent);
  var texts = JSON.parse(document.getElementById('designer-texts').textContent);
  window.GRIDLOOP_DESIGNER = setup;  // read by the properties panel's gridloop group

  var csrf = document.querySelector('input[name=csrf_token]');
  var status = document.getElementById('designer-status');
  var list = document.getElementById('designer-problem-list');
  var count = document.getElementById('designer-problem-count');
  var modeler = window.GridloopModeler.create(
    document.getElementById('designer-canvas'), document.getElementById('designer-panel'), setup.language);
  var canvas = modeler.get('canvas');
  var lintIssues = {};
  var serverProblems = [];
  var marked = [];
  var timer = null;

  function post(url, body) {
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf ? csrf.value : ''},
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (json) { return {status: response.status, body: json}; });
    });
  }

  var editedFiles = {};  // the forms and tables changed in their editors, by name: checked and deployed with the diagram

  function diagram() {
    return modeler.saveXML({format: true}).then(function (result) {
      return {file: setup.file, xml: result.xml, files: editedFiles};
    });
  }

  function mark(ids, marker) {
    ids.forEach(function (id) {
      if (modeler.get('elementRegistry').get(id)) {
        canvas.addMarker(id, marker);
        marked.push([id, marker]);
      }
    });
  }

  function clearMarks(prefix) {
    marked = marked.filter(function (pair) {
      if (pair[1].indexOf(prefix) !== 0) return true;
      if (modeler.get('elementRegistry').get(pair[0])) canvas.removeMarker(pair[0], pair[1]);
      return false;
    });
  }

  function item(where, text, element) {
    var li = document.createElement('li');
    var tag = document.createElement('span');
    tag.className = 'state';
    tag.textContent = where;
    li.appendChild(tag);
    li.appendChild(document.createTextNode(' '));
    if (element && modeler.get('elementRegistry').get(element)) {
      var link = document.createElement('button');
      link.type = 'button';
      link.className = 'link';
      link.dataset.element = element;
      link.textContent = text;
      li.appendChild(link);
    } else {
      var code = document.createElement('code');
      code.textContent = text;
      li.appendChild(code);
    }
    return li;
  }

  function render() {
    list.textContent = '';
    clearMarks('designer-problem');
    var n = 0;
    serverProblems.forEach(function (p) {
      list.appendChild(item(texts.server, p.text, p.element));
      n += 1;
    });
    mark(serverProblems.map(function (p) { return p.element; }).filter(Boolean), 'designer-problem');
    Object.keys(lintIssues).forEach(function (id) {
      lintIssues[id].forEach(function (issue) {
        list.appendChild(item(texts.lint, id + ': ' + issue.message + ' (' + issue.rule + ')', id));
        n += 1;
      });
    });
    count.textContent = String(n);
    count.className = 'state ' + (serverProblems.length ? 'state-rejected' : 'state-closed');
    if (!n) {
      var none = document.createElement('li');
      none.textContent = texts.no_problems;
      list.appendChild(none);
    }
  }

  function check() {
    status.textContent = texts.checking;
    return diagram().then(function (body) { return post(setup.check, body); }).then(function (answer) {
      serverProblems = answer.body.problems || [];
      // a deployment answered meanwhile keeps its word on the status line
      if (status.textContent === texts.checking) status.textContent = '';
      render();
    });
  }

  list.addEventListener('click', function (event) {
    var id = event.target.dataset && event.target.dataset.element;
    var element = id && modeler.get('elementRegistry').get(id);
    if (!element) return;
    modeler.get('selection').select(element);
    canvas.scrollToElement(element);
  });

  modeler.on('linting.completed', function (event) {
    lintIssues = event.issues || {};
    render();
  });
  modeler.on('commandStack.changed', function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(check, 600);
  });

  document.getElementById('designer-deploy').addEventListener('click', function () {
    window.clearTimeout(timer);  // the deployment checks the diagram itself
    status.textContent = texts.deploying;
    diagram().then(function (body) { return post(setup.deploy, body); }).then(function (answer) {
      if (answer.status >= 400) {
        serverProblems = answer.body.problems || [];
        status.textContent = answer.body.message || '';
        render();
        return;
      }
      status.textContent = answer.body.message;
    });
  });

  document.getElementById('designer-diff-version').addEventListener('change', showDiff);
  document.getElementById('designer-compare').addEventListener('click', compare);

  function compare() {
    clearMarks('diff-');
    diagram().then(function (body) { return post(setup.diff, body); }).then(function (answer) {
      var box = document.getElementById('designer-diff');
      var out = document.getElementById('designer-diff-list');
      out.textContent = '';
      box.hidden = false;
      if (answer.status >= 400) {
        out.appendChild(item(texts.failed, answer.body.message || ''));
        return;
      }
      var found = answer.body;
      mark(found.added, 'diff-added');
      mark(found.changed, 'diff-changed');
      [['added', found.added], ['changed', found.changed], ['removed', found.removed]].forEach(function (kind) {
        kind[1].forEach(function (id) {
          out.appendChild(item(texts[kind[0]], (found.names[id] || id) + ' (' + id + ')', id));
        });
      });
      if (!found.added.length && !found.changed.length && !found.removed.length) {
        var none = document.createElement('li');
        none.textContent = texts.no_changes;
        out.appendChild(none);
      }
    });
  }

  function open(url) {
    return fetch(url, {credentials: 'same-origin'}).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.text();
    }).then(function (xml) {
      return modeler.importXML(xml);
    }).then(function () {
      canvas.zoom('fit-viewport');
      return check();
    }).catch(function () {
      status.textContent = texts.failed;
    });
  }

  function showDiff(event) {
    var version = event.target.value;
    if (!version) return;
    open(setup.versionDiagram.replace('/0/', '/' + version + '/')).then(compare);
  }

  // a file of the model as its editor opens it: as edited on this page, else as the shown version has it
  function fileText(name) {
    if (editedFiles[name] !== undefined) return Promise.resolve(editedFiles[name]);
    return fetch(setup.fileUrl.replace('NAME', encodeURIComponent(name)), {credentials: 'same-origin'})
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      });
  }

  // ---- the form editor: a form's JSON Schema beside its preview, drawn by the server as staff see it
  var formFile = document.getElementById('form-file');
  var formText = document.getElementById('form-text');
  var formPreview = document.getElementById('form-preview');
  var formStatus = document.getElementById('form-status');
  var formPhone = document.getElementById('form-phone');
  var formTimer = null;

  function preview() {
    formStatus.textContent = texts.form_rendering;
    return fetch(setup.formPreview, {
      method: 'POST',
      credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf ? csrf.value : ''},
      body: JSON.stringify({file: formFile.value, text: formText.value})
    }).then(function (response) {
      return response.text().then(function (html) {
        formPreview.srcdoc = html;
        formStatus.textContent = editedFiles[formFile.value] !== undefined ? texts.form_edited : '';
      });
    });
  }

  function openForm() {
    if (!formFile.value) return;
    fileText(formFile.value).then(function (found) {
      formText.value = found;
      return preview();
    }).catch(function () {
      formStatus.textContent = texts.form_unreadable;
    });
  }

  formText.addEventListener('input', function () {
    editedFiles[formFile.value] = formText.value;
    clearTimeout(formTimer);
    formTimer = setTimeout(function () { preview().then(check); }, 500);
  });
  formFile.addEventListener('change', openForm);
  formPhone.addEventListener('click', function () {
    var phone = formPhone.getAttribute('aria-pressed') !== 'true';
    formPhone.setAttribute('aria-pressed', String(phone));
    formPreview.classList.toggle('phone', phone);
  });
  openForm();

  // ---- the decision tables: dmn-js's Modeler on the model's DMN files; an edit is checked with the diagram
  var tableFile = document.getElementById('table-file');
  var tableStatus = document.getElementById('table-status');
  var tables = tableFile && window.GridloopDmn ?
    window.GridloopDmn.create(document.getElementById('table-editor'), setup.language) : null;

  function tableEdited() {
    tables.saveXML({format: true}).then(function (result) {
      editedFiles[tableFile.value] = result.xml;
      tableStatus.textContent = texts.form_edited;
      clearTimeout(timer);
      timer = setTimeout(check, 500);
    });
  }

  function openTable() {
    fileText(tableFile.value).then(function (found) { return tables.importXML(found); }).then(function () {
      // open the first decision table (the diagram of decisions otherwise)
      var view = tables.getViews().filter(function (v) { return v.type === 'decisionTable'; })[0];
      return view ? tables.open(view) : null;
    }).then(function () {
      var viewer = tables.getActiveViewer();
      if (viewer) viewer.on('elements.changed', tableEdited);
      tableStatus.textContent = editedFiles[tableFile.value] !== undefined ? texts.form_edited : '';
    }).catch(function () {
      tableStatus.textContent = texts.form_unreadable;
    });
  }

  if (tables) {
    tables.on('views.changed', function () {
      var viewer = tables.getActiveViewer();
      if (viewer) {
        viewer.off('elements.changed', tableEdited);
        viewer.on('elements.changed', tableEdited);
      }
    });
    tableFile.addEventListener('change', openTable);
    openTable();
  }

  // ---- migration of running instances: the step mapping, a dry run per instance, then the movable ones one by one
  var plans = [];
  var runButton = document.getElementById('migration-run');
  var progress = document.getElementById('migration-progress');
  var migrationStatus = document.getElementById('migration-status');
  var table = document.getElementById('migration-plans');
  var mappingBox = document.getElementById('migration-mapping');
  var mappingPair = '';

  function cell(row, text) {
    var td = document.createElement('td');
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  // on a phone a list's rows are cards: each cell says what it is, from its column's header
  function labelCells(table) {
    var heads = Array.prototype.map.call(table.querySelectorAll('thead th'), function (th) { return th.textContent; });
    table.querySelectorAll('tbody tr').forEach(function (row) {
      Array.prototype.forEach.call(row.children, function (td, index) {
        if (row.children.length === heads.length) td.dataset.label = heads[index];
      });
    });
  }

  function named(element) {
    return element.name ? element.name + ' (' + element.id + ')' : element.id;
  }

  // the steps the target has no element of the same id for, each with a choice among the target's new elements
  function showMapping(found) {
    var body = mappingBox.querySelector('tbody');
    body.textContent = '';
    found.gone.forEach(function (step) {
      var row = document.createElement('tr');
      cell(row, named(step));
      var select = document.createElement('select');
      select.dataset.step = step.id;
      select.setAttribute('aria-label', named(step));
      var structural = document.createElement('option');
      structural.value = '';
      structural.textContent = texts.by_structure;
      select.appendChild(structural);
      found['new'].forEach(function (element) {
        var option = document.createElement('option');
        option.value = element.id;
        option.textContent = named(element);
        option.selected = element.id === step.proposed;
        select.appendChild(option);
      });
      select.addEventListener('change', dryRun);
      var td = document.createElement('td');
      td.appendChild(select);
      row.appendChild(td);
      body.appendChild(row);
    });
    labelCells(mappingBox.querySelector('table'));
    mappingBox.hidden = !found.gone.length;
  }

  function mapping() {
    var chosen = {};
    mappingBox.querySelectorAll('select[data-step]').forEach(function (select) {
      if (select.value) chosen[select.dataset.step] = select.value;
    });
    return chosen;
  }

  function showPlans() {
    var body = table.querySelector('tbody');
    body.textContent = '';
    plans.forEach(function (plan) {
      var row = document.createElement('tr');
      row.dataset.event = plan.event;
      cell(row, plan.code);
      var aligned = Object.keys(plan.aligned || {}).map(function (old) { return old + ' → ' + plan.aligned[old]; });
      var verdict = cell(row, plan.problems.length ? texts.refused + ': ' + plan.problems.join('; ') :
        texts.moves + (aligned.length ? ' · ' + texts.aligned + ' ' + aligned.join('，') : ''));
      verdict.className = plan.problems.length ? 'migration-refused' : 'migration-moves';
      cell(row, plan.waiting.map(function (w) {
        return w.name + (w.becomes ? ' → ' + w.becomes : '') +
          (w.assignee && w.kept ? ' · ' + w.assignee + ' (' + texts.claim_kept + ')' : '') +
          (w.kept ? '' : ' · ' + texts.step_gone);
      }).join('；'));
      cell(row, String(plan.timers));
      body.appendChild(row);
    });
    labelCells(table);
    table.hidden = false;
    var movable = plans.filter(function (p) { return !p.problems.length; }).length;
    runButton.disabled = !movable;
    migrationStatus.textContent = plans.length ? '' : texts.nothing_to_move;
  }

  function getJSON(url) {
    return fetch(url, {credentials: 'same-origin'}).then(function (response) {
      return response.json().then(function (json) { return {status: response.status, body: json}; });
    });
  }

  function dryRun() {
    var from = document.getElementById('migration-from').value;
    var to = document.getElementById('migration-to').value;
    if (!from || !to) return;
    var pair = new URLSearchParams({from: from, to: to}).toString();
    var mapped = pair === mappingPair ? Promise.resolve() : getJSON(setup.steps + '?' + pair).then(function (answer) {
      if (answer.status !== 200) throw new Error(answer.body.message || String(answer.status));
      mappingPair = pair;
      showMapping(answer.body);
    });
    mapped.then(function () {
      var query = new URLSearchParams({from: from, to: to});
      var chosen = mapping();
      Object.keys(chosen).forEach(function (old) { query.append('map', old + ':' + chosen[old]); });
      return getJSON(setup.migration + '?' + query.toString());
    }).then(function (answer) {
      if (answer.status !== 200) throw new Error(answer.body.message || String(answer.status));
      plans = answer.body.plans || [];
      showPlans();
    }).catch(function (error) {
      migrationStatus.textContent = error.message;
    });
  }

  document.getElementById('migration-dry-run').addEventListener('click', dryRun);

  runButton.addEventListener('click', function () {
    var to = Number(document.getElementById('migration-to').value);
    var chosen = mapping();
    var movable = plans.filter(function (p) { return !p.problems.length; });
    var done = 0;
    runButton.disabled = true;
    progress.hidden = false;
    progress.max = movable.length;
    progress.value = 0;
    movable.reduce(function (chain, plan) {
      return chain.then(function () {
        return post(setup.migration, {event: plan.event, to: to, mapping: chosen}).then(function (answer) {
          var row = table.querySelector('tr[data-event="' + plan.event + '"] td:nth-child(2)');
          row.textContent = answer.status === 200 ? texts.moved : texts.refused + ': ' + answer.body.message;
          done += answer.status === 200 ? 1 : 0;
          progress.value += 1;
        });
      });
    }, Promise.resolve()).then(function () {
      migrationStatus.textContent = texts.done.replace('%(count)s', String(done));
    });
  });

  // ---- what-if: a period's cases played through a version, beside how they ran
  var whatIfStatus = document.getElementById('whatif-status');
  var whatIfResult = document.getElementById('whatif-result');

  function share(value) {
    return value === null || value === undefined ? texts.none : value.toFixed(2) + '%';
  }

  function hours(value) {
    return value === null || value === undefined ? texts.none : value.toFixed(2);
  }

  function fact(list, term, recorded, draft) {
    var dt = document.createElement('dt');
    dt.textContent = term;
    var dd = document.createElement('dd');
    dd.textContent = texts.recorded + ' ' + recorded + ' · ' + texts.draft + ' ' + draft;
    list.appendChild(dt);
    list.appendChild(dd);
  }

  function showWhatIf(found) {
    var summary = document.getElementById('whatif-summary');
    summary.textContent = '';
    var dt = document.createElement('dt');
    dt.textContent = texts.played.replace('%(played)s', String(found.played)).replace('%(total)s', String(found.in_period));
    var dd = document.createElement('dd');
    dd.textContent = ['same', 'ended_earlier', 'waits_at_new_step', 'diverged', 'failed'].map(function (key) {
      return texts.outcome[key] + ' ' + found.outcomes[key];
    }).join(' · ');
    summary.appendChild(dt);
    summary.appendChild(dd);
    fact(summary, texts.cases_ended, found.recorded.ended, found.draft.ended);
    fact(summary, texts.mean_hours, hours(found.recorded.mean_hours), hours(found.draft.mean_hours));
    fact(summary, texts.median_hours, hours(found.recorded.median_hours), hours(found.draft.median_hours));
    fact(summary, texts.case_on_time, share(found.recorded.on_time_share), share(found.draft.on_time_share));
    var steps = document.querySelector('#whatif-steps tbody');
    steps.textContent = '';
    found.steps.forEach(function (step) {
      var row = document.createElement('tr');
      row.dataset.step = step.step;
      cell(row, named({id: step.step, name: step.name}));
      cell(row, String(step.recorded.reached));
      var reached = cell(row, String(step.draft.reached));
      if (step.draft.reached !== step.recorded.reached) reached.className = 'whatif-changed';
      cell(row, share(step.recorded.on_time_share));
      var onTime = cell(row, share(step.draft.on_time_share));
      if (step.draft.on_time_share !== step.recorded.on_time_share) onTime.className = 'whatif-changed';
      steps.appendChild(row);
    });
    var cases = document.querySelector('#whatif-cases tbody');
    cases.textContent = '';
    found.listed.forEach(function (listed) {
      var row = document.createElement('tr');
      var td = document.createElement('td');
      var link = document.createElement('a');
      link.href = setup.events.replace('/0', '/' + listed.event);
      link.textContent = listed.code || String(listed.event);
      td.appendChild(link);
      row.appendChild(td);
      cell(row, texts.outcome[listed.outcome]);
      cell(row, listed.detail);
      cases.appendChild(row);
    });
    if (!found.listed.length) {
      var row = document.createElement('tr');
      var only = cell(row, texts.all_same);
      only.colSpan = 3;
      cases.appendChild(row);
    }
    labelCells(document.getElementById('whatif-steps'));
    labelCells(document.getElementById('whatif-cases'));
    whatIfResult.hidden = false;
  }

  document.getElementById('whatif-run').addEventListener('click', function () {
    var query = new URLSearchParams({
      version: document.getElementById('whatif-version').value,
      from: document.getElementById('whatif-from').value,
      to: document.getElementById('whatif-to').value
    });
    whatIfStatus.textContent = texts.playing;
    getJSON(setup.whatIf + '?' + query.toString()).then(function (answer) {
      if (answer.status !== 200) throw new Error(answer.body.message || String(answer.status));
      whatIfStatus.textContent = '';
      showWhatIf(answer.body);
    }).catch(function (error) {
      whatIfStatus.textContent = error.message;
    });
  });

  open(setup.diagram);
}());
