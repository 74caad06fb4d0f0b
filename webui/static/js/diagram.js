/* Draws BPMN diagrams with bpmn-js (NavigatedViewer, vendored by `make vendor`).
 *
 * Every element with class "bpmn-diagram" names its BPMN XML in data-src and the element ids to highlight in
 * data-done (steps completed) and data-current (tasks waiting). With data-flows="yes" the sequence flows of
 * the path are marked too: those leaving a done element for a done or waiting one. A diagram inside a closed
 * <details> is drawn when it is opened, so that it can be fitted to a visible box.
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

  // On a phone the whole loop is too small to read: show the step that waits (or the last one done) instead.
  function focus(viewer, container, ids) {
    var registry = viewer.get('elementRegistry');
    var canvas = viewer.get('canvas');
    var element = ids.map(function (id) { return registry.get(id); }).filter(Boolean).pop();
    if (!element || container.clientWidth >= 640) {
      return;
    }
    var outer = canvas.viewbox().outer;
    var scale = 0.8;
    var width = outer.width / scale;
    var height = outer.height / scale;
    canvas.viewbox({
      x: element.x + element.width / 2 - width / 2,
      y: element.y + element.height / 2 - height / 2,
      width: width,
      height: height
    });
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
        focus(viewer, container, current.length ? current : done);
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
