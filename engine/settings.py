"""Settings a district tunes: working hours, holidays, time-light colours, step limits, supervision escalation,
evaluation, who may report, how long finished cases stay in the live database.

Stored as JSON rows in ``settings`` (absent rows mean the documented default). Each setting is validated
when it is set, so a bad value is refused with a message instead of breaking deadlines later: first against its
JSON Schema (:data:`SCHEMAS`: the shape, with field errors keyed by path such as ``time_lights.1.1``; checked by
:func:`engine.commands.admin.change_setting` with the forms' validator, which sits above this module), then by the
rules a schema cannot say (working hours that parse, a known time zone, rising thresholds, known units). The same
schema draws the setting's form on ``/admin/settings``: ``x-gridloop-widget`` names a widget of its own for a
value a plain field cannot show (``time_ranges``, ``lights``, ``limits`` with the rows ``x-gridloop-rows``
names: the process's ``steps`` or the supervision ``cards``), and ``x-gridloop-options`` a list of live choices
(``roles``, ``answers``) that the page fills in, as a task form's are; ``json`` a value edited as its JSON text
(the start rules).
"""

from __future__ import annotations

import copy
import time
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import FieldError, ValidationFailed
from engine.store.models import CalendarDay, Setting
from engine.time.calendar import BusinessCalendar, CalendarError, WorkingHours, normalize_unit

