"""The BPMN side: definitions (load, validate, content-hash), the runtime of one instance on SpiffWorkflow,
the restricted script engine, the stored state format, replay of recorded commands, and form validation.
"""
