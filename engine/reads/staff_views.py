"""Read models for the staff screens: what a page shows beyond the services' raw rows.

Each public function serves one screen (inbox, task, event, events list, report form, processes) with one read
through the engine: it calls the scoped services or queries and adds what people read — names of categories,
grids, departments and staff, time lights, the form schema of every step taken, the attachments, and which
diagram elements are done or waiting. Scope stays the services' own: an event the actor may not see raises
:class:`~engine.errors.NotFound` exactly as :meth:`Gridloop.event_detail` does. No HTTP, no templates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import settings
from engine.app import Gridloop
from engine.audit import history, verification
from engine.bpmn.definitions import Category, ProcessBundle
from engine.commands import supervising
from engine.errors import NotFound
from engine.org.tree import OrgDirectory
from engine.reads import queries
from engine.store import attachments
from engine.store.models import Event, ProcessVersion, SupervisionSheet, User
from engine.supervision import rules
from engine.time import timelights

# Filtering by colour or re-sorting needs the whole matching inbox; no one works a bigger one.
MAX_SCAN = 5000
FALLBACK_UNIT = "work_hours"


@dataclass
class Listing:
    """One page of rows, the number of rows matching, and for the inbox the counts of its views."""

    rows: list[dict[str, Any]]
    total: int
    page: int
    per_page: int
    counts: dict[str, int] = field(default_factory=dict)
    colours: tuple[str, ...] = ()

    @property
    def pages(self) -> int:
        """How many pages the matching rows fill (at least one)."""
        return max(1, math.ceil(self.total / self.per_page))


def display_names(session: Session, usernames: set[str | None]) -> dict[str, str]:
    """Staff display names by username, for the given usernames (unknown ones are left out)."""
    wanted = sorted(u for u in usernames if u)
    if not wanted:
        return {}
    return dict(
        session.execute(select(User.username, User.display_name).where(User.username.in_(wanted))).all()
    )


def inbox_counts(gl: Gridloop, username: str) -> dict[str, int]:
    """How many tasks wait in the user's ``mine`` and ``claimable`` inbox views (for the navigation)."""
    with gl.db.reading() as session:
        return queries.inbox_counts(session, gl.actor(session, username))


def _unit_name(directory: OrgDirectory, code: str | None) -> str | None:
    unit = directory.units.get(code) if code else None
    return unit.name if unit is not None else code


def _department_name(directory: OrgDirectory, code: str | None) -> str | None:
    department = directory.departments.get(code) if code else None
    return department.name if department is not None else code


def _time_unit(categories: dict[str, Category], code: str) -> str:
    category = categories.get(code)
    return category.time_unit if category is not None else FALLBACK_UNIT


def _step_units(session: Session) -> dict[str, str]:
    """The unit of each step that has a limit of its own (``step_limits``); other steps run on the case's."""
    return {step: limit[1] for step, limit in settings.get(session, "step_limits").items()}


def _task_unit(task: dict[str, Any], step_units: dict[str, str], categories: dict[str, Category]) -> str:
    return step_units.get(task["step"]) or _time_unit(categories, task["category"])


def _describe_category(row: dict[str, Any], categories: dict[str, Category]) -> None:
    category = categories.get(row["category"])
    row["category_name"] = category.name if category else row["category"]
    row["category_class"] = category.class_name if category else ""


def _event_deadlines(session: Session, event_ids: set[int]) -> dict[int, dict[str, Any]]:
    if not event_ids:
        return {}
    rows = session.execute(
        select(Event.id, Event.opened_at, Event.due_at).where(Event.id.in_(sorted(event_ids)))
    ).all()
    return {r.id: {"opened_at": r.opened_at, "due_at": r.due_at} for r in rows}


def _by_due(rows: list[dict[str, Any]], descending: bool) -> list[dict[str, Any]]:
    """Rows by due time (soonest first, or latest first), rows without a due time last either way."""
    timed = sorted(
        (r for r in rows if r["due_at"] is not None), key=lambda r: r["due_at"], reverse=descending
    )
    return timed + [r for r in rows if r["due_at"] is None]