DEFAULTS: dict[str, Any] = {
    # working periods of a working day, and the zone they are read in
    "working_hours": "08:00-12:00,14:00-18:00",
    "timezone": "Asia/Shanghai",
    # time lights: colour from the used share of a limit; the first colour applies from 0
    "time_lights": [["green", 0.0], ["yellow", 0.8], ["red", 1.0]],
    # limits of single steps (the case limit comes from the routing table): step id -> [limit, unit]
    "step_limits": {
        "check_exists": [4, "work_hours"],
        "accept": [1, "work_hours"],
        "register": [1, "work_hours"],
        "dispatch_check": [1, "work_hours"],
        "dispatch": [1, "work_hours"],
        "reassign": [1, "work_hours"],
        "verify": [4, "work_hours"],
        "close": [4, "work_hours"],
        "close_self": [4, "work_hours"],
        "follow_up": [2, "work_days"],
    },
    # supervision sheets escalate while the case stays overdue: card -> [after, unit]
    "supervision_escalation": {"yellow": [1, "work_days"], "red": [3, "work_days"]},
    # the reply deadline of a sheet that asks for a reply, by its kind: a leader's instruction (领导批示) is
    # answered within this limit of its issue, and shows its own light until it is; unanswered past it, it takes
    # the next card (yellow, then red after one more limit), and each card deducts as sheet_deductions says
    "sheet_reply_limits": {"leader": [1, "work_days"]},
    # evaluation (考核评价): what 返工率 divides by ("opened" = 立案数 or "due" = 应结案数), which follow-up
    # answers count as satisfied, the weights of the composite score, and grid workers' rewards per report
    "rework_rate_base": "opened",
    "satisfied_answers": ["satisfied", "basically_satisfied"],
    "score_weights": {
        "closure_rate": 0.3,
        "on_time_rate": 0.4,
        "satisfaction_rate": 0.2,
        "rework_rate": -0.1,
    },
    "report_rewards": {"valid": 2.0, "major": 10.0},
    # whether a report whose case was voided later (作废) still counts as a valid report (有效上报数): districts
    # differ; the common choice does not count it
    "voided_reports_valid": False,
    # points off a department's score for each supervision sheet issued to it in the period, by the card it reached
    "sheet_deductions": {"notice": 0.5, "yellow": 1.0, "red": 2.0},
    # the score bands (考核等级) a composite score falls into: the lowest score of each band, best first; a score
    # below the last is 不合格 (fail) — the common choice 90 / 80 / 60
    "score_bands": {"excellent": 90.0, "good": 80.0, "pass": 60.0},
    # appeals (申诉) against a sheet's deduction: the process a department starts for it, and how long after the
    # sheet's issue it may (engine.commands.appeals); an upheld appeal lifts the deduction
    "sheet_appeals": {"process": "sheet_appeal", "within": [10, "work_days"]},
    # the weights of the positions' 综合指标值 (engine.evaluation.positions): a shift leader's (值班长) and a
    # dispatcher's (派遣员), the common choices
    "shift_leader_weights": {
        "on_time_opening_rate": 0.25,
        "accurate_opening_rate": 0.40,
        "on_time_closing_rate": 0.35,
    },
    "dispatcher_weights": {
        "dispatch_count_score": 0.20,
        "dispatch_on_time_rate": 0.40,
        "accurate_dispatch_rate": 0.40,
    },
    # similar cases (相似案件, engine.reads.similar): an open case of the same sub-category reported within
    # window_hours of a new report, within distance_m metres of it (in its grid when either has no point) and
    # whose description is at least min_similarity alike (0–1) is proposed to whoever accepts the report
    "similar_cases": {"distance_m": 50, "window_hours": 24, "min_similarity": 0.2},
    # the household ledger (人房台账, engine.commands.ledger): who imports and edits it (in their scope), and
    # who may read a person's identity and phone numbers whole (each viewing logged); everyone else sees them
    # masked
    "ledger_edit_roles": ["grid_worker", "shift_leader", "admin"],
    "ledger_unmask_roles": ["shift_leader", "admin"],
    # the grid workers' visit duties (走访, engine.commands.visits): every dwelling (flag null) or every person
    # with the flag, visited once every so many days — an instance of visit_process started for each on its
    # date, its visit task in the grid's inbox
    "visit_process": "household_visit",
    "visit_duties": [
        {"flag": "elderly_alone", "every_days": 7, "purpose": "care"},
        {"flag": None, "every_days": 90, "purpose": "routine"},
    ],
    # 漏报 (engine.evaluation.positions.missed_reports): a case opened from a public report of a sub-category
    # whose code starts with one of these, in a grid its worker patrolled (an instance of patrol_process) within
    # window_hours before the report, counts as missed by that worker
    "missed_report_rule": {"categories": ["01"], "window_hours": 48, "patrol_process": "patrol"},
    # what 漏报率 divides by: "opened" — 立案数, the cases opened in the period in the grids the worker covers (the
    # common definition) — or "reports": the worker's 上报数 + 漏报数 (as some districts judge 监督员)
    "missed_report_rate_base": "opened",
    # the standard's stages a district keeps apart or merges (CJ/T 315: 受理 then 立案 by the shift leader, and
    # 核查 sent out by the platform once the department reported back; many grid platforms open the case at
    # intake and offer the check straight to the grid's workers): each key is given to every instance started as a process
    # variable of that name, which the diagram's gateways read
    "case_stages": {"separate_registration": False, "platform_dispatches_checks": False},
    # the roles whose members may report events (上报): patrols, intake of public reports, supervisors
    "report_roles": ["grid_worker", "intake", "dispatcher", "shift_leader", "supervisor"],
    # the roles that see a public reporter's name and phone whole (engine.reads.contacts); everybody else reads
    # them masked, except whoever holds a task of the event that talks to the reporter (the follow-up)
    "reporter_contact_roles": ["intake", "shift_leader", "supervisor", "admin"],
    # the roles whose members assign (指派) the open tasks of their scope, or of their department, to the staff
    # the tasks are offered to: those who lead a platform's or a department's work (engine.reads.tasklist)
    "assign_roles": ["shift_leader", "supervisor"],
    # retention: finished cases older than this many years are what `gridloop archive` moves out of the live
    # database into archive files (engine.commands.retention); null keeps every case (the default: archiving
    # deletes from the database, so a district chooses it)
    "retention_years": None,
    # notices (engine.notices): the channels each notice is also sent through where the user has an address
    # (none by default: the in-app notice centre only), and how many attempts a message gets before it fails
    "notice_channels": [],
    "notice_max_attempts": 6,
    # the start rules (a designer's): which process a grid report starts, by its channel and category — the
    # first rule whose channel and category (a code or a code's prefix: "01" is every 01xx) match, a rule
    # without them matching every report (report_process)
    "report_processes": [{"process": "grid_event"}],
    # who may start a process that grid reports do not start (engine.commands.tasks.start): process id ->
    # {"roles": [...], "units": [...]} (units: org unit codes the instance must be within; none: the starter's
    # scope). A process not named here is started by the roles its process_model.json names.
    "process_starters": {},
}

