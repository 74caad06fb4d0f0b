"""Message ids the pages build at run time, named here so that ``pybabel extract`` finds them.

A template that translates a value (``_('state.' ~ value)``) names no id that an extractor could read, and
``pybabel update`` would drop an id that no code names; so each such family is listed here, by the prefix the
code puts before the value. This module is data for the extraction and for the catalog tests (which check that
every prefix built at run time has its family here); nothing imports it at run time. When a process sets a new
state, or a setting, role or unit is added, add its id here and to both catalogs.
"""

from __future__ import annotations

from webui.i18n import N_

RUNTIME_IDS: dict[str, tuple[str, ...]] = {
    # an event's state (macros/ui.html, events.html): the outcomes the processes' scripts set
    "state.": (
        N_("state.closed"),
        N_("state.legacy"),
        N_("state.not_found"),
        N_("state.on_hold"),
        N_("state.open"),
        N_("state.rejected"),
        N_("state.reported"),
        N_("state.voided"),
    ),
    # a role key (event.html's history)
    "role.": (
        N_("role.admin"),
        N_("role.auditor"),
        N_("role.designer"),
        N_("role.dispatcher"),
        N_("role.evaluator"),
        N_("role.grid_worker"),
        N_("role.handler"),
        N_("role.intake"),
        N_("role.shift_leader"),
        N_("role.supervisor"),
        N_("role.verifier"),
    ),
    # a handling level (event.html, dashboard.html)
    "level.": (
        N_("level.community"),
        N_("level.district"),
        N_("level.grid"),
        N_("level.town"),
    ),
    # a history record's action (event.html, audit.html)
    "action.": (
        N_("action.assigned"),
        N_("action.claim"),
        N_("action.comment"),
        N_("action.complete"),
        N_("action.delegated"),
        N_("action.follow_up"),
        N_("action.light"),
        N_("action.migrate"),
        N_("action.report"),
        N_("action.start"),
        N_("action.sheet_cleared"),
        N_("action.sheet_escalated"),
        N_("action.sheet_carried"),
        N_("action.sheet_issued"),
        N_("action.sheet_replied"),
        N_("action.timer"),
        N_("action.unclaim"),
    ),
    # a report's channel (macros/event.html)
    "channel.": (
        N_("channel.app"),
        N_("channel.grid"),
        N_("channel.hotline"),
        N_("channel.start"),
        N_("channel.web"),
        N_("channel.wechat"),
    ),
    # a follow-up answer (event.html)
    "satisfaction.": (
        N_("satisfaction.basically_satisfied"),
        N_("satisfaction.dissatisfied"),
        N_("satisfaction.satisfied"),
    ),
    # a time light's colour (macros/ui.html, inbox.html)
    "light.": (
        N_("light.blue"),
        N_("light.green"),
        N_("light.hold"),
        N_("light.orange"),
        N_("light.red"),
        N_("light.yellow"),
    ),
    # a time-limit unit (admin_calendar.html)
    "unit.": (
        N_("unit.natural_days"),
        N_("unit.natural_hours"),
        N_("unit.work_days"),
        N_("unit.work_hours"),
    ),
    # an ISO weekday (admin_calendar.html)
    "weekday.": (
        N_("weekday.1"),
        N_("weekday.2"),
        N_("weekday.3"),
        N_("weekday.4"),
        N_("weekday.5"),
        N_("weekday.6"),
        N_("weekday.7"),
    ),
    # a setting's name (admin_settings.html, admin.py)
    "setting.": (
        N_("setting.process_starters"),
        N_("setting.report_processes"),
        N_("setting.assign_roles"),
        N_("setting.report_roles"),
        N_("setting.reporter_contact_roles"),
        N_("setting.report_rewards"),
        N_("setting.notice_channels"),
        N_("setting.notice_max_attempts"),
        N_("setting.retention_years"),
        N_("setting.rework_rate_base"),
        N_("setting.satisfied_answers"),
        N_("setting.score_weights"),
        N_("setting.sheet_deductions"),
        N_("setting.voided_reports_valid"),
        N_("setting.shift_leader_weights"),
        N_("setting.dispatcher_weights"),
        N_("setting.step_limits"),
        N_("setting.supervision_escalation"),
        N_("setting.sheet_reply_limits"),
        N_("setting.time_lights"),
        N_("setting.timezone"),
        N_("setting.working_hours"),
    ),
    # a setting's hint (admin_settings.html)
    "setting_hint.": (
        N_("setting_hint.process_starters"),
        N_("setting_hint.report_processes"),
        N_("setting_hint.assign_roles"),
        N_("setting_hint.report_roles"),
        N_("setting_hint.reporter_contact_roles"),
        N_("setting_hint.report_rewards"),
        N_("setting_hint.notice_channels"),
        N_("setting_hint.notice_max_attempts"),
        N_("setting_hint.retention_years"),
        N_("setting_hint.rework_rate_base"),
        N_("setting_hint.satisfied_answers"),
        N_("setting_hint.score_weights"),
        N_("setting_hint.sheet_deductions"),
        N_("setting_hint.voided_reports_valid"),
        N_("setting_hint.shift_leader_weights"),
        N_("setting_hint.dispatcher_weights"),
        N_("setting_hint.step_limits"),
        N_("setting_hint.supervision_escalation"),
        N_("setting_hint.sheet_reply_limits"),
        N_("setting_hint.time_lights"),
        N_("setting_hint.timezone"),
        N_("setting_hint.working_hours"),
    ),
    # a setting's description above its form (admin_settings.html)
    "setting_help.": (
        N_("setting_help.process_starters"),
        N_("setting_help.report_processes"),
        N_("setting_help.assign_roles"),
        N_("setting_help.notice_channels"),
        N_("setting_help.notice_max_attempts"),
        N_("setting_help.report_rewards"),
        N_("setting_help.report_roles"),
        N_("setting_help.reporter_contact_roles"),
        N_("setting_help.retention_years"),
        N_("setting_help.rework_rate_base"),
        N_("setting_help.satisfied_answers"),
        N_("setting_help.score_weights"),
        N_("setting_help.sheet_deductions"),
        N_("setting_help.voided_reports_valid"),
        N_("setting_help.shift_leader_weights"),
        N_("setting_help.dispatcher_weights"),
        N_("setting_help.step_limits"),
        N_("setting_help.supervision_escalation"),
        N_("setting_help.sheet_reply_limits"),
        N_("setting_help.time_lights"),
        N_("setting_help.timezone"),
        N_("setting_help.working_hours"),
    ),
    # a setting's field, or a part of one (admin.py: the settings' forms)
    "setting_field.": (
        N_("setting_field.assign_roles"),
        N_("setting_field.notice_channels"),
        N_("setting_field.notice_max_attempts"),
        N_("setting_field.closure_rate"),
        N_("setting_field.major"),
        N_("setting_field.on_time_rate"),
        N_("setting_field.report_rewards"),
        N_("setting_field.report_roles"),
        N_("setting_field.reporter_contact_roles"),
        N_("setting_field.retention_years"),
        N_("setting_field.rework_rate"),
        N_("setting_field.rework_rate_base"),
        N_("setting_field.satisfaction_rate"),
        N_("setting_field.satisfied_answers"),
        N_("setting_field.score_weights"),
        N_("setting_field.sheet_deductions"),
        N_("setting_field.voided_reports_valid"),
        N_("setting_field.shift_leader_weights"),
        N_("setting_field.dispatcher_weights"),
        N_("setting_field.step_limits"),
        N_("setting_field.supervision_escalation"),
        N_("setting_field.sheet_reply_limits"),
        N_("setting_field.time_lights"),
        N_("setting_field.timezone"),
        N_("setting_field.valid"),
        N_("setting_field.working_hours"),
    ),
    # a setting's choice of words (admin.py)
    # a notice channel's name (admin.py's choices of the notice_channels setting)
    "setting_choice.notice_channels.": (N_("setting_choice.notice_channels.webhook"),),
    "setting_choice.": (
        N_("setting_choice.rework_rate_base.due"),
        N_("setting_choice.rework_rate_base.opened"),
    ),
    # the first column of a table of limits (macros/settings.html)
    "setting_col.row.": (
        N_("setting_col.row.step_limits"),
        N_("setting_col.row.supervision_escalation"),
        N_("setting_col.row.sheet_reply_limits"),
    ),
    # a time light's colour by name (macros/settings.html)
    "colour.": (
        N_("colour.blue"),
        N_("colour.green"),
        N_("colour.orange"),
        N_("colour.red"),
        N_("colour.yellow"),
    ),
    # a notice's kind: its title and its text (webui/notices.py)
    "notice.kind.": (
        N_("notice.kind.assigned"),
        N_("notice.kind.delegated"),
        N_("notice.kind.leader_instruction"),
        N_("notice.kind.light"),
        N_("notice.kind.request_approved"),
        N_("notice.kind.request_refused"),
        N_("notice.kind.sheet_cleared"),
        N_("notice.kind.sheet_escalated"),
        N_("notice.kind.sheet_issued"),
        N_("notice.kind.sheet_replied"),
        N_("notice.kind.task_offered"),
        N_("notice.kind.task_returned"),
    ),
    "notice.text.": (
        N_("notice.text.assigned"),
        N_("notice.text.delegated"),
        N_("notice.text.leader_instruction"),
        N_("notice.text.light"),
        N_("notice.text.request_approved"),
        N_("notice.text.request_refused"),
        N_("notice.text.sheet_cleared"),
        N_("notice.text.sheet_escalated"),
        N_("notice.text.sheet_issued"),
        N_("notice.text.sheet_replied"),
        N_("notice.text.task_offered"),
        N_("notice.text.task_returned"),
    ),
    # a calendar day's kind (admin_calendar.html)
    "admin.kind.": (
        N_("admin.kind.holiday"),
        N_("admin.kind.workday"),
    ),
    # what was done to a calendar day (admin.py)
    "admin.day_saved.": (
        N_("admin.day_saved.holiday"),
        N_("admin.day_saved.remove"),
        N_("admin.day_saved.workday"),
    ),
    # a supervision card (supervision.html, macros/ui.html)
    "sheet.card.": (
        N_("sheet.card.notice"),
        N_("sheet.card.red"),
        N_("sheet.card.yellow"),
    ),
    # a supervision sheet's kind (supervision.html, event.html)
    "sheet.kind.": (
        N_("sheet.kind.auto"),
        N_("sheet.kind.leader"),
    ),
    # a supervision sheet's status (event.html)
    "sheet.status.": (
        N_("sheet.status.cleared"),
        N_("sheet.status.open"),
    ),
    # the supervision board's tabs (supervision.html)
    "supervision.tab.": (
        N_("supervision.tab.cleared"),
        N_("supervision.tab.open"),
    ),
    # an empty supervision board (supervision.html)
    "supervision.empty.": (
        N_("supervision.empty.cleared"),
        N_("supervision.empty.open"),
    ),
    # the inbox's views (inbox.html)
    "inbox.view.": (
        N_("inbox.view.claimable"),
        N_("inbox.view.done"),
        N_("inbox.view.follow_up"),
        N_("inbox.view.mine"),
    ),
    # an empty inbox view (inbox.html)
    "inbox.empty.": (
        N_("inbox.empty.claimable"),
        N_("inbox.empty.done"),
        N_("inbox.empty.follow_up"),
        N_("inbox.empty.mine"),
    ),
    # the inbox's sort orders (inbox.html)
    "filter.sort.": (
        N_("filter.sort.-due"),
        N_("filter.sort.due"),
    ),
    # the evaluation's groupings (dashboard.html)
    "dashboard.by.": (
        N_("dashboard.by.category"),
        N_("dashboard.by.community"),
        N_("dashboard.by.department"),
        N_("dashboard.by.district"),
        N_("dashboard.by.grid"),
        N_("dashboard.by.level"),
        N_("dashboard.by.town"),
        N_("dashboard.by.worker"),
        N_("dashboard.by.position"),
    ),
    # a task's status, where it is not open (task.html)
    "task.status.": (N_("task.status.cancelled"),),
    # a data difference's kind (audit.html)
    "audit.kind.": (
        N_("audit.kind.added"),
        N_("audit.kind.changed"),
        N_("audit.kind.removed"),
    ),
    # the language switch (base.html)
    "language.switch_to_": (
        N_("language.switch_to_en"),
        N_("language.switch_to_zh"),
    ),
    # the position evaluation's tables (dashboard.html: "dashboard.position." ~ position)
    "dashboard.position.": (
        N_("dashboard.position.dispatcher"),
        N_("dashboard.position.intake"),
        N_("dashboard.position.shift_leader"),
        N_("dashboard.position.supervisor"),
    ),
    # the evaluation form's date fields (dashboard.html: "dashboard." ~ name)
    # and the second table's columns (dashboard.html: "dashboard." ~ name of step_columns)
    "dashboard.": (
        N_("dashboard.from"),
        N_("dashboard.to"),
        N_("dashboard.auto_sheets"),
        N_("dashboard.leader_sheets"),
        N_("dashboard.yellow_cards"),
        N_("dashboard.red_cards"),
        N_("dashboard.accepts"),
        N_("dashboard.accepts_on_time"),
        N_("dashboard.on_time_intake_rate"),
        N_("dashboard.opened"),
        N_("dashboard.voided"),
        N_("dashboard.on_time_opening_rate"),
        N_("dashboard.accurate_opening_rate"),
        N_("dashboard.closes"),
        N_("dashboard.closes_on_time"),
        N_("dashboard.on_time_closing_rate"),
        N_("dashboard.dispatches_on_time"),
        N_("dashboard.misdispatches"),
        N_("dashboard.dispatch_count_score"),
        N_("dashboard.composite"),
        N_("dashboard.accepted_reports"),
        N_("dashboard.accurate_dispatch_rate"),
        N_("dashboard.check_on_time_rate"),
        N_("dashboard.checks"),
        N_("dashboard.dispatch_on_time_rate"),
        N_("dashboard.dispatches"),
        N_("dashboard.extension_requests"),
        N_("dashboard.hold_requests"),
        N_("dashboard.redispatches"),
        N_("dashboard.reported"),
        N_("dashboard.self_handled"),
        N_("dashboard.tasks_due"),
        N_("dashboard.tasks_late"),
        N_("dashboard.tasks_overdue_done"),
        N_("dashboard.tasks_overdue_open"),
        N_("dashboard.valid_report_rate"),
        N_("dashboard.verification_on_time_rate"),
        N_("dashboard.verifications"),
    ),
    # the designer's properties panel (webui/designer.py PANEL_TEXTS, read by webui/modeler/gridloop-properties.js)
    "designer.panel.": (
        N_("designer.panel.group"),
        N_("designer.panel.hint.calledDecisionId"),
        N_("designer.panel.prop.calledDecisionId"),
        N_("designer.panel.hint.decisionVariable"),
        N_("designer.panel.hint.departmentVariable"),
        N_("designer.panel.hint.dueAtVariable"),
        N_("designer.panel.hint.formJsonSchemaFilename"),
        N_("designer.panel.hint.lane_role"),
        N_("designer.panel.hint.name.en"),
        N_("designer.panel.hint.scopeLevel"),
        N_("designer.panel.hint.scopeLevelVariable"),
        N_("designer.panel.prop.decisionVariable"),
        N_("designer.panel.prop.departmentVariable"),
        N_("designer.panel.prop.dueAtVariable"),
        N_("designer.panel.prop.formJsonSchemaFilename"),
        N_("designer.panel.prop.lane_role"),
        N_("designer.panel.prop.name.en"),
        N_("designer.panel.prop.scopeLevel"),
        N_("designer.panel.prop.scopeLevelVariable"),
    ),
    # a process version's life-cycle status and what was done to it (processes.html, processes.py)
    "process.status.": (
        N_("process.status.active"),
        N_("process.status.draft"),
        N_("process.status.retired"),
    ),
    "process.done.": (
        N_("process.done.activate"),
        N_("process.done.retire"),
        N_("process.done.rollback"),
    ),
    # the evaluation table's figures a count drills into (dashboard_cases.html: engine.evaluation.metrics.FIGURES)
    "dashboard.figure.": (
        N_("dashboard.figure.closed"),
        N_("dashboard.figure.closed_on_time"),
        N_("dashboard.figure.due"),
        N_("dashboard.figure.followed_up"),
        N_("dashboard.figure.opened"),
        N_("dashboard.figure.reworked_due"),
        N_("dashboard.figure.reworked_opened"),
        N_("dashboard.figure.satisfied"),
        N_("dashboard.figure.tasks_due"),
        N_("dashboard.figure.tasks_late"),
        N_("dashboard.figure.voided"),
        N_("dashboard.figure.tasks_overdue_done"),
        N_("dashboard.figure.tasks_overdue_open"),
        N_("dashboard.figure.reported"),
        N_("dashboard.figure.accepted_reports"),
        N_("dashboard.figure.self_handled"),
        N_("dashboard.figure.dispatches"),
        N_("dashboard.figure.dispatches_on_time"),
        N_("dashboard.figure.redispatches"),
        N_("dashboard.figure.verifications"),
        N_("dashboard.figure.verifications_on_time"),
        N_("dashboard.figure.checks"),
        N_("dashboard.figure.checks_on_time"),
        N_("dashboard.figure.extension_requests"),
        N_("dashboard.figure.hold_requests"),
    ),
    # what a sign-in issued (admin_sessions.html)
    "admin.session_kind.": (N_("admin.session_kind.api"), N_("admin.session_kind.session")),
}
