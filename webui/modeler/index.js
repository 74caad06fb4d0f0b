// The designer's workbench bundle (built by `make vendor` with esbuild into webui/static/vendor/designer.js):
// bpmn-js's Modeler with the properties panel, gridloop's own property group and bpmnlint's recommended rules.
// The page's own script (webui/static/js/designer.js) drives it through window.GridloopModeler.
import BpmnModeler from 'bpmn-js/lib/Modeler';
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from 'bpmn-js-properties-panel';
import lintModule from 'bpmn-js-bpmnlint';

import gridloopProperties from './gridloop-properties';
import lintConfig from './lint-config';
import spiffworkflow from './spiffworkflow.json';
import translations from './translations';

window.GridloopModeler = {
  create(canvas, panel, language) {
    return new BpmnModeler({
      container: canvas,
      propertiesPanel: { parent: panel },
      linting: { bpmnlint: lintConfig, active: true },
      additionalModules: [
        BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, gridloopProperties, lintModule, translations(language)
      ],
      moddleExtensions: { spiffworkflow }
    });
  }
};