# the settings that map names to numbers
WEIGHTS_BY_NAME = (
    "score_weights",
    "report_rewards",
    "sheet_deductions",
    "shift_leader_weights",
    "dispatcher_weights",
    "score_bands",
)

LIGHT_COLOURS = ("blue", "green", "yellow", "orange", "red")

# a limit: [amount, unit] (the unit in any spelling engine.time.calendar.normalize_unit reads)
_LIMIT: dict[str, Any] = {
    "type": "array",
    "prefixItems": [{"type": "number"}, {"type": "string"}],
    "minItems": 2,
    "maxItems": 2,
}
SCHEMAS: dict[str, dict[str, Any]] = {
    "working_hours": {"type": "string", "maxLength": 200, "x-gridloop-widget": "time_ranges"},
    "timezone": {"type": "string", "minLength": 1, "maxLength": 64},
    "time_lights": {
        "type": "array",
        "items": {
            "type": "array",
            "prefixItems": [{"enum": list(LIGHT_COLOURS)}, {"type": "number", "minimum": 0}],
            "minItems": 2,
            "maxItems": 2,
        },
        "x-gridloop-widget": "lights",
    },
    "step_limits": {
        "type": "object",
        "additionalProperties": _LIMIT,
        "x-gridloop-widget": "limits",
        "x-gridloop-rows": "steps",
    },
    "supervision_escalation": {
        "type": "object",
        "additionalProperties": _LIMIT,
        "x-gridloop-widget": "limits",
        "x-gridloop-rows": "cards",
    },
    "sheet_reply_limits": {
        "type": "object",
        "additionalProperties": _LIMIT,
        "x-gridloop-widget": "limits",
        "x-gridloop-rows": "sheet_kinds",
    },
    "rework_rate_base": {"type": "string", "enum": ["opened", "due"]},
    "voided_reports_valid": {"type": "boolean"},
    "satisfied_answers": {
        "type": "array",
        "items": {"type": "string", "x-gridloop-options": "answers"},
        "uniqueItems": True,
    },
    "score_weights": {
        "type": "object",
        "properties": {name: {"type": "number"} for name in DEFAULTS["score_weights"]},
        "additionalProperties": {"type": "number"},
    },
    "report_rewards": {
        "type": "object",
        "properties": {name: {"type": "number", "minimum": 0} for name in DEFAULTS["report_rewards"]},
        "additionalProperties": {"type": "number", "minimum": 0},
    },
    "sheet_deductions": {
        "type": "object",
        "properties": {name: {"type": "number", "minimum": 0} for name in DEFAULTS["sheet_deductions"]},
        "additionalProperties": False,
    },
    **{
        key: {
            "type": "object",
            "properties": {name: {"type": "number", "minimum": 0} for name in DEFAULTS[key]},
            "additionalProperties": False,
        }
        for key in ("shift_leader_weights", "dispatcher_weights", "score_bands")
    },
    "similar_cases": {
        "type": "object",
        "properties": {
            "distance_m": {"type": "number", "minimum": 0, "maximum": 100_000},
            "window_hours": {"type": "number", "minimum": 0, "maximum": 8760},
            "min_similarity": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["distance_m", "window_hours", "min_similarity"],
        "additionalProperties": False,
    },
    "visit_process": {"type": "string", "minLength": 1, "maxLength": 64},
    "case_stages": {
        "type": "object",
        "properties": {
            "separate_registration": {"type": "boolean"},
            "platform_dispatches_checks": {"type": "boolean"},
        },
        "required": ["separate_registration", "platform_dispatches_checks"],
        "additionalProperties": False,
    },
    "sheet_appeals": {
        "type": "object",
        "properties": {"process": {"type": "string", "minLength": 1, "maxLength": 64}, "within": _LIMIT},
        "required": ["process", "within"],
        "additionalProperties": False,
    },
    "missed_report_rate_base": {"enum": ["opened", "reports"]},
    "missed_report_rule": {
        "type": "object",
        "properties": {
            "categories": {
                "type": "array",
                "items": {"type": "string", "pattern": "^[0-9]{1,8}$"},
                "uniqueItems": True,
            },
            "window_hours": {"type": "number", "minimum": 0, "maximum": 8760},
            "patrol_process": {"type": "string", "minLength": 1, "maxLength": 64},
        },
        "required": ["categories", "window_hours", "patrol_process"],
        "additionalProperties": False,
    },
    "visit_duties": {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "flag": {"type": ["string", "null"], "maxLength": 32},
                "every_days": {"type": "integer", "minimum": 1, "maximum": 3660},
                "purpose": {"type": "string", "enum": ["routine", "care", "dispute"]},
            },
            "required": ["flag", "every_days", "purpose"],
            "additionalProperties": False,
        },
        "maxItems": 20,
    },
    "report_roles": {
        "type": "array",
        "items": {"type": "string", "x-gridloop-options": "roles"},
        "minItems": 1,
        "uniqueItems": True,
    },
    **{
        key: {
            "type": "array",
            "items": {"type": "string", "x-gridloop-options": "roles"},
            "uniqueItems": True,
        }
        for key in ("ledger_edit_roles", "ledger_unmask_roles")
    },
    "retention_years": {
        "type": ["integer", "null"],
        "minimum": 1,
        "x-gridloop-message": "setting.retention_years",
    },
}
SCHEMAS["assign_roles"] = SCHEMAS["reporter_contact_roles"] = SCHEMAS["report_roles"]
NOTICE_CHANNELS = ("webhook",)  # the channels an adapter ships for (engine.notices.outbox)
SCHEMAS["notice_channels"] = {
    "type": "array",
    "items": {"type": "string", "x-gridloop-options": "channels"},
    "uniqueItems": True,
}
SCHEMAS["notice_max_attempts"] = {"type": "integer", "minimum": 1, "maximum": 100}
_PROCESS_ID = {"type": "string", "minLength": 1, "maxLength": 64}
SCHEMAS["report_processes"] = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "channel": {"type": "string", "minLength": 1, "maxLength": 16},
            "category": {"type": "string", "minLength": 1, "maxLength": 16},
            "process": _PROCESS_ID,
        },
        "required": ["process"],
        "additionalProperties": False,
    },
    "minItems": 1,
    "x-gridloop-widget": "json",  # rules in order: edited as their JSON text
}
SCHEMAS["process_starters"] = {
    "type": "object",
    "additionalProperties": {
        "type": "object",
        "properties": {
            "roles": {
                "type": "array",
                "items": {"type": "string", "x-gridloop-options": "roles"},
                "uniqueItems": True,
            },
            "units": {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": 32},
                "uniqueItems": True,
            },
        },
        "required": ["roles"],
        "additionalProperties": False,
    },
    "x-gridloop-widget": "json",
}
# settings a process designer changes as well as an administrator: the start rules
DESIGNER_SETTINGS = ("report_processes", "process_starters")
CALENDAR_NOTE_LENGTH = 100  # the holiday table's note column