def inbox_page(
    gl: Gridloop,
    username: str,
    view: str = "mine",
    *,
    category: str | None = None,
    grid: str | None = None,
    colour: str | None = None,
    sort: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> Listing:
    """One page of the user's inbox with names and time lights, plus the counts of the views.

    ``colour`` keeps only tasks of that light; ``sort`` is ``"due"`` (soonest first) or ``"-due"`` (latest
    first); without it the services' order holds (soonest due first, the done view newest first).
    """
    if colour or sort:
        rows, _ = gl.inbox(username, view, category=category, grid=grid, page=1, per_page=MAX_SCAN)
        total = len(rows)
    else:
        rows, total = gl.inbox(username, view, category=category, grid=grid, page=page, per_page=per_page)
    categories = {c.code: c for c in gl.bundle().categories}
    now = gl.now()
    with gl.db.reading() as session:
        scheme = timelights.load_scheme(session)
        step_units = _step_units(session)
        directory = gl.directory(session)
        deadlines = _event_deadlines(session, {r["event_id"] for r in rows})
        counts = queries.inbox_counts(session, gl.actor(session, username))
        names = display_names(session, {r["assignee"] for r in rows} | {r["completed_by"] for r in rows})
    for row in rows:
        _describe_category(row, categories)
        row["grid_name"] = _unit_name(directory, row["grid"])
        row["assignee_name"] = names.get(row["assignee"], row["assignee"])
        row["light"] = timelights.task_light(
            gl.calendar,
            scheme,
            row,
            deadlines.get(row["event_id"], {}),
            _task_unit(row, step_units, categories),
            now,
        )
    if colour:
        rows = [r for r in rows if r["light"] is not None and r["light"].colour == colour]
    if sort in ("due", "-due"):
        rows = _by_due(rows, descending=sort == "-due")
    if colour or sort:
        total = len(rows)
        rows = rows[(page - 1) * per_page : page * per_page]
    return Listing(rows, total, page, per_page, counts, scheme.colours)


def events_page(gl: Gridloop, username: str, *, page: int = 1, per_page: int = 20, **filters: Any) -> Listing:
    """One page of the events in the user's scope matching ``filters`` (see :func:`engine.reads.queries.list_events`)."""
    rows, total = gl.list_events(username, page=page, per_page=per_page, **filters)
    categories = {c.code: c for c in gl.bundle().categories}
    now = gl.now()
    with gl.db.reading() as session:
        scheme = timelights.load_scheme(session)
        directory = gl.directory(session)
    for row in rows:
        _describe_category(row, categories)
        row["grid_name"] = _unit_name(directory, row["grid"])
        row["light"] = timelights.event_light(
            gl.calendar, scheme, row, _time_unit(categories, row["category"]), now
        )
    return Listing(rows, total, page, per_page, colours=scheme.colours)


def visible_units(gl: Gridloop, username: str) -> list[dict[str, str]]:
    """The org units inside the user's scopes (towns, communities, grids), for filters, by code."""
    with gl.db.reading() as session:
        actor = gl.actor(session, username)
        directory = gl.directory(session)
    prefixes = {a.scope_code for a in actor.assignments}
    return [
        {"code": u.code, "name": u.name, "level": u.level}
        for u in sorted(directory.units.values(), key=lambda u: u.code)
        if any(u.code.startswith(p) for p in prefixes)
    ]


def category_groups(bundle: ProcessBundle) -> list[tuple[str, list[Category]]]:
    """The routing table's sub-categories grouped by their class, in table order."""
    groups: dict[str, list[Category]] = {}
    for category in bundle.categories:
        groups.setdefault(category.class_name, []).append(category)
    return list(groups.items())


def report_form(gl: Gridloop, username: str) -> dict[str, Any]:
    """What the report page needs: the start form's schema, categories by class, the grids the user may
    report in (grids of their own, non-department scopes) and the default grid (their own, if just one)."""
    bundle = gl.bundle()
    with gl.db.reading() as session:
        actor = gl.actor(session, username)
        directory = gl.directory(session)
        schema = gl.resolved_form(session, bundle, bundle.start_form)
    scopes = [a.scope_code for a in actor.assignments if a.department_code is None]
    own = [a.scope_code for a in actor.assignments if a.role == "grid_worker"]
    grids = [
        {"code": g.code, "name": g.name}
        for g in directory.grids()
        if any(g.code.startswith(s) for s in scopes)
    ]
    return {
        "schema": schema,
        "categories": category_groups(bundle),
        "grids": grids,
        "default_grid": own[0] if len(own) == 1 else None,
    }


def _start_event_id(bundle: ProcessBundle) -> str | None:
    for info in bundle.user_tasks.values():
        if isinstance(bundle.spec.task_specs.get(info.bpmn_id), StartEvent):
            return info.bpmn_id
    return None


def _photo_ids(schema: dict[str, Any], data: dict[str, Any]) -> list[str]:
    ids = []
    for name, prop in schema.get("properties", {}).items():
        if prop.get("x-gridloop-widget") == "photos" and isinstance(data.get(name), list):
            ids.extend(str(v) for v in data[name])
    return ids


def _steps(
    gl: Gridloop, session: Session, bundle: ProcessBundle, history: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The data entered at each step (the report and every completion), with the form schema it was entered on."""
    schemas: dict[str | None, dict[str, Any]] = {}

    def schema_of(form: str | None) -> dict[str, Any]:
        if form not in schemas:
            schemas[form] = gl.resolved_form(session, bundle, form if form in bundle.forms else None)
        return schemas[form]

    start_id = _start_event_id(bundle)
    steps = []
    for entry in history:
        if entry["action"] == "report":
            step_id, data = start_id, entry["data"].get("report", {})
        elif entry["action"] == "complete":
            step_id, data = entry["step"], entry["data"].get("form", {})
        else:
            continue
        info = bundle.user_tasks.get(step_id) if step_id else None
        steps.append(
            {
                "seq": entry["seq"],
                "step": step_id,
                "name": info.name if info else (step_id or entry["action"]),
                "actor": entry["actor"],
                "at": entry["at"],
                "schema": schema_of(info.form if info else None),
                "data": data,
            }
        )
    return steps


def _sheets_of_event(
    session: Session, event_id: int, directory: OrgDirectory, departments: set[str]
) -> list[dict[str, Any]]:
    """The event's supervision sheets, oldest first, each saying whether ``departments`` may reply to it."""
    sheets = []
    for sheet in session.scalars(
        select(SupervisionSheet).where(SupervisionSheet.event_id == event_id).order_by(SupervisionSheet.id)
    ):
        row = rules.sheet_row(sheet)
        row["department_name"] = _department_name(directory, row["department"])
        row["can_reply"] = (
            row["status"] == "open" and row["reply"] is None and row["department"] in departments
        )
        sheets.append(row)
    return sheets


def event_page(gl: Gridloop, username: str, event_id: int) -> dict[str, Any]:
    """An event as its page shows it: :meth:`Gridloop.event_detail` plus names, time light, current holders,
    the steps' data with their schemas, the attachments, the diagram elements done and waiting, and the
    supervision sheets — with whether the user may issue one (and to which departments) or reply to one."""
    detail = gl.event_detail(username, event_id)
    bundle = gl.bundle(detail["process_version_id"])
    now = gl.now()
    open_tasks = [t for t in detail["tasks"] if t["status"] == "open"]
    with gl.db.reading() as session:
        actor = gl.actor(session, username)
        scheme = timelights.load_scheme(session)
        step_units = _step_units(session)
        directory = gl.directory(session)
        steps = _steps(gl, session, bundle, detail["history"])
        own_departments = {a.department_code for a in actor.assignments if a.department_code}
        sheets = _sheets_of_event(session, event_id, directory, own_departments)
        people = {detail["reporter"]} | {h["actor"] for h in detail["history"]}
        people |= {t["assignee"] for t in detail["tasks"]} | {t["completed_by"] for t in detail["tasks"]}
        people |= {s["issued_by"] for s in sheets} | {s["replied_by"] for s in sheets}
        names = display_names(session, people)
        files = []
        for step in steps:
            for attachment_id in _photo_ids(step["schema"], step["data"]):
                try:
                    files.append({"step": step["name"], "file": attachments.describe(session, attachment_id)})
                except NotFound:
                    continue
    categories = {c.code: c for c in bundle.categories}
    _describe_category(detail, categories)
    detail["grid_name"] = _unit_name(directory, detail["grid"])
    detail["department_name"] = _department_name(directory, detail["department"])
    detail["light"] = timelights.event_light(
        gl.calendar, scheme, detail, _time_unit(categories, detail["category"]), now
    )
    detail["holders"] = [
        {
            "task": t["id"],
            "name": t["name"],
            "assignee": names.get(t["assignee"], t["assignee"]),
            "role": t["role"],
            "scope_name": _unit_name(directory, t["scope"]),
            "department_name": _department_name(directory, t["department"]),
            "due_at": t["due_at"],
            "light": timelights.task_light(
                gl.calendar, scheme, t, detail, _task_unit(t, step_units, categories), now
            ),
        }
        for t in open_tasks
    ]
    step_names = {info.bpmn_id: info.name for info in bundle.user_tasks.values()}
    for entry in detail["history"]:
        entry["step_name"] = step_names.get(entry["step"], entry["step"])
    detail["steps"] = steps
    detail["attachments"] = files
    detail["files"] = {f["file"].id: f["file"] for f in files}
    detail["names"] = names
    start_id = _start_event_id(bundle)
    done = [start_id] if start_id else []
    done += [h["step"] for h in detail["history"] if h["action"] == "complete" and h["step"]]
    detail["diagram"] = {
        "version": detail["process_version_id"],
        "done": _with_callers(bundle, list(dict.fromkeys(done))),
        "current": _with_callers(bundle, sorted({t["step"] for t in open_tasks})),
    }
    detail["sheets"] = sheets
    detail["can_issue_sheet"] = rules.can_be_supervised(detail["state"]) and rules.may_issue(actor)
    detail["sheet_departments"] = (
        [
            {"code": d.code, "name": d.name}
            for d in sorted(directory.departments.values(), key=lambda d: d.code)
        ]
        if detail["can_issue_sheet"]
        else []
    )
    return detail


def task_page(gl: Gridloop, username: str, task_id: int, language: str = "zh") -> dict[str, Any]:
    """A task as its page shows it: :meth:`Gridloop.task_detail`, the form's prefilled values, its time light,
    and its event's page (None when the user may work the task but not open the event)."""
    detail = gl.task_detail(username, task_id, language)
    try:
        detail["event_page"] = event_page(gl, username, detail["task"]["event_id"])
    except NotFound:
        detail["event_page"] = None
    properties = detail["form"].get("properties", {})
    defaults = {name: prop["default"] for name, prop in properties.items() if "default" in prop}
    if "department" in properties and detail["data"].get("proposed_department"):
        defaults["department"] = detail["data"]["proposed_department"]
    detail["defaults"] = defaults
    bundle = gl.bundle(detail["event"]["process_version_id"])
    categories = {c.code: c for c in bundle.categories}
    with gl.db.reading() as session:
        scheme = timelights.load_scheme(session)
        step_units = _step_units(session)
        directory = gl.directory(session)
        names = display_names(session, {detail["task"]["assignee"], detail["task"]["completed_by"]})
    _describe_category(detail["event"], categories)
    detail["event"]["grid_name"] = _unit_name(directory, detail["event"]["grid"])
    detail["task"]["assignee_name"] = names.get(detail["task"]["assignee"], detail["task"]["assignee"])
    detail["task"]["completed_by_name"] = names.get(
        detail["task"]["completed_by"], detail["task"]["completed_by"]
    )
    detail["light"] = timelights.task_light(
        gl.calendar,
        scheme,
        detail["task"],
        detail["event"],
        _task_unit(detail["task"], step_units, categories),
        gl.now(),
    )
    return detail


def process_versions(gl: Gridloop) -> list[dict[str, Any]]:
    """Every deployed version, newest first, with the number of event instances pinned to it."""
    with gl.db.reading() as session:
        counts = dict(
            session.execute(
                select(Event.process_version_id, func.count()).group_by(Event.process_version_id)
            ).all()
        )
        versions = session.execute(
            select(
                ProcessVersion.id,
                ProcessVersion.process_id,
                ProcessVersion.content_hash,
                ProcessVersion.deployed_at,
                ProcessVersion.deployed_by,
            ).order_by(ProcessVersion.process_id, ProcessVersion.id.desc())
        ).all()
    return [
        {
            "id": v.id,
            "process_id": v.process_id,
            "content_hash": v.content_hash,
            "deployed_at": v.deployed_at,
            "deployed_by": v.deployed_by,
            "instances": counts.get(v.id, 0),
        }
        for v in versions
    ]


def _callers(bundle: ProcessBundle) -> dict[str, str]:
    """Element id inside a called or embedded process → the element of the main diagram that runs it."""
    outer: dict[str, str] = {}

    def walk(spec: Any, caller: str | None) -> None:
        for task_spec in spec.task_specs.values():
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            if bpmn_id and caller is not None:
                outer.setdefault(bpmn_id, caller)
            called = bundle.subprocess_specs.get(getattr(task_spec, "spec", None) or "")
            if called is not None and bpmn_id:
                walk(called, caller or bpmn_id)

    walk(bundle.spec, None)
    return outer


def _with_callers(bundle: ProcessBundle, ids: list[str]) -> list[str]:
    """``ids`` plus, for steps inside a call activity (the joint meeting), the call activity they run in, so the
    main diagram shows where the case stands."""
    callers = _callers(bundle)
    return list(dict.fromkeys([*ids, *(callers[i] for i in ids if i in callers)]))


def diagram_xml(gl: Gridloop, version_id: int) -> str:
    """The BPMN file (with its diagram) of a deployed version that defines the version's process."""
    with gl.db.reading() as session:
        version = session.get(ProcessVersion, version_id)
        if version is None:
            raise NotFound(f"no process version {version_id}")
        files, process_id = dict(version.files), version.process_id
    bpmn = [text for name, text in sorted(files.items()) if name.endswith(".bpmn")]
    if not bpmn:
        raise NotFound(f"process version {version_id} has no BPMN file")
    return next((text for text in bpmn if f'id="{process_id}"' in text), bpmn[0])


# ------------------------------------------------------------------ audit


def data_difference(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """What one step changed in the process data, one row per top-level key: ``{"key", "kind", "old", "new"}``
    with kind ``added``, ``changed`` or ``removed``.

    Values are compared in their canonical JSON form, so that ``0`` becoming ``false`` counts as a change and
    a key that appears with the value None counts as added (unlike :func:`engine.audit.history.data_changes`, which
    records old and new values only).
    """
    rows = []
    for key in sorted(set(before) | set(after)):
        if key not in before:
            rows.append({"key": key, "kind": "added", "old": None, "new": after[key]})
        elif key not in after:
            rows.append({"key": key, "kind": "removed", "old": before[key], "new": None})
        elif history.canonical(before[key]) != history.canonical(after[key]):
            rows.append({"key": key, "kind": "changed", "old": before[key], "new": after[key]})
    return rows


def _replayed_step(step: verification.ReplayStep, step_names: dict[str, str]) -> dict[str, Any]:
    return {
        "seq": step.seq,
        "at": step.at,
        "actor": step.actor,
        "action": step.action,
        "step": step.step,
        "step_name": step_names.get(step.step, step.step) if step.step else None,
        "completed": step.completed,
    }


def audit_page(gl: Gridloop, username: str, event_id: int, step: int | None = None) -> dict[str, Any]:
    """An event's audit as its page shows it, from a replay of its history (:func:`engine.audit.verification.replay_event`).

    The verdict (chain intact and replay equal to the stored state, or the reasons why not); every replayed step
    with who, when and what; the chosen ``step`` (a history seq: the last when None or unknown) with its input,
    the process data after it, the difference against the step before, and the diagram elements passed and
    waiting at that point; and every history record with its hash. Out of scope raises NotFound.
    """
    result = verification.replay_event(gl, event_id, username=username)
    detail = gl.event_detail(username, event_id)
    bundle = gl.bundle(detail["process_version_id"])
    step_names = {info.bpmn_id: info.name for info in bundle.user_tasks.values()}
    with gl.db.reading() as session:
        directory = gl.directory(session)
        names = display_names(session, {detail["reporter"]} | {h["actor"] for h in detail["history"]})
        content_hash = session.scalar(
            select(ProcessVersion.content_hash).where(ProcessVersion.id == detail["process_version_id"])
        )
    _describe_category(detail, {c.code: c for c in bundle.categories})
    detail["grid_name"] = _unit_name(directory, detail["grid"])
    for entry in detail["history"]:
        entry["step_name"] = step_names.get(entry["step"], entry["step"])
    seqs = [s.seq for s in result.steps]
    chosen = None
    if seqs:
        index = seqs.index(step) if step in seqs else len(seqs) - 1
        replayed = result.steps[index]
        before = result.steps[index - 1].data if index > 0 else {}
        chosen = _replayed_step(replayed, step_names) | {
            "number": index + 1,
            "input": replayed.input,
            "data": replayed.data,
            "difference": data_difference(before, replayed.data),
            "open_steps": [{"id": s, "name": step_names.get(s, s)} for s in replayed.open_steps],
            "record": next((h for h in detail["history"] if h["seq"] == replayed.seq), None),
            "previous_seq": seqs[index - 1] if index > 0 else None,
            "next_seq": seqs[index + 1] if index + 1 < len(seqs) else None,
            "diagram": {
                "version": detail["process_version_id"],
                "done": _with_callers(bundle, replayed.path),
                "current": _with_callers(bundle, replayed.open_steps),
            },
        }
    return {
        "event": detail,
        "ok": result.ok,
        "reasons": result.reasons,
        "steps": [_replayed_step(s, step_names) for s in result.steps],
        "step": chosen,
        "records": detail["history"],
        "names": names,
        "version": {"id": detail["process_version_id"], "hash": content_hash},
    }


def history_export(gl: Gridloop, username: str, event_id: int) -> dict[str, Any]:
    """An event's full history for export: the event's id, code and process version, and every record (seq,
    time, actor, action, step, task, process version, data, previous hash, hash) exactly as stored — enough to
    recompute every hash with :func:`engine.audit.history.record_hash` outside gridloop. Out of scope raises NotFound."""
    detail = gl.event_detail(username, event_id)
    return {
        "event": {
            "id": detail["id"],
            "code": detail["code"],
            "process_version_id": detail["process_version_id"],
        },
        "records": [
            {
                "seq": h["seq"],
                "at": h["at"],
                "actor": h["actor"],
                "action": h["action"],
                "step": h["step"],
                "task": h["task"],
                "process_version_id": h["process_version_id"],
                "data": h["data"],
                "prev_hash": h["prev_hash"],
                "hash": h["hash"],
            }
            for h in detail["history"]
        ],
    }


# ------------------------------------------------------------------ supervision


def supervision_board(gl: Gridloop, username: str, status: str = "open") -> dict[str, Any]:
    """The supervision board: the sheets of ``status`` the user may see (:func:`engine.commands.supervising.board`),
    grouped by department — the department with the most severe card first — with the names people read and
    the number of sheets of each card."""
    rows = supervising.board(gl, username, status)
    categories = {c.code: c for c in gl.bundle().categories}
    with gl.db.reading() as session:
        directory = gl.directory(session)
        names = display_names(session, {r["issued_by"] for r in rows} | {r["replied_by"] for r in rows})
    groups: dict[str | None, dict[str, Any]] = {}
    for row in rows:
        _describe_category(row, categories)
        row["grid_name"] = _unit_name(directory, row["grid"])
        row["issued_by_name"] = names.get(row["issued_by"], row["issued_by"])
        row["replied_by_name"] = names.get(row["replied_by"], row["replied_by"])
        group = groups.setdefault(
            row["department"],
            {
                "code": row["department"],
                "name": _department_name(directory, row["department"]),
                "rows": [],
            },
        )
        group["rows"].append(row)
    cards = {card: sum(1 for r in rows if r["card"] == card) for card in rules.CARDS}
    return {"status": status, "groups": list(groups.values()), "total": len(rows), "cards": cards}


# ------------------------------------------------------------------ evaluation


def evaluation_board(
    gl: Gridloop, username: str, start: datetime, end: datetime, by: str = "department"
) -> list[dict[str, Any]]:
    """The evaluation (考核评价) of ``[start, end)`` grouped ``by`` (:meth:`Gridloop.evaluate`, which refuses
    those without an evaluation role), each row with ``name``: the department's, unit's or category's name or
    the worker's display name; ``None`` for a level (the page names levels) or a case not yet assigned."""
    rows = gl.evaluate(username, start, end, by)
    groups = {r["group"] for r in rows}
    with gl.db.reading() as session:
        directory = gl.directory(session)
        names = display_names(session, groups) if by == "worker" else {}
    categories = {c.code: c.name for c in gl.bundle().categories} if by == "category" else {}
    for row in rows:
        code = row["group"]
        if code is None or by == "level":
            row["name"] = None
        elif by == "department":
            row["name"] = _department_name(directory, code)
        elif by == "worker":
            row["name"] = names.get(code, code)
        elif by == "category":
            row["name"] = categories.get(code, code)
        else:
            row["name"] = _unit_name(directory, code)
    return rows
