// The workbench's DMN bundle (built by `make vendor` with esbuild into webui/static/vendor/dmn-designer.js, loaded
// by the workbench page beside the BPMN one): dmn-js's Modeler — the decision requirements diagram and the
// decision tables' editor — driven by webui/static/js/designer.js through window.GridloopDmn.
import DmnModeler from 'dmn-js/lib/Modeler';

import { translator } from './translations';

// dmn-js's own texts in Chinese for the decision table's editor; a text not listed stays in English
const ZH = {
  'Hit policy:': '命中策略：',
  'When': '当',
  'And': '且',
  'Then': '则',
  'Annotations': '说明',
  'Add input': '添加输入',
  'Add output': '添加输出',
  'Add rule': '添加规则',
  'Input': '输入',
  'Output': '输出',
  'Input label: ': '输入名称：',
  'Input expression: ': '输入表达式：',
  'Input label': '输入名称',
  'Input expression': '输入表达式',
  'Output label': '输出名称',
  'Output name': '输出变量',
  'Input type': '输入类型',
  'Output type': '输出类型',
  'Input values': '输入取值',
  'Output values': '输出取值',
  'Predefined values': '预设取值',
  'Type': '类型',
  'Value': '值',
  'Values': '取值',
  'Delete': '删除',
  'Remove rule': '删除规则',
  'Remove input column': '删除输入列',
  'Remove output column': '删除输出列',
  'Decision name: ': '决策名称：',
  'View DRD': '查看决策图',
  'Expression language': '表达式语言',
  'Equals': '等于',
  'Exactly': '恰好',
  'Between': '介于',
  'Include': '包含',
  'Exclude': '排除',
  'Comparison': '比较',
  'Less': '小于',
  'Less or equals': '小于等于',
  'Greater': '大于',
  'Greater or equals': '大于等于',
  'Yes': '是',
  'Strings must be in double quotes': '字符串须加双引号'
};

window.GridloopDmn = {
  create(container, language) {
    // each view takes its own modules (dmn-js puts a view's additionalModules over the common ones)
    const texts = { additionalModules: [translator(language === 'zh' ? ZH : {})] };
    return new DmnModeler({ container, drd: texts, decisionTable: texts, literalExpression: texts });
  }
};
