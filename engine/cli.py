"""The ``gridloop`` command line: set-up, deployment, staff accounts, events and simulation.

Every sub-command has ``--help``. The database comes from ``--db URL``, else ``GRIDLOOP_DATABASE_URL``, else
the embedded SQLite file under ``instance/``.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from engine.app import Gridloop
from engine.bpmn.definitions import DefinitionError, validate_paths
from engine.demo.district import DEMO_PASSWORD, create_demo_district
from engine.errors import GridloopError
from engine.evaluation.metrics import GROUPINGS
from engine.org import people
from engine.org.roles import ROLE_KEYS, ROLE_LABELS
from engine.reads import queries
from engine.store.db import default_url
from engine.store.models import OrgUnit, User
from engine.time.calendar import CalendarError

DEFINITIONS_ROOT = Path(os.environ.get("GRIDLOOP_DEFINITIONS", Path(__file__).resolve().parent.parent))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, default=_json_default))


def _gridloop(args: argparse.Namespace) -> Gridloop:
    return Gridloop(args.db)


def _require_schema(gl: Gridloop) -> None:
    if not gl.is_initialized():
        raise GridloopError(f"the database {gl.db.url} has no schema yet: run `gridloop init` first")


def cmd_init(args: argparse.Namespace) -> int:
    """Create or upgrade the schema; with --demo, add the demo district and deploy the processes."""
    gl = _gridloop(args)
    gl.init_schema()
    print(f"schema ready in {gl.db.url}")
    if args.demo:
        with gl.db.unit_of_work() as session:
            has_org = session.scalar(select(OrgUnit.code).limit(1)) is not None
            if not has_org:
                users = create_demo_district(session)
        if has_org:
            print("the organisation already exists; demo district not added again")
        else:
            print(f"demo district created with {len(users)} accounts (password for all: {DEMO_PASSWORD})")
        deployment = gl.deploy(DEFINITIONS_ROOT, deployed_by="init")
        print(
            f"process version {deployment.id} ({deployment.content_hash[:12]}) {'deployed' if deployment.created else 'already deployed'}"
        )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the web UI with Flask's server (for the demo; production runs gunicorn on the app factory)."""
    from engine.time.scheduler import TimerScheduler
    from webui import create_app

    app = create_app({"DATABASE_URL": args.db})
    scheduler = None
    if not args.no_scheduler:
        scheduler = TimerScheduler(app.extensions["gridloop"])
        scheduler.start()
    try:
        app.run(host=args.host, port=args.port, debug=False, threaded=True)
    finally:
        if scheduler is not None:
            scheduler.shutdown()
    return 0