def _check_limit(key: str, value: Any) -> None:
    if not (
        isinstance(value, list) and len(value) == 2 and isinstance(value[0], int | float) and value[0] > 0
    ):
        raise ValidationFailed(
            "{key}: a limit is [positive number, unit]", {key: [FieldError("setting.limit")]}, key=key
        )
    normalize_unit(value[1])


def validate_setting(key: str, value: Any) -> None:
    """Refuse an unknown key or a malformed value, naming what is wrong."""
    try:
        _validate(key, value)
    except CalendarError as exc:
        raise ValidationFailed(
            "{key}: {problem}", {key: [FieldError.of(exc)]}, key=key, problem=str(exc)
        ) from exc
    except (ValueError, TypeError, AttributeError) as exc:  # a value of the wrong shape altogether
        raise ValidationFailed(
            "{key}: {problem}",
            {key: [FieldError("setting.malformed", {"problem": str(exc)})]},
            key=key,
            problem=str(exc),
        ) from exc


def _validate(key: str, value: Any) -> None:
    if key not in DEFAULTS:
        raise ValidationFailed(
            "unknown setting {key!r}; known: {known}",
            {key: [FieldError("setting.unknown")]},
            key=key,
            known=", ".join(DEFAULTS),
        )
    if key == "working_hours":
        WorkingHours.parse(value)
    elif key == "timezone":
        BusinessCalendar(timezone=value)
    elif key == "time_lights":
        ok = isinstance(value, list) and 3 <= len(value) <= 4
        ok = ok and all(isinstance(c, list) and len(c) == 2 and c[0] in LIGHT_COLOURS for c in value)
        ok = ok and value[0][1] == 0 and all(value[i][1] < value[i + 1][1] for i in range(len(value) - 1))
        if not ok:
            raise ValidationFailed(
                "time_lights: 3 or 4 [colour, threshold] pairs, the first at 0, thresholds rising",
                {key: [FieldError("setting.time_lights")]},
            )
    elif key == "step_limits":
        for step, limit in dict(value).items():
            _check_limit(f"step_limits.{step}", limit)
    elif key in ("supervision_escalation", "sheet_reply_limits"):
        for row, limit in dict(value).items():
            _check_limit(f"{key}.{row}", limit)
    elif key == "rework_rate_base" and value not in ("opened", "due"):
        raise ValidationFailed(
            "rework_rate_base is 'opened' or 'due'",
            {key: [FieldError("not_a_choice_of", {"choices": "opened, due"})]},
        )
    elif key == "satisfied_answers" and not (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    ):
        raise ValidationFailed(
            "satisfied_answers is a list of answers", {key: [FieldError("setting.satisfied_answers")]}
        )
    elif key in ("report_roles", "assign_roles", "reporter_contact_roles") and not (
        isinstance(value, list) and value and all(isinstance(role, str) for role in value)
    ):
        # which keys are roles is the organisation's to say (see engine.commands.admin.change_setting)
        raise ValidationFailed(
            "{key} is a list of role keys", {key: [FieldError("setting.role_keys")]}, key=key
        )
    elif key == "retention_years" and not (
        value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0)
    ):
        raise ValidationFailed(
            "retention_years is a whole number of years above 0, or null to keep every case",
            {key: [FieldError("setting.retention_years")]},
        )
    elif key == "notice_channels" and not (
        isinstance(value, list) and all(isinstance(v, str) and v in NOTICE_CHANNELS for v in value)
    ):
        raise ValidationFailed(
            "notice_channels is a list of channels among: {choices}",
            {key: [FieldError("not_a_choice_of", {"choices": ", ".join(NOTICE_CHANNELS)})]},
            choices=", ".join(NOTICE_CHANNELS),
        )
    elif key == "notice_max_attempts" and not (
        isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 100
    ):
        raise ValidationFailed(
            "notice_max_attempts is a whole number from 1 to 100",
            {key: [FieldError("setting.notice_max_attempts")]},
        )
    elif key in WEIGHTS_BY_NAME and not (
        isinstance(value, dict) and all(isinstance(v, int | float) for v in value.values())
    ):
        raise ValidationFailed(
            "{key} maps names to numbers", {key: [FieldError("setting.numbers_by_name")]}, key=key
        )


