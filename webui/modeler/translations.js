// bpmn-js's and the properties panel's own texts in Chinese (the staff's language), for the palette, the
// context pad and the panel's standard groups; a text not listed stays in English.
const ZH = {
  'Activate hand tool': '抓手工具',
  'Activate lasso tool': '框选工具',
  'Activate create/remove space tool': '插入/删除空间',
  'Activate global connect tool': '连线工具',
  'Create start event': '开始事件',
  'Create intermediate/boundary event': '中间/边界事件',
  'Create end event': '结束事件',
  'Create gateway': '网关',
  'Create task': '任务',
  'Create expanded sub-process': '子流程',
  'Create data object reference': '数据对象',
  'Create data store reference': '数据存储',
  'Create pool/participant': '池/参与者',
  'Create group': '分组',
  'Append end event': '追加结束事件',
  'Append gateway': '追加网关',
  'Append task': '追加任务',
  'Append intermediate/boundary event': '追加中间事件',
  'Append timer intermediate catch event': '追加定时事件',
  'Append message intermediate catch event': '追加消息事件',
  'Append signal intermediate catch event': '追加信号事件',
  'Append receive task': '追加接收任务',
  'Append compensation activity': '追加补偿活动',
  'Add text annotation': '添加注释',
  'Add lane above': '在上方添加泳道',
  'Add lane below': '在下方添加泳道',
  'Divide into two lanes': '分为两条泳道',
  'Divide into three lanes': '分为三条泳道',
  'Change element': '更换类型',
  'Connect to other element': '连接到其他元素',
  'Connect using association': '用关联连接',
  'Connect using data input association': '用数据输入关联连接',
  'Delete': '删除',
  'General': '常规',
  'Name': '名称',
  'ID': '编号',
  'Documentation': '说明',
  'Element documentation': '元素说明',
  'Process documentation': '流程说明',
  'Condition': '条件',
  'Condition expression': '条件表达式',
  'Type': '类型',
  'Script': '脚本',
  'Timer': '定时',
  'Type of time': '时间类型',
  'Date': '日期',
  'Duration': '时长',
  'Cycle': '周期',
  'Value': '值',
  'Multi-instance': '多实例',
  'Loop cardinality': '循环次数',
  'Completion condition': '完成条件',
  'Called element': '调用的流程',
  'Process ID': '流程编号',
  'Process name': '流程名称',
  'Executable': '可执行',
  'Participant': '参与者',
  'Message': '消息',
  'Signal': '信号',
  'Errors': '错误',
  'Inputs': '输入',
  'Outputs': '输出',
  '<none>': '（无）'
};

// a diagram-js `translate` module reading ``table`` (a text not in it stays as it is), for bpmn-js and dmn-js alike
export function translator(table) {
  return {
    translate: [
      'value',
      function (template, replacements) {
        const text = table[template] || template;
        return text.replace(/{([^}]+)}/g, (found, key) => (replacements && key in replacements ? replacements[key] : found));
      }
    ]
  };
}

export default function translate(language) {
  return translator(language === 'zh' ? ZH : {});
}
