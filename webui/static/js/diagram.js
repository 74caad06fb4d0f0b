/* Draws BPMN diagrams with bpmn-js (NavigatedViewer, vendored by `make vendor`).
 *
 * Every element with class "bpmn-diagram" names its BPMN XML in data-src and the element ids to highlight in
 * data-done (steps completed) and data-current (tasks waiting). With data-flows="yes" the sequence flows of
 * the path are marked too: those leaving a done element for a done or waiting one. A diagram inside a closed
 * <details> is drawn when it is opened, so that it can be fitted to a visible box. It opens fitted, or — when
 * fitted it is too small to read — centred on the current step; buttons above it zoom in and out, fit it and go
 * back to the current step (data-scale says the scale shown, for the browser tests).
 */
(function () {
  'use strict';

  function mark(viewer, ids, marker) {
    var registry = viewer.get('elementRegistry');
    var canvas = viewer.get('canvas');
    ids.forEach(function (id) {
      if (registry.get(id)) {
        canvas.addMarker(id, marker);
      }
    });
  }

  function markFlows(viewer, done, current) {
    var from = new Set(done);
    var to = new Set(done.concat(current));
    var canvas = viewer.get('canvas');
    viewer.get('elementRegistry').filter(function (element) {
      return element.type === 'bpmn:SequenceFlow' && element.source && element.target &&
        from.has(element.source.id) && to.has(element.target.id);
    }).forEach(function (flow) {
      canvas.addMarker(flow.id, 'gl-done-flow');
    });
  }

  // The scale at which a task's label reads well, and below which a fitted diagram is too small to read.
  var READABLE = 0.8;
  var TOO_SMALL = 0.6;

  // Centre the step that waits (or the last one done) at a readable scale: always when asked (the button),
  // and on opening when the whole diagram fitted into its box is too small to read (a phone, a long loop).
  function focus(viewer, ids, always) {
    var registry = viewer.get('elementRegistry');
    var canvas = viewer.get('canvas');
    var element = ids.map(function (id) { return registry.get(id); }).filter(Boolean).pop();
    if (!element || (!always && canvas.zoom() >= TOO_SMALL)) {
      return;
    }
    var outer = canvas.viewbox().outer;
    var width = outer.width / READABLE;
    var height = outer.height / READABLE;
    canvas.viewbox({
      x: element.x + element.width / 2 - width / 2,
      y: element.y + element.height / 2 - height / 2,
      width: width,
      height: height
    });
  }

  // Zoom in, zoom out, fit the whole diagram, back to the current step: the buttons of the page's
  // <template id="diagram-controls"> (labelled in the reader's language), put above the diagram.
  function controls(viewer, container, ids) {
    var template = document.getElementById('diagram-controls');
    if (!template) {
      return;
    }
    var bar = template.content.firstElementChild.cloneNode(true);
    var canvas = viewer.get('canvas');
    if (!ids.length) {
      bar.querySelector('[data-zoom=current]').remove();
    }
    bar.addEventListener('click', function (event) {
      var button = event.target.closest('button[data-zoom]');
      if (!button) {
        return;
      }
      var action = button.dataset.zoom;
      if (action === 'in') {
        canvas.zoom(canvas.zoom() * 1.25);
      } else if (action === 'out') {
        canvas.zoom(canvas.zoom() / 1.25);
      } else if (action === 'fit') {
        canvas.zoom('fit-viewport', 'auto');
      } else {
        focus(viewer, ids, true);
      }
      container.dataset.scale = String(canvas.zoom());
    });
    container.parentNode.insertBefore(bar, container);
  }

  function draw(container) {
    if (container.dataset.drawn) {
      return;
    }
    container.dataset.drawn = 'yes';
    var viewer = new window.BpmnJS({ container: container });
    fetch(container.dataset.src, { credentials: 'same-origin' })
      .then(function (response) {
        if (!response.ok) {
          throw new Error('HTTP ' + response.status);
        }
        return response.text();
      })
      .then(function (xml) {
        return viewer.importXML(xml);
      })
      .then(function () {
        var done = JSON.parse(container.dataset.done || '[]');
        var current = JSON.parse(container.dataset.current || '[]');
        viewer.get('canvas').zoom('fit-viewport', 'auto');
        mark(viewer, done, 'gl-done');
        mark(viewer, current, 'gl-current');
        if (container.dataset.flows === 'yes') {
          markFlows(viewer, done, current);
        }
        var shown = current.length ? current : done;
        focus(viewer, shown, false);
        controls(viewer, container, shown);
        container.dataset.scale = String(viewer.get('canvas').zoom());
        container.classList.add('is-drawn');
      })
      .catch(function () {
        container.classList.add('is-failed');
        container.textContent = container.dataset.failed;
      });
  }

  document.querySelectorAll('.bpmn-diagram').forEach(function (container) {
    var details = container.closest('details');
    if (!window.BpmnJS) {
      container.classList.add('is-failed');
      container.textContent = container.dataset.failed;
    } else if (details && !details.open) {
      details.addEventListener('toggle', function () {
        if (details.open) {
          draw(container);
        }
      });
    } else {
      draw(container);
    }
  });
})();