def report_process(rules: list[dict[str, str]], channel: Any, category: Any) -> str:
    """The process the start rules ``rules`` (the ``report_processes`` setting) start for a report on
    ``channel`` of ``category``: the first rule whose ``channel`` equals it and whose ``category`` is the code
    or a prefix of it, a rule leaving either out matching any; the last rule's process when none matches."""
    for rule in rules:
        if "channel" in rule and rule["channel"] != channel:
            continue
        if "category" in rule and not (isinstance(category, str) and category.startswith(rule["category"])):
            continue
        return rule["process"]
    return rules[-1]["process"]


def default_report_process(rules: list[dict[str, str]]) -> str:
    """The process reports start when they say nothing the rules tell apart: the first rule without a
    condition, else the first rule's (the pages offer its categories and states)."""
    return next((r["process"] for r in rules if len(r) == 1), rules[0]["process"])


def starters(
    setting: dict[str, Any], process_id: str, model_roles: tuple[str, ...]
) -> tuple[list[str], list[str]]:
    """Who may start ``process_id`` by the ``process_starters`` setting ``setting``: its roles and the units
    the instance must lie within (none: anywhere in the starter's scope); the model file's roles when the
    setting does not name the process."""
    rule = setting.get(process_id) or {}
    return list(rule.get("roles", model_roles)), list(rule.get("units") or [])


