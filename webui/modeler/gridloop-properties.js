// The properties panel's "gridloop" group: the properties gridloop reads from a diagram (README, "For
// designers"), edited where they live — spiffworkflow:property elements under the element's extensionElements —
// and a lane's role. Labels come from the page (window.GRIDLOOP_DESIGNER.labels), in the reader's language.
import { SelectEntry, TextFieldEntry, isSelectEntryEdited, isTextFieldEntryEdited } from '@bpmn-io/properties-panel';
import { useService } from 'bpmn-js-properties-panel';
import { is, getBusinessObject } from 'bpmn-js/lib/util/ModelUtil';

const SCOPE_LEVELS = ['grid', 'community', 'town', 'district'];
// property → the elements it applies to
const TASK_PROPERTIES = [
  'formJsonSchemaFilename', 'scopeLevel', 'scopeLevelVariable', 'departmentVariable', 'dueAtVariable',
  'decisionVariable', 'name.en'
];
const START_PROPERTIES = ['formJsonSchemaFilename', 'name.en'];

function settings() {
  return window.GRIDLOOP_DESIGNER || { labels: {}, roles: [], forms: [] };
}

function label(key) {
  return settings().labels[key] || key;
}

function propertiesOf(bo) {
  const extensions = bo.get('extensionElements');
  return extensions && extensions.get('values').find((v) => is(v, 'spiffworkflow:Properties'));
}

export function getProperty(element, name) {
  const found = propertiesOf(getBusinessObject(element));
  const property = found && found.get('properties').find((p) => p.name === name);
  return property ? property.value : '';
}

function extensionsOf(element, bpmnFactory) {
  const bo = getBusinessObject(element);
  let extensions = bo.get('extensionElements');
  if (!extensions) {
    extensions = bpmnFactory.create('bpmn:ExtensionElements', { values: [] });
    extensions.$parent = bo;
  }
  return extensions;
}

function setProperty(element, name, value, bpmnFactory, modeling) {
  const bo = getBusinessObject(element);
  const extensions = extensionsOf(element, bpmnFactory);
  let found = propertiesOf(bo);
  if (!found) {
    found = bpmnFactory.create('spiffworkflow:Properties', { properties: [] });
    found.$parent = extensions;
    extensions.get('values').push(found);
  }
  const list = found.get('properties');
  const index = list.findIndex((p) => p.name === name);
  if (!value) {
    if (index >= 0) list.splice(index, 1);
  } else if (index >= 0) {
    list[index].value = value;
  } else {
    const property = bpmnFactory.create('spiffworkflow:Property', { name, value });
    property.$parent = found;
    list.push(property);
  }
  modeling.updateProperties(element, { extensionElements: extensions });
}

function calledDecision(element) {
  const extensions = getBusinessObject(element).get('extensionElements');
  return extensions && extensions.get('values').find((v) => is(v, 'spiffworkflow:CalledDecisionId'));
}

function CalledDecision(props) {
  const { element, id } = props;
  const modeling = useService('modeling');
  const bpmnFactory = useService('bpmnFactory');
  const debounce = useService('debounceInput');
  return TextFieldEntry({
    element,
    id,
    label: label('prop.calledDecisionId'),
    description: label('hint.calledDecisionId'),
    getValue: () => {
      const found = calledDecision(element);
      return found ? found.value || '' : '';
    },
    setValue: (value) => {
      const extensions = extensionsOf(element, bpmnFactory);
      const values = extensions.get('values');
      let found = calledDecision(element);
      if (!value) {
        if (found) values.splice(values.indexOf(found), 1);
      } else if (found) {
        found.value = value;
      } else {
        found = bpmnFactory.create('spiffworkflow:CalledDecisionId', { value });
        found.$parent = extensions;
        values.push(found);
      }
      modeling.updateProperties(element, { extensionElements: extensions });
    },
    debounce
  });
}

function PropertyText(props) {
  const { element, id, name } = props;
  const modeling = useService('modeling');
  const bpmnFactory = useService('bpmnFactory');
  const debounce = useService('debounceInput');
  return TextFieldEntry({
    element,
    id,
    label: label(`prop.${name}`),
    description: label(`hint.${name}`),
    getValue: () => getProperty(element, name),
    setValue: (value) => setProperty(element, name, value, bpmnFactory, modeling),
    debounce
  });
}

function PropertySelect(props) {
  const { element, id, name, choices } = props;
  const modeling = useService('modeling');
  const bpmnFactory = useService('bpmnFactory');
  return SelectEntry({
    element,
    id,
    label: label(`prop.${name}`),
    description: label(`hint.${name}`),
    getValue: () => getProperty(element, name),
    setValue: (value) => setProperty(element, name, value, bpmnFactory, modeling),
    getOptions: () => [{ value: '', label: '—' }, ...choices()]
  });
}

function LaneRole(props) {
  const { element, id } = props;
  const modeling = useService('modeling');
  return SelectEntry({
    element,
    id,
    label: label('prop.lane_role'),
    description: label('hint.lane_role'),
    getValue: () => {
      const name = getBusinessObject(element).name || '';
      const role = settings().roles.find((r) => r.key === name || r.label === name);
      return role ? role.key : '';
    },
    setValue: (key) => {
      const role = settings().roles.find((r) => r.key === key);
      modeling.updateProperties(element, { name: role ? role.label : '' });
    },
    getOptions: () => [{ value: '', label: '—' }, ...settings().roles.map((r) => ({ value: r.key, label: `${r.label} (${r.key})` }))]
  });
}

function entry(element, name) {
  const id = `gridloop-${name.replace('.', '-')}`;
  if (name === 'scopeLevel') {
    const choices = () => SCOPE_LEVELS.map((level) => ({ value: level, label: label(`level.${level}`) }));
    return { id, element, name, choices, component: PropertySelect, isEdited: isSelectEntryEdited };
  }
  if (name === 'formJsonSchemaFilename') {
    const choices = () => settings().forms.map((form) => ({ value: form, label: form }));
    return { id, element, name, choices, component: PropertySelect, isEdited: isSelectEntryEdited };
  }
  return { id, element, name, component: PropertyText, isEdited: isTextFieldEntryEdited };
}

function GridloopPropertiesProvider(propertiesPanel) {
  propertiesPanel.registerProvider(500, this);
}

GridloopPropertiesProvider.prototype.getGroups = function(element) {
  return function(groups) {
    let names = [];
    if (is(element, 'bpmn:UserTask')) names = TASK_PROPERTIES;
    else if (is(element, 'bpmn:StartEvent')) names = START_PROPERTIES;
    else if (is(element, 'bpmn:FlowElement') || is(element, 'bpmn:Participant')) names = ['name.en'];
    const entries = names.map((name) => entry(element, name));
    if (is(element, 'bpmn:BusinessRuleTask')) {
      entries.unshift({ id: 'gridloop-calledDecisionId', element, component: CalledDecision, isEdited: isTextFieldEntryEdited });
    }
    if (is(element, 'bpmn:Lane')) {
      entries.push({ id: 'gridloop-lane-role', element, component: LaneRole, isEdited: isSelectEntryEdited });
      entries.push(entry(element, 'name.en'));
    }
    if (entries.length) {
      groups.splice(1, 0, { id: 'gridloop', label: label('group'), entries });
    }
    return groups;
  };
};

GridloopPropertiesProvider.$inject = ['propertiesPanel'];

export default {
  __init__: ['gridloopPropertiesProvider'],
  gridloopPropertiesProvider: ['type', GridloopPropertiesProvider]
};
