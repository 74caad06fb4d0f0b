"""gridloop's engine: grid events run as BPMN process instances on SpiffWorkflow.

Plain Python, no HTTP: the web UI and the CLI call the services in ``engine.app``.
"""