def get(session: Session, key: str) -> Any:
    """The setting's value, or its default."""
    row = session.get(Setting, key)
    return copy.deepcopy(row.value if row is not None else DEFAULTS[key])


def put(session: Session, key: str, value: Any, now: datetime) -> Any:
    """Set a setting after validating it; return the previous value."""
    validate_setting(key, value)
    previous = get(session, key)
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now
    session.flush()
    return previous


def calendar_overrides(session: Session) -> dict[Any, bool]:
    """The admin-entered holidays (False) and make-up working days (True)."""
    return {row.day: row.is_workday for row in session.scalars(select(CalendarDay))}


def load_calendar(session: Session) -> BusinessCalendar:
    """The business calendar as the settings and the holiday table define it now."""
    return BusinessCalendar(
        WorkingHours.parse(get(session, "working_hours")),
        timezone=get(session, "timezone"),
        overrides=calendar_overrides(session),
    )


def set_day(
    session: Session, day: date, is_workday: bool | None, note: str | None, actor: str, now: datetime
) -> bool | None:
    """Enter a holiday (False) or make-up working day (True) for ``day``, or remove the entry (None).

    Returns what the entry was before (None when there was none).
    """
    if note is not None and len(note) > CALENDAR_NOTE_LENGTH:
        raise ValidationFailed(
            "a calendar note has at most {limit} characters",
            {"note": [FieldError("max_length", {"limit": CALENDAR_NOTE_LENGTH})]},
            limit=CALENDAR_NOTE_LENGTH,
        )
    row = session.get(CalendarDay, day)
    previous = row.is_workday if row is not None else None
    if is_workday is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(CalendarDay(day=day, is_workday=is_workday, note=note, updated_by=actor, updated_at=now))
    else:
        row.is_workday, row.note, row.updated_by, row.updated_at = is_workday, note, actor, now
    session.flush()
    return previous


class SettingsCache:
    """The business calendar and the settings as a running process keeps them: re-read after ``ttl`` seconds of
    wall time, and at once after a change made through this process (:meth:`invalidate`). For what a page shows
    and the hot path's due times; a check that guards a write reads the setting in the command's own session."""

    def __init__(self, db: Any, ttl: float = 30.0) -> None:
        self._db = db
        self.ttl = ttl
        self._calendar: tuple[float, BusinessCalendar] | None = None
        self._values: dict[str, tuple[float, Any]] = {}

    def _fresh(self, cached: tuple[float, Any] | None) -> bool:
        return cached is not None and time.monotonic() - cached[0] <= self.ttl

    def calendar(self, session: Session | None = None) -> BusinessCalendar:
        """The business calendar from the settings and the holiday table (read through ``session`` when given)."""
        if not self._fresh(self._calendar):
            if session is None:
                with self._db.reading() as own:
                    self._calendar = (time.monotonic(), load_calendar(own))
            else:
                self._calendar = (time.monotonic(), load_calendar(session))
        assert self._calendar is not None
        return self._calendar[1]

    def value(self, key: str, session: Session | None = None) -> Any:
        """A setting's value (read through ``session`` when given); treat it as read-only."""
        cached = self._values.get(key)
        if cached is None or not self._fresh(cached):
            if session is None:
                with self._db.reading() as own:
                    cached = (time.monotonic(), get(own, key))
            else:
                cached = (time.monotonic(), get(session, key))
            self._values[key] = cached
        return cached[1]

    def step_due(self, bpmn_id: str, now: datetime, session: Session | None = None) -> datetime | None:
        """The due time of a step that has a limit of its own in the ``step_limits`` setting."""
        limit = self.value("step_limits", session).get(bpmn_id)
        if limit is None:
            return None
        return self.calendar(session).due_at(now, float(limit[0]), limit[1])

    def invalidate(self) -> None:
        """Forget the cached calendar and settings (after a change to either)."""
        self._calendar = None
        self._values = {}