def cmd_scheduler(args: argparse.Namespace) -> int:
    """Run the timer scheduler alone (beside gunicorn workers); any number may run, each timer fires once."""
    import signal
    import threading

    from engine.time.scheduler import TimerScheduler

    gl = _gridloop(args)
    _require_schema(gl)
    scheduler = TimerScheduler(gl)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    scheduler.start()
    print(f"scheduler {scheduler.name} running; next wake {scheduler.armed_for()}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    scheduler.shutdown()
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Check BPMN, DMN and form files; print one `file:line: element: message` per problem."""
    problems = validate_paths([Path(p) for p in args.paths])
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return 1
    print("ok: no problems found")
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    """Deploy processes/ and forms/ under PATH as a new immutable version (unchanged files reuse theirs)."""
    gl = _gridloop(args)
    _require_schema(gl)
    deployment = gl.deploy(Path(args.path), deployed_by=os.environ.get("USER", "cli"))
    state = "deployed as a new version" if deployment.created else "unchanged: already deployed"
    print(f"process version {deployment.id} ({deployment.content_hash}) {state}")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    """List staff with their roles and scopes."""
    gl = _gridloop(args)
    _require_schema(gl)
    with gl.db.reading() as session:
        users = list(session.scalars(select(User).order_by(User.id)))
        rows = [
            {
                "username": u.username,
                "name": u.display_name,
                "active": u.active,
                "roles": [a.role for a in u.assignments],
                "role_labels": [ROLE_LABELS[a.role] for a in u.assignments],
                "scope": ",".join(dict.fromkeys(a.scope_code for a in u.assignments)),
                "department": ",".join(a.department_code for a in u.assignments if a.department_code) or None,
            }
            for u in users
        ]
    if args.json:
        _print_json(rows)
        return 0
    for row in rows:
        dept = f"  部门 {row['department']}" if row["department"] else ""
        print(f"{row['username']:<14} {row['name']:<20} {','.join(row['roles']):<14} {row['scope']}{dept}")
    return 0


def cmd_users_add(args: argparse.Namespace) -> int:
    """Add a user (or a further role to an existing user)."""
    gl = _gridloop(args)
    _require_schema(gl)
    with gl.db.unit_of_work() as session:
        people.add_user(session, args.username, args.name)
        people.grant_role(session, args.username, args.role, args.scope, args.department)
    print(f"{args.username}: {args.role} ({ROLE_LABELS[args.role]}) in {args.scope}")
    return 0


def cmd_users_set_password(args: argparse.Namespace) -> int:
    """Set a user's password, read from standard input when it is not a terminal."""
    gl = _gridloop(args)
    _require_schema(gl)
    if sys.stdin.isatty():
        password = getpass.getpass("new password: ")
        if getpass.getpass("again: ") != password:
            raise GridloopError("the two passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        raise GridloopError("a password needs at least 8 characters")
    with gl.db.unit_of_work() as session:
        user = session.scalar(select(User).where(User.username == args.username))
        if user is None:
            raise GridloopError(f"no user named {args.username!r}")
        user.password_hash = people.hash_password(password)
    print(f"password of {args.username} updated")
    return 0


def _viewer(gl: Gridloop, username: str | None) -> people.Actor:
    """The actor whose scope limits a listing: a named user, or the whole organisation for an operator."""
    with gl.db.reading() as session:
        if username:
            return people.load_actor(session, username)
        districts = session.scalars(select(OrgUnit.code).where(OrgUnit.parent_code.is_(None)))
        return people.Actor("cli", "operator", tuple(people.Assignment("admin", code) for code in districts))


def cmd_events_list(args: argparse.Namespace) -> int:
    """List events (newest first), optionally as a given user sees them."""
    gl = _gridloop(args)
    _require_schema(gl)
    actor = _viewer(gl, args.as_user)
    with gl.db.reading() as session:
        rows, total = queries.list_events(
            session,
            actor,
            code=args.code,
            category=args.category,
            grid=args.grid,
            state=args.state,
            page=args.page,
            per_page=args.per_page,
        )
    if args.json:
        _print_json({"total": total, "events": rows})
        return 0
    for r in rows:
        print(
            f"{r['id']:>6} {r['code']}  {r['state']:<10} {r['category']}  {r['grid']}  {r['description'][:30]}"
        )
    print(f"{len(rows)} of {total} event(s)")
    return 0


def cmd_events_show(args: argparse.Namespace) -> int:
    """Show one event with its tasks and history."""
    gl = _gridloop(args)
    _require_schema(gl)
    actor = _viewer(gl, args.as_user)
    with gl.db.reading() as session:
        detail = queries.event_detail(session, actor, args.id)
    if args.json:
        _print_json(detail)
        return 0
    print(
        f"{detail['code']}  {detail['state']}  {detail['category']}  grid {detail['grid']}  dept {detail['department']}"
    )
    print(f"  {detail['description']}")
    print(f"  due {detail['due_at']}  closed {detail['closed_at']}  on time {detail['closed_on_time']}")
    print(
        f"  rework {detail['rework_count']}  reassign {detail['reassign_count']}  reopen {detail['reopen_count']}"
    )
    print("tasks:")
    for t in detail["tasks"]:
        print(
            f"  #{t['id']} {t['name']} ({t['step']}) {t['status']} role={t['role']} scope={t['scope']} "
            f"dept={t['department']} assignee={t['assignee']}"
        )
    print("history:")
    for h in detail["history"]:
        print(
            f"  {h['seq']:>3} {h['at']:%Y-%m-%d %H:%M:%S} {h['actor']:<12} {h['action']:<13} {h['step'] or ''}"
        )
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Drive N events through the loop as the demo staff, moving the clock instead of sleeping."""
    from engine.demo.simulate import simulate

    gl = _gridloop(args)
    _require_schema(gl)
    result = simulate(gl, args.events, seed=args.seed)
    if args.json:
        _print_json(result)
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


def _progress_bar(done: int, total: int) -> None:
    width = 30
    filled = width * done // total if total else width
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Check every event: hash chain intact, replay through the stored checkpoint to the stored inbox, counted
    facts equal to history."""
    from engine.audit import verification

    gl = _gridloop(args)
    _require_schema(gl)
    progress = _progress_bar if sys.stderr.isatty() else None
    result = verification.verify_all(gl, progress)
    if args.json:
        _print_json(result)
    else:
        for m in result["mismatches"]:
            print(f"event {m['event']} ({m['code']}): {m['reason']}")
        print(f"{result['verified']} of {result['instances']} event(s) verified")
    return 0 if not result["mismatches"] else 1


def cmd_audit_replay(args: argparse.Namespace) -> int:
    """Replay one event's history step by step and print the state after each step."""
    from engine.audit import verification

    gl = _gridloop(args)
    _require_schema(gl)
    result = verification.replay_event(gl, args.event)
    steps = [
        {
            "seq": s.seq,
            "at": s.at,
            "actor": s.actor,
            "action": s.action,
            "step": s.step,
            "input": s.input,
            "open_steps": s.open_steps,
            "completed": s.completed,
            "state": s.data.get("outcome") or "reported",
            "data": s.data,
        }
        for s in result.steps
    ]
    if args.json:
        _print_json(
            {
                "event": result.event_id,
                "code": result.code,
                "ok": result.ok,
                "reasons": result.reasons,
                "steps": steps,
            }
        )
    else:
        print(f"event {result.event_id} ({result.code})")
        for s in steps:
            step = f" {s['step']}" if s["step"] else ""
            print(f"{s['seq']:>3} {s['at']:%Y-%m-%d %H:%M:%S} {s['actor']:<12} {s['action']}{step}")
            print(f"      input: {json.dumps(s['input'], ensure_ascii=False)}")
            print(
                f"      after: state={s['state']} open={','.join(s['open_steps']) or '-'} completed={s['completed']}"
            )
        print(
            "replay matches the stored state" if result.ok else "MISMATCH:\n  " + "\n  ".join(result.reasons)
        )
    return 0 if result.ok else 1


def cmd_tick(args: argparse.Namespace) -> int:
    """Fire every timer due as of --now (default: the present), exactly once even beside running schedulers."""
    from engine.time.clock import ManualClock

    gl = _gridloop(args)
    _require_schema(gl)
    if args.now:
        gl.clock = ManualClock(_parse_moment(args.now))
    fired = gl.tick(fired_by=f"tick:{os.getpid()}")
    sheets = gl.supervise(fired_by=f"tick:{os.getpid()}")
    if args.json:
        _print_json({"fired": fired, "sheets": sheets, "now": gl.now()})
    else:
        print(f"{fired} timer(s) fired, {sheets['issued']} sheet(s) issued, {sheets['escalated']} escalated")
        print(f"as of {gl.now().isoformat()}")
    return 0


def _parse_moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise GridloopError(f"{text} needs a timezone, e.g. {text}+08:00")
    return moment


def cmd_calendar_due(args: argparse.Namespace) -> int:
    """Print when a limit started at --from runs out, by the district's business calendar."""
    gl = _gridloop(args)
    _require_schema(gl)
    start = _parse_moment(args.start)
    due = gl.calendar.due_at(start, args.limit, args.unit)
    for warning in gl.calendar.warnings_for(start, due):
        print(f"warning: {warning}", file=sys.stderr)
    print(due.astimezone(gl.calendar.timezone).isoformat() if args.local else due.isoformat())
    return 0


def cmd_calendar_set(args: argparse.Namespace) -> int:
    """Enter a holiday or a make-up working day (or remove the entry) for a year the package does not know."""
    gl = _gridloop(args)
    _require_schema(gl)
    kind = {"holiday": False, "workday": True, "remove": None}[args.kind]
    gl.set_calendar_day(args.as_user, date.fromisoformat(args.day), kind, args.note)
    print(f"{args.day}: {args.kind}")
    return 0


def cmd_calendar_list(args: argparse.Namespace) -> int:
    """List the admin-entered holidays and make-up working days."""
    from engine.store.models import CalendarDay

    gl = _gridloop(args)
    _require_schema(gl)
    with gl.db.reading() as session:
        rows = list(session.scalars(select(CalendarDay).order_by(CalendarDay.day)))
    for row in rows:
        print(f"{row.day.isoformat()}  {'workday' if row.is_workday else 'holiday'}  {row.note or ''}")
    return 0


def cmd_settings_show(args: argparse.Namespace) -> int:
    """Print every setting with its current value (defaults included)."""
    from engine import settings

    gl = _gridloop(args)
    _require_schema(gl)
    _print_json({key: gl.get_setting(key) for key in settings.DEFAULTS})
    return 0


def cmd_settings_set(args: argparse.Namespace) -> int:
    """Change a setting to a JSON value (validated; logged in the admin log)."""
    gl = _gridloop(args)
    _require_schema(gl)
    try:
        value = json.loads(args.value)
    except json.JSONDecodeError:
        value = args.value
    previous = gl.change_setting(args.as_user, args.key, value)
    print(
        f"{args.key}: {json.dumps(previous, ensure_ascii=False)} -> {json.dumps(value, ensure_ascii=False)}"
    )
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Move running events to another deployed version (one event, or all unfinished events of a version)."""
    from engine.commands import migration

    gl = _gridloop(args)
    _require_schema(gl)
    if args.event is not None:
        found = migration.plan(gl, args.event, args.to)
        if found["problems"] or args.dry_run:
            _print_json(found)
            return 1 if found["problems"] else 0
        _print_json(migration.migrate_event(gl, args.as_user, args.event, args.to))
        return 0
    if args.dry_run:
        with gl.db.reading() as session:
            from engine.store.models import Event

            ids = list(
                session.scalars(
                    select(Event.id).where(
                        Event.process_version_id == args.source, Event.completed.is_(False)
                    )
                )
            )
        _print_json([migration.plan(gl, event_id, args.to) for event_id in ids])
        return 0
    result = migration.migrate_version(gl, args.as_user, args.source, args.to)
    _print_json(result)
    return 1 if result["refused"] else 0


def cmd_metrics(args: argparse.Namespace) -> int:
    """Print the evaluation (考核评价) of a period: counts, rates and scores per group."""
    gl = _gridloop(args)
    _require_schema(gl)
    zone = gl.calendar.timezone
    start = datetime.combine(date.fromisoformat(args.start), datetime.min.time(), zone)
    end = datetime.combine(date.fromisoformat(args.end), datetime.min.time(), zone)
    as_of = _parse_moment(args.as_of) if args.as_of else None
    rows = gl.evaluate(args.as_user, start, end, args.by, as_of)
    if args.json:
        _print_json({"from": start, "to": end, "by": args.by, "rows": rows})
        return 0

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value * 100:.1f}%"

    print(
        f"{'group':<18}{'立案':>6}{'应结':>6}{'结案':>6}{'按期':>6}{'结案率':>9}{'按期率':>9}{'返工率':>9}{'满意率':>9}{'得分':>8}"
    )
    for r in rows:
        print(
            f"{str(r['group']):<18}{r['opened']:>6}{r['due']:>6}{r['closed']:>6}{r['closed_on_time']:>6}"
            f"{pct(r['closure_rate']):>9}{pct(r['on_time_rate']):>9}{pct(r['rework_rate']):>9}"
            f"{pct(r['satisfaction_rate']):>9}{r['score']:>8}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(
        prog="gridloop", description="网格事件闭环处置引擎 — grid event workflow engine"
    )
    parser.add_argument(
        "--db",
        default=os.environ.get("GRIDLOOP_DATABASE_URL") or default_url(),
        help="database URL (default: $GRIDLOOP_DATABASE_URL or sqlite:///instance/gridloop.sqlite3)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", help="create or upgrade the database schema")
    p.add_argument(
        "--demo", action="store_true", help="also create the demo district and deploy the processes"
    )
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("serve", help="run the web UI")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--no-scheduler", action="store_true", help="do not fire timers in this process")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("scheduler", help="run the timer and supervision scheduler on its own")
    p.set_defaults(func=cmd_scheduler)

    p = sub.add_parser("validate", help="check BPMN/DMN/form files and print file:line: element: message")
    p.add_argument(
        "paths", nargs="+", metavar="PATH", help="files or directories (a directory's processes/ and forms/)"
    )
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("deploy", help="deploy processes/ and forms/ as a new process version")
    p.add_argument(
        "path", nargs="?", default=str(DEFINITIONS_ROOT), help="directory holding processes/ and forms/"
    )
    p.set_defaults(func=cmd_deploy)

    users = sub.add_parser("users", help="staff accounts").add_subparsers(dest="users_command", required=True)
    p = users.add_parser("list", help="list users with their role keys and scope codes")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_users_list)
    p = users.add_parser("add", help="add a user, or a role to an existing user")
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=ROLE_KEYS)
    p.add_argument("--scope", required=True, help="org unit code (district, town, community or grid)")
    p.add_argument("--department", help="department code, for department staff")
    p.add_argument("--name", help="display name (default: the username)")
    p.set_defaults(func=cmd_users_add)
    p = users.add_parser("set-password", help="set a password (read from stdin when it is not a terminal)")
    p.add_argument("username")
    p.set_defaults(func=cmd_users_set_password)

    events = sub.add_parser("events", help="grid events").add_subparsers(dest="events_command", required=True)
    p = events.add_parser("list", help="list events")
    for flag in ("--code", "--category", "--grid", "--state"):
        p.add_argument(flag)
    p.add_argument("--page", type=int, default=1)
    p.add_argument("--per-page", type=int, default=50)
    p.add_argument("--as", dest="as_user", help="list as this user sees it")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_events_list)
    p = events.add_parser("show", help="show one event with its tasks and history")
    p.add_argument("id", type=int)
    p.add_argument("--as", dest="as_user", help="show as this user sees it")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_events_show)

    calendar = sub.add_parser("calendar", help="the business calendar").add_subparsers(
        dest="calendar_command", required=True
    )
    p = calendar.add_parser("due", help="print when a time limit runs out (ISO 8601)")
    p.add_argument("--from", dest="start", required=True, help="start, ISO 8601 with zone")
    p.add_argument("--limit", type=float, required=True)
    p.add_argument(
        "--unit", required=True, help="work_hours, work_days, natural_hours, natural_days (or 工作时 …)"
    )
    p.add_argument("--local", action="store_true", help="print in the calendar's zone instead of UTC")
    p.set_defaults(func=cmd_calendar_due)
    p = calendar.add_parser("set", help="enter a holiday or make-up working day (admins)")
    p.add_argument("day", help="YYYY-MM-DD")
    p.add_argument("kind", choices=["holiday", "workday", "remove"])
    p.add_argument("--note")
    p.add_argument("--as", dest="as_user", default="admin", help="administrator making the change")
    p.set_defaults(func=cmd_calendar_set)
    p = calendar.add_parser("list", help="list the entered holidays and make-up days")
    p.set_defaults(func=cmd_calendar_list)

    st = sub.add_parser("settings", help="district settings").add_subparsers(
        dest="settings_command", required=True
    )
    p = st.add_parser("show", help="print all settings")
    p.set_defaults(func=cmd_settings_show)
    p = st.add_parser("set", help="change a setting (JSON value)")
    p.add_argument("key")
    p.add_argument("value")
    p.add_argument("--as", dest="as_user", default="admin", help="administrator making the change")
    p.set_defaults(func=cmd_settings_set)

    p = sub.add_parser("migrate", help="move running events to another deployed version (admins)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--event", type=int, help="one event id")
    target.add_argument("--from", dest="source", type=int, help="every unfinished event of this version")
    p.add_argument("--to", type=int, required=True, help="target version id")
    p.add_argument("--dry-run", action="store_true", help="only show what would happen and why not")
    p.add_argument("--as", dest="as_user", default="admin", help="administrator doing it")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("metrics", help="evaluation of a period (考核评价)")
    p.add_argument(
        "--from", dest="start", required=True, help="first day, YYYY-MM-DD (in the calendar's zone)"
    )
    p.add_argument("--to", dest="end", required=True, help="day after the last, YYYY-MM-DD")
    p.add_argument("--by", default="department", choices=GROUPINGS)
    p.add_argument("--as", dest="as_user", default="evaluator", help="whose scope to evaluate")
    p.add_argument("--as-of", help="evaluate as things stood at this ISO time (default: now)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_metrics)

    p = sub.add_parser("tick", help="fire every timer due as of a time")
    p.add_argument("--now", help="ISO 8601 time with zone (default: now)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tick)

    audit = sub.add_parser("audit", help="prove histories untampered and replay them").add_subparsers(
        dest="audit_command", required=True
    )
    p = audit.add_parser(
        "verify", help="check every event's chain, replay and counted facts; exit 1 on a mismatch"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_audit_verify)
    p = audit.add_parser("replay", help="replay one event's history, printing the state after each step")
    p.add_argument("event", type=int, metavar="EVENT", help="event id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_audit_replay)

    p = sub.add_parser("simulate", help="drive N events through the whole loop as the demo staff")
    p.add_argument("--events", type=int, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_simulate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gridloop`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except GridloopError as exc:
        print(f"gridloop: {exc}", file=sys.stderr)
        for field_name, messages in getattr(exc, "errors", {}).items():
            print(f"  {field_name}: {'; '.join(messages)}", file=sys.stderr)
        return 2
    except (DefinitionError, CalendarError, ValueError) as exc:
        print(f"gridloop: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
