"""The ``gridloop`` command line: set-up, serving, deployment, staff, events, audit, simulation and backups.

Click commands beside the web app, as thin as its routes: parse the arguments, make one engine call (every
write goes through ``Gridloop``'s pipeline, admin writes included), print. ``gridloop --help`` lists every
command and each has its own ``--help``. The database comes from ``--db URL``, else
``$GRIDLOOP_DATABASE_URL``, else the embedded SQLite file under ``instance/``.

An engine error (:class:`~engine.errors.GridloopError`, a definition, calendar or value error) prints
``error: <message>`` on standard error and exits 2; a usage error exits 2 too, with click's message; a check
that finds problems (``validate``, ``audit verify``, ``audit replay``, a refused ``migrate``, a ``restore``
that does not pass the audit) exits 1. ``serve`` and ``scheduler`` log in the format of ``GRIDLOOP_LOG_FORMAT``
(:mod:`webui.logs`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import importlib.resources
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from engine.app import Gridloop, check_paths
from engine.bpmn import runtime
from engine.bpmn.definitions import DefinitionError
from engine.bpmn.folders import label_warnings
from engine.commands.pipeline import system
from engine.commands.retention import BATCH as ARCHIVE_BATCH
from engine.commands.retention import cut_off as retention_cut_off
from engine.demo.district import DEMO_PASSWORD
from engine.errors import GridloopError
from engine.evaluation.metrics import GROUPINGS
from engine.ledger import rows as template_rows
from engine.org import people
from engine.org.roles import ROLE_KEYS, ROLE_LABELS
from engine.reads import contacts, queries
from engine.reads import events as event_views
from engine.reads.processes import process_versions
from engine.store.db import default_url
from engine.time.calendar import CalendarError
from webui.i18n import field_messages

SHIPPED_DEFINITIONS = "gridloop_definitions"
CHECKOUT = Path(__file__).resolve().parent.parent


def definitions_root() -> Path:
    """The directory holding ``processes/`` and ``forms/`` that ``init --demo`` and ``deploy`` use.

    ``$GRIDLOOP_DEFINITIONS`` when set; else the checkout this module runs from (so a designer's edits are
    what gets deployed); else the copy an installed wheel ships as the data-only package
    ``gridloop_definitions`` (pyproject.toml maps the top-level folders into it).
    """
    override = os.environ.get("GRIDLOOP_DEFINITIONS")
    if override:
        return Path(override)
    if (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "processes").is_dir():
        return CHECKOUT
    try:
        shipped = importlib.resources.files(SHIPPED_DEFINITIONS) / "processes"
    except ModuleNotFoundError:
        raise GridloopError(
            "no process definitions found: {package} is not installed and {checkout} is no checkout;"
            " set GRIDLOOP_DEFINITIONS to a directory holding processes/ and forms/",
            code="cli.no_definitions",
            package=SHIPPED_DEFINITIONS,
            checkout=CHECKOUT,
        ) from None
    return Path(str(shipped)).parent


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # a time light, say
        return dataclasses.asdict(value)
    raise TypeError(type(value).__name__)


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=_json_default))


def _gridloop(ctx: click.Context) -> Gridloop:
    """The engine on the database of ``--db``, its schema required."""
    gl = Gridloop(ctx.obj["db"])
    if not gl.is_initialized():
        raise GridloopError(
            "the database {url} has no schema yet: run `gridloop init` first",
            code="cli.no_schema",
            url=gl.db.url,
        )
    return gl


def _parse_moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise GridloopError(
            "{moment} needs a timezone, e.g. {moment}+08:00", code="cli.naive_moment", moment=text
        )
    return moment


@contextlib.contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A ``progress(done, total)`` callback drawing a click progress bar on standard error, or None when
    standard error is no terminal (logs and pipes get only the result)."""
    if not sys.stderr.isatty():
        yield None
        return
    with contextlib.ExitStack() as stack:
        bars: list[Any] = []

        def advance(done: int, total: int) -> None:
            if not bars:
                bars.append(
                    stack.enter_context(click.progressbar(length=total, label=label, file=sys.stderr))
                )
            bars[0].update(done - bars[0].pos)

        yield advance


as_user_option = click.option("--as", "as_user", help="show it as this user sees it (default: everything)")
json_option = click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option(
    "--db",
    metavar="URL",
    default=lambda: os.environ.get("GRIDLOOP_DATABASE_URL") or default_url(),
    show_default="$GRIDLOOP_DATABASE_URL, else sqlite:///instance/gridloop.sqlite3",
    help="database URL (SQLite file or PostgreSQL)",
)
@click.pass_context
def cli(ctx: click.Context, db: str) -> None:
    """网格事件闭环处置引擎 — the grid event workflow engine."""
    ctx.obj = {"db": db}


@cli.command()
@click.option("--demo", is_flag=True, help="also create the demo district and deploy processes/ and forms/")
@click.pass_context
def init(ctx: click.Context, demo: bool) -> None:
    """Create or upgrade the database schema.

    The schema changes only through the Alembic migrations. With --demo, also add the demo district 清河区 with its staff (once: not when an organisation exists)
    and deploy the process definitions.
    """
    gl = Gridloop(ctx.obj["db"])
    gl.init_schema()
    click.echo(f"schema ready in {gl.db.url}")
    if not demo:
        return
    users = gl.create_demo_district(by="init")
    if users is None:
        click.echo("the organisation already exists; demo district not added again")
    else:
        click.echo(f"demo district created with {len(users)} accounts (password for all: {DEMO_PASSWORD})")
    for deployment in gl.deploy(definitions_root(), deployed_by="init", activate=True):
        _echo_deployment(deployment, deployed=True)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", type=int, default=5000, show_default=True, help="port to listen on")
@click.option("--no-scheduler", is_flag=True, help="do not fire timers in this process")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, no_scheduler: bool) -> None:
    """Run the web UI with the timer scheduler.

    This is Flask's own server, for the demo; production runs gunicorn on the app factory (`gunicorn 'webui:create_app()'`) and `gridloop scheduler`
    beside it.
    """
    from engine.time.scheduler import TimerScheduler
    from webui import create_app, logs

    logs.configure()
    app = create_app({"DATABASE_URL": ctx.obj["db"]})
    scheduler = None
    if not no_scheduler:
        scheduler = TimerScheduler(app.extensions["gridloop"])
        scheduler.start()
    try:
        app.run(host=host, port=port, debug=False, threaded=True, request_handler=logs.QuietRequestHandler)
    finally:
        if scheduler is not None:
            scheduler.shutdown()


@cli.command()
@click.option(
    "--backstop",
    type=click.FloatRange(min=1),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="re-read the next due time this often whatever else happens",
)
@click.pass_context
def scheduler(ctx: click.Context, backstop: float) -> None:
    """Run the timer and supervision scheduler alone.

    It runs until SIGTERM or Ctrl-C, wakes at the next due time and catches up at start; any number may run beside the gunicorn workers,
    and each timer fires exactly once. It hears of timers other processes create within a second (PostgreSQL:
    LISTEN/NOTIFY; SQLite: a look at the next due time every second).
    """
    import signal
    import threading

    from engine.time.scheduler import TimerScheduler
    from webui import logs

    logs.configure()
    from webui.notices import install

    runner = TimerScheduler(install(_gridloop(ctx)), backstop=timedelta(seconds=backstop))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    runner.start()
    click.echo(f"scheduler {runner.name} running; next wake {runner.armed_for()}")
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    runner.shutdown()


@cli.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...", type=click.Path(path_type=Path))
@click.pass_context
def validate(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Check BPMN, DMN and form files.

    Prints `file:line: element-id: message — fix` per problem, in line order, and exits 1 on any. A directory contributes its processes/ and forms/ (or its own *.bpmn, *.dmn, *.json); a BPMN file is checked with the DMN files and forms beside it and the BPMN files defining the processes it calls. A set holding the report process is also checked for what `deploy` refuses (a diagram, a start form). A name without its English label is a warning (printed, exit 0): the English pages would show it in Chinese.
    """
    problems = check_paths(list(paths))
    for warning in label_warnings(list(paths)):
        click.echo(f"warning: {warning}")
    for problem in problems:
        click.echo(problem)
    if problems:
        click.echo(f"{len(problems)} problem(s) found", err=True)
        ctx.exit(1)
    click.echo("ok: no problems found")


def _echo_deployment(deployment: Any, deployed: bool = False) -> None:
    """One line per version: its process, id, hash and status (and, for a deploy, whether it is new)."""
    state = ("new, " if deployment.created else "unchanged: already deployed, ") if deployed else ""
    click.echo(
        f"{deployment.process_id}: version {deployment.id} ({deployment.content_hash[:12]}) {state}"
        f"{deployment.status}"
    )


def _cli_user() -> str:
    return os.environ.get("USER", "cli")


@cli.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--activate", is_flag=True, help="also make each version the one new instances start on")
@click.pass_context
def deploy(ctx: click.Context, path: Path | None, activate: bool) -> None:
    """Deploy each process model under PATH as a draft version.

    PATH is a directory holding processes/ (one folder per model, see the README's "For designers") and the shared forms/; it defaults to $GRIDLOOP_DEFINITIONS, else the checkout's folders, else the definitions shipped in the installed package. A version is immutable and content-hashed: unchanged files answer their version. A draft starts nothing until it is activated (--activate, or `gridloop activate VERSION`). All or nothing: when a model is refused, every problem is printed and nothing is deployed.
    """
    gl = _gridloop(ctx)
    for deployment in gl.deploy(path or definitions_root(), deployed_by=_cli_user(), activate=activate):
        _echo_deployment(deployment, deployed=True)


@cli.command()
@click.argument("version", type=int)
@click.pass_context
def activate(ctx: click.Context, version: int) -> None:
    """Make VERSION the one new instances of its process start on.

    The version active until now is retired (its running instances go on) and is what `gridloop rollback` re-activates. Refused, with every problem, when the version's files would not deploy today.
    """
    _echo_deployment(_gridloop(ctx).activate(system(_cli_user()), version))


@cli.command()
@click.argument("version", type=int)
@click.pass_context
def retire(ctx: click.Context, version: int) -> None:
    """Stop new instances starting on VERSION (its running instances go on)."""
    _echo_deployment(_gridloop(ctx).retire(system(_cli_user()), version))


@cli.command()
@click.argument("process")
@click.pass_context
def rollback(ctx: click.Context, process: str) -> None:
    """Re-activate the version PROCESS's active version replaced (the active one is retired)."""
    _echo_deployment(_gridloop(ctx).rollback(system(_cli_user()), process))


@cli.command()
@click.pass_context
def versions(ctx: click.Context) -> None:
    """List every process model's versions: status, instances, who deployed and activated them."""
    gl = _gridloop(ctx)
    with gl.db.reading() as session:
        rows = process_versions(session)
    for row in rows:
        activated = (
            f", activated {row['activated_at']:%Y-%m-%d %H:%M} UTC by {row['activated_by']}"
            if row["activated_at"]
            else ""
        )
        click.echo(
            f"{row['process_id']}\tversion {row['id']}\t{row['status']}\t{row['instances']} instance(s)\t"
            f"deployed {row['deployed_at']:%Y-%m-%d %H:%M} UTC by {row['deployed_by']}{activated}"
        )


@cli.command()
@click.argument("process")
@click.option("--data", "data_json", required=True, help="the start form's data, as a JSON object")
@click.option("--as", "as_user", required=True, help="the staff member who starts it")
@click.option(
    "--unit", help="the org unit the instance runs in (default: the form's grid, or the starter's scope)"
)
@click.pass_context
def start(ctx: click.Context, process: str, data_json: str, as_user: str, unit: str | None) -> None:
    """Start an instance of PROCESS on its active version, printed as JSON.

    The start form validates --data (field errors, exit 1, nothing changed); who may start it is the process_starters setting (else its process_model.json's start_roles). A process that takes grid reports is reported instead, with a report's checks.
    """
    try:
        data = json.loads(data_json)
    except ValueError as err:
        raise click.BadParameter(f"not JSON: {err}", param_hint="--data") from None
    if not isinstance(data, dict):
        raise click.BadParameter("a JSON object of the start form's fields", param_hint="--data")
    _print_json(_gridloop(ctx).start(as_user, process, data, unit))


def _step_mapping(pairs: tuple[str, ...]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        old, _, new = pair.partition("=")
        if not old or not new:
            raise click.BadParameter(f"{pair!r} is not OLD=NEW", param_hint="--map")
        mapping[old] = new
    return mapping


@cli.command()
@click.option("--event", type=int, help="one event id")
@click.option("--from", "source", type=int, help="every unfinished event of this version")
@click.option("--to", type=int, required=True, help="target version id")
@click.option(
    "--map",
    "pairs",
    multiple=True,
    metavar="OLD=NEW",
    help="a step renamed in the target version: its old id and its new one (repeat for each)",
)
@click.option("--dry-run", is_flag=True, help="only show what would happen and why not")
@click.option("--as", "as_user", default="admin", show_default=True, help="administrator doing it")
@click.pass_context
def migrate(
    ctx: click.Context,
    event: int | None,
    source: int | None,
    to: int,
    pairs: tuple[str, ...],
    dry_run: bool,
    as_user: str,
) -> None:
    """Move running events to another version.

    One event (--event ID) or every unfinished event of a version (--from VERSION), printed as JSON. Refused, with nothing changed and exit 1, when a step an event passed is gone from the target version and no --map names its new id. Each plan's "aligned" says which steps land on an element of another id.
    """
    if (event is None) == (source is None):
        raise click.UsageError("give exactly one of --event ID and --from VERSION")
    mapping = _step_mapping(pairs)
    gl = _gridloop(ctx)
    if event is not None:
        found = gl.migration_plan(event, to, mapping)
        if found["problems"] or dry_run:
            _print_json(found)
            ctx.exit(1 if found["problems"] else 0)
        _print_json(gl.migrate_event(as_user, event, to, mapping))
        return
    if dry_run:
        assert source is not None  # exactly one of --event and --from (checked above)
        _print_json(gl.migration_dry_run(source, to, mapping))
        return
    assert source is not None  # exactly one of --event and --from (checked above)
    result = gl.migrate_version(as_user, source, to, mapping)
    _print_json(result)
    if result["refused"]:
        ctx.exit(1)


@cli.command("what-if")
@click.argument("version", type=int)
@click.option("--from", "first", type=click.DateTime(["%Y-%m-%d"]), help="first day (default: last month's)")
@click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]), help="last day, included")
@click.option("--as", "as_user", default="admin", show_default=True, help="designer or administrator asking")
@click.pass_context
def what_if(
    ctx: click.Context, version: int, first: datetime | None, last: datetime | None, as_user: str
) -> None:
    """Play a period's cases of VERSION's process through VERSION, beside how they ran, printed as JSON.

    Per step: how many cases reach it and its on-time share, as run and on VERSION; per case outcome (same, ended_earlier, waits_at_new_step, diverged, failed) with the cases that would not run the same. Nothing changes.
    """
    if (first is None) != (last is None):
        raise click.UsageError("give both --from and --to, or neither (last month)")
    if first is not None and last is not None and last < first:
        raise click.BadParameter("the last day comes before the first", param_hint="--to")
    _print_json(
        _gridloop(ctx).what_if(
            as_user, version, first.date() if first else None, last.date() if last else None
        )
    )


@cli.group()
def notices() -> None:
    """The notices' outbox: deliver what is due, list what waits or failed."""


@notices.command("deliver")
@click.option(
    "--limit", type=click.IntRange(min=1), default=100, show_default=True, help="rows claimed at a time"
)
@click.pass_context
def notices_deliver(ctx: click.Context, limit: int) -> None:
    """Send the outbox's due messages through the channels configured here (GRIDLOOP_NOTICE_WEBHOOK_URL),
    with retries and back-off; every scheduler does this every 10 s."""
    from engine.notices.outbox import adapters_from_environment
    from webui.notices import install

    adapters = adapters_from_environment()
    if not adapters:
        raise click.ClickException(
            "no channel is configured here: set GRIDLOOP_NOTICE_WEBHOOK_URL (and GRIDLOOP_NOTICE_WEBHOOK_SECRET)"
        )
    done = install(_gridloop(ctx)).deliver_notices(adapters, limit)
    click.echo(f"sent {done.sent}, to retry {done.retrying}, failed {done.failed}")


@notices.command("outbox")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(("pending", "sending", "sent", "failed")),
    help="only these (default: pending, sending and failed)",
)
@json_option
@click.pass_context
def notices_outbox(ctx: click.Context, statuses: tuple[str, ...], as_json: bool) -> None:
    """List the outbox's messages waiting to be sent and those that failed, oldest first."""
    rows = _gridloop(ctx).outbox_messages(statuses or ("pending", "sending", "failed"))
    if as_json:
        _print_json(rows)
        return
    if not rows:
        click.echo("the outbox is empty")
        return
    for r in rows:
        due = r["next_attempt_at"].isoformat(timespec="seconds")
        error = f"  {r['last_error']}" if r["last_error"] else ""
        click.echo(
            f"{r['id']:>6}  {r['status']:<8} {r['channel']:<8} {r['recipient']:<24} {r['kind']:<18}"
            f" attempts {r['attempts']}  next {due}{error}"
        )


@cli.group()
def users() -> None:
    """Staff accounts: list, add, set a password, disable / enable, sign out everywhere."""


@users.command("list")
@json_option
@click.pass_context
def users_list(ctx: click.Context, as_json: bool) -> None:
    """List staff with roles, scopes and departments."""
    from engine.store.models import User

    gl = _gridloop(ctx)
    with gl.db.reading() as session:
        rows: list[dict[str, Any]] = [
            {
                "username": u.username,
                "name": u.display_name,
                "active": u.active,
                "roles": [a.role for a in u.assignments],
                "role_labels": [ROLE_LABELS[a.role] for a in u.assignments],
                "scope": ",".join(dict.fromkeys(a.scope_code for a in u.assignments)),
                "department": ",".join(a.department_code for a in u.assignments if a.department_code) or None,
            }
            for u in session.scalars(select(User).order_by(User.id))
        ]
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        dept = f"  部门 {row['department']}" if row["department"] else ""
        click.echo(
            f"{row['username']:<14} {row['name']:<20} {','.join(row['roles']):<14} {row['scope']}{dept}"
        )


@users.command("add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(ROLE_KEYS), help="role key")
@click.option("--scope", required=True, help="org unit code (district, town, community or grid)")
@click.option("--department", help="department code, for department staff")
@click.option("--name", help="display name (default: the username)")
@click.pass_context
def users_add(
    ctx: click.Context, username: str, role: str, scope: str, department: str | None, name: str | None
) -> None:
    """Add a user, or a role to an existing user.

    Logged in the admin log, like every administrative change.
    """
    _gridloop(ctx).add_user("cli", username, name, role, scope, department)
    click.echo(f"{username}: {role} ({ROLE_LABELS[role]}) in {scope}")


@users.command("set-password")
@click.argument("username")
@click.pass_context
def users_set_password(ctx: click.Context, username: str) -> None:
    """Set a user's password.

    At least 8 characters, asked for twice on a terminal; read as one line from standard input otherwise.
    """
    gl = _gridloop(ctx)
    if sys.stdin.isatty():
        password = getpass.getpass("new password: ")
        if getpass.getpass("again: ") != password:
            raise GridloopError("the two passwords differ", code="cli.passwords_differ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    gl.set_password("cli", username, password)
    click.echo(f"password of {username} updated")


@users.command("disable")
@click.argument("username")
@click.pass_context
def users_disable(ctx: click.Context, username: str) -> None:
    """Disable an account: it can no longer sign in, and its sessions and API tokens are refused at once."""
    _gridloop(ctx).set_user_active(system("cli"), username, False)
    click.echo(f"{username} disabled")


@users.command("enable")
@click.argument("username")
@click.pass_context
def users_enable(ctx: click.Context, username: str) -> None:
    """Enable a disabled account again (it signs in afresh; old sessions stay ended)."""
    _gridloop(ctx).set_user_active(system("cli"), username, True)
    click.echo(f"{username} enabled")


@users.command("sign-out")
@click.argument("username")
@click.pass_context
def users_sign_out(ctx: click.Context, username: str) -> None:
    """End every web session and API token of a user (a lost phone, a leaver)."""
    count = _gridloop(ctx).sign_out_everywhere(system("cli"), username)
    click.echo(f"{username}: {count} session(s) and token(s) ended")


@cli.group()
def boundaries() -> None:
    """The grid on the map: load the units' boundaries (GeoJSON), export them, redivide a community's grids."""


@boundaries.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="check the file and say what would change; write nothing")
@json_option
@click.pass_context
def boundaries_load(ctx: click.Context, path: Path, dry_run: bool, as_json: bool) -> None:
    """Load a GeoJSON FeatureCollection of unit boundaries (each feature's properties.code names its unit;
    longitude-latitude, WGS-84 or CGCS2000). The whole file is checked first: each problem is named by its
    feature, and nothing is written while any is left."""
    summary = _gridloop(ctx).set_boundaries(system("cli"), _json_file(path), dry_run=dry_run)
    if as_json:
        _print_json(summary)
        return
    verb = "would change" if dry_run else "changed"
    click.echo(
        f"{summary['units']} unit(s) in the file; {verb} {len(summary['changed'])}: "
        f"{', '.join(summary['changed']) or '-'}"
    )
    for code, area in sorted(summary["uncovered"].items()):
        click.echo(f"{code}: {area} m² covered by none of its units (reports there fall to {code} itself)")


@boundaries.command("redivide")
@click.argument("community")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="say what would end, be added and move; change nothing")
@json_option
@click.pass_context
def boundaries_redivide(ctx: click.Context, community: str, path: Path, dry_run: bool, as_json: bool) -> None:
    """Re-divide COMMUNITY's grids into those the GeoJSON FeatureCollection PATH gives: a feature naming a
    current grid in properties.code keeps it, one without a code is a new grid (properties.name), a grid left
    out ends — its cases keep it, its workers and open steps move to the new grid with the largest share of it."""
    summary = _gridloop(ctx).redivide(system("cli"), community, _json_file(path), dry_run=dry_run)
    if as_json:
        _print_json(summary)
        return
    verb = "would" if dry_run else "did"
    click.echo(
        f"{community}: {verb} end {', '.join(summary['ended']) or '-'}; add "
        f"{', '.join(g['code'] + ' ' + g['name'] for g in summary['new']) or '-'}"
    )
    for old, new in sorted(summary["successors"].items()):
        click.echo(f"{old} → {new or '(no successor: its area is no grid now)'}")
    click.echo(f"{len(summary['staff'])} staff assignment(s) and {len(summary['tasks'])} open task(s) move")


def _json_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GridloopError(
            "{path} is not a JSON file: {reason}", code="cli.not_json", path=str(path), reason=str(exc)
        ) from None


@boundaries.command("export")
@click.pass_context
def boundaries_export(ctx: click.Context) -> None:
    """Print the units' boundaries as a GeoJSON FeatureCollection (what `boundaries load` reads)."""
    _print_json(_gridloop(ctx).boundaries())


@cli.group()
def ledger() -> None:
    """The household ledger (人房台账): import the template's rows, print the template."""


@ledger.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="check every row and say what would be added; store nothing")
@json_option
@click.pass_context
def ledger_import(ctx: click.Context, path: Path, dry_run: bool, as_json: bool) -> None:
    """Import a ledger file (CSV or XLSX, the template's columns) as the system; every bad row is named by its
    line and column first, and nothing is stored while any is left."""
    summary = _gridloop(ctx).import_ledger(system("cli"), path.name, path.read_bytes(), dry_run=dry_run)
    if as_json:
        _print_json({k: v for k, v in summary.items() if k != "rows_read"})
        return
    verb = "would add" if dry_run else "added"
    click.echo(
        f"{summary['rows']} row(s): {verb} {summary['added']} people, {summary['updated']} updated, "
        f"{summary['buildings']} building(s), {summary['dwellings']} dwelling(s) new"
    )


@ledger.command("template")
def ledger_template() -> None:
    """Print the import template (CSV: the columns and an example row)."""
    click.echo(template_rows.template().decode("utf-8-sig"), nl=False)


@cli.group()
def visits() -> None:
    """The grid workers' visit duties (走访): start those due today."""


@visits.command("start")
@json_option
@click.pass_context
def visits_start(ctx: click.Context, as_json: bool) -> None:
    """Start the visit duties due today (the schedulers do it each morning): a household visit for each
    dwelling or person whose cycle (the visit_duties setting) has come round."""
    done = _gridloop(ctx).start_due_visits(by="cli")
    if as_json:
        _print_json(done)
        return
    click.echo(
        f"{len(done['events'])} visit(s) started"
        + "".join(f"; {k}: {n}" for k, n in sorted(done["started"].items()))
    )


@cli.group()
def tokens() -> None:
    """Live web sessions and API tokens: list, revoke."""


@tokens.command("list")
@click.option("--user", "username", help="only this user's")
@json_option
@click.pass_context
def tokens_list(ctx: click.Context, username: str | None, as_json: bool) -> None:
    """List live sessions and API tokens, newest first."""
    rows = _gridloop(ctx).access_tokens(username)
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        click.echo(
            f"{row['id']}  {row['kind']:<7} {row['username']:<14} {row['address'] or '-':<16} "
            f"{row['issued_at']:%Y-%m-%d %H:%M} → {row['expires_at']:%Y-%m-%d %H:%M} UTC"
        )


@tokens.command("revoke")
@click.argument("token_id")
@click.pass_context
def tokens_revoke(ctx: click.Context, token_id: str) -> None:
    """Revoke one session or API token: the next request made with it is refused."""
    _gridloop(ctx).revoke_token(system("cli"), token_id)
    click.echo(f"{token_id} revoked")


def _viewer(gl: Gridloop, username: str | None) -> people.Actor:
    """The actor whose scope limits a listing: a named user, or the whole organisation for an operator."""
    from engine.store.models import OrgUnit

    with gl.db.reading() as session:
        if username:
            return people.load_actor(session, username)
        districts = session.scalars(select(OrgUnit.code).where(OrgUnit.parent_code.is_(None)))
        return people.Actor("cli", "operator", tuple(people.Assignment("admin", code) for code in districts))


@cli.group()
def events() -> None:
    """Grid events: list them, show one."""


@events.command("list")
@click.option("--code", help="event code")
@click.option("--category", help="category code")
@click.option("--grid", help="grid code")
@click.option("--state", help="state (one the process sets: reported, open, closed …)")
@click.option("--page", type=int, default=1, show_default=True)
@click.option("--per-page", type=int, default=50, show_default=True)
@as_user_option
@json_option
@click.pass_context
def events_list(
    ctx: click.Context,
    code: str | None,
    category: str | None,
    grid: str | None,
    state: str | None,
    page: int,
    per_page: int,
    as_user: str | None,
    as_json: bool,
) -> None:
    """List events, newest first, optionally as a given user sees them."""
    gl = _gridloop(ctx)
    actor = _viewer(gl, as_user)
    with gl.db.reading() as session:
        rows, total = queries.list_events(
            session, actor, code=code, category=category, grid=grid, state=state, page=page, per_page=per_page
        )
        rows = contacts.shown(gl.reader(actor, session), rows)  # reporters' contacts as the user reads them
    if as_json:
        _print_json({"total": total, "events": rows})
        return
    for r in rows:
        click.echo(
            f"{r['id']:>6} {r['code']}  {r['state']:<10} {r['category']}  {r['grid']}  {r['description'][:30]}"
        )
    click.echo(f"{len(rows)} of {total} event(s)")


@events.command("show")
@click.argument("event_id", metavar="ID", type=int)
@as_user_option
@json_option
@click.pass_context
def events_show(ctx: click.Context, event_id: int, as_user: str | None, as_json: bool) -> None:
    """Show one event with its tasks and history."""
    gl = _gridloop(ctx)
    actor = _viewer(gl, as_user)
    with gl.db.reading() as session:
        detail = event_views.event_detail(gl.reader(actor, session), event_id)
    if as_json:
        _print_json(detail)
        return
    d = detail
    click.echo(f"{d['code']}  {d['state']}  {d['category']}  grid {d['grid']}  dept {d['department']}")
    click.echo(f"  {d['description']}")
    click.echo(f"  due {d['due_at']}  closed {d['closed_at']}  on time {d['closed_on_time']}")
    click.echo(f"  rework {d['rework_count']}  reassign {d['reassign_count']}  reopen {d['reopen_count']}")
    click.echo("tasks:")
    for t in d["tasks"]:
        click.echo(
            f"  #{t['id']} {t['name']} ({t['step']}) {t['status']} role={t['role']} scope={t['scope']} "
            f"dept={t['department']} assignee={t['assignee']}"
        )
    click.echo("history:")
    for h in d["history"]:
        click.echo(
            f"  {h['seq']:>3} {h['at']:%Y-%m-%d %H:%M:%S} {h['actor']:<12} {h['action']:<13} {h['step'] or ''}"
        )


@cli.command()
@click.option("--now", help="ISO 8601 time with zone (default: now)")
@json_option
@click.pass_context
def tick(ctx: click.Context, now: str | None, as_json: bool) -> None:
    """Fire the timers due as of a time.

    Also issues and escalates supervision sheets and records colour changes, as of --now. Each timer fires exactly once, even beside running schedulers.
    """
    from engine.time.clock import ManualClock

    gl = _gridloop(ctx)
    if now:
        gl.clock = ManualClock(_parse_moment(now))
    fired = gl.tick(fired_by=f"tick:{os.getpid()}")
    sheets = gl.supervise(fired_by=f"tick:{os.getpid()}")
    if as_json:
        _print_json({"fired": fired, "sheets": sheets, "now": gl.now()})
        return
    click.echo(f"{fired} timer(s) fired, {sheets['issued']} sheet(s) issued, {sheets['escalated']} escalated")
    click.echo(f"as of {gl.now().isoformat()}")


@cli.group()
def calendar() -> None:
    """The business calendar: due times and holidays.

    Holidays and make-up working days (调休) are entered for the years chinese-calendar does not know.
    """


@calendar.command("due")
@click.option("--from", "start", required=True, help="start, ISO 8601 with zone")
@click.option("--limit", type=float, required=True, help="the time limit, in UNITs")
@click.option(
    "--unit", required=True, help="work_hours, work_days, natural_hours, natural_days (or 工作时 …)"
)
@click.option("--local", is_flag=True, help="print in the calendar's zone instead of UTC")
@click.pass_context
def calendar_due(ctx: click.Context, start: str, limit: float, unit: str, local: bool) -> None:
    """Print when a time limit runs out.

    The limit starts at --from and is counted by the district's business calendar. Warns on standard error for a year whose holidays are not known.
    """
    gl = _gridloop(ctx)
    begin = _parse_moment(start)
    due = gl.calendar.due_at(begin, limit, unit)
    for warning in gl.calendar.warnings_for(begin, due):
        click.echo(f"warning: {warning}", err=True)
    click.echo(due.astimezone(gl.calendar.timezone).isoformat() if local else due.isoformat())


@calendar.command("set")
@click.argument("day", metavar="DAY")
@click.argument("kind", type=click.Choice(["holiday", "workday", "remove"]))
@click.option("--note", help="what the day is (e.g. 元旦假期)")
@click.option("--as", "as_user", default="admin", show_default=True, help="administrator making the change")
@click.pass_context
def calendar_set(ctx: click.Context, day: str, kind: str, note: str | None, as_user: str) -> None:
    """Enter a holiday or a make-up working day.

    DAY is YYYY-MM-DD; KIND remove deletes its entry. For the years the chinese-calendar package does not know yet (logged in the admin log).
    """
    is_workday = {"holiday": False, "workday": True, "remove": None}[kind]
    _gridloop(ctx).set_calendar_day(as_user, date.fromisoformat(day), is_workday, note)
    click.echo(f"{day}: {kind}")


@calendar.command("list")
@click.pass_context
def calendar_list(ctx: click.Context) -> None:
    """List the admin-entered holidays and make-up working days."""
    from engine.store.models import CalendarDay

    gl = _gridloop(ctx)
    with gl.db.reading() as session:
        rows = list(session.scalars(select(CalendarDay).order_by(CalendarDay.day)))
    for row in rows:
        click.echo(f"{row.day.isoformat()}  {'workday' if row.is_workday else 'holiday'}  {row.note or ''}")


@cli.group()
def settings() -> None:
    """District settings: show and change them.

    Working hours, time lights, step limits, supervision escalation, evaluation weights and rewards.
    """


@settings.command("show")
@click.pass_context
def settings_show(ctx: click.Context) -> None:
    """Print every setting as JSON, defaults included."""
    from engine import settings as district_settings

    gl = _gridloop(ctx)
    _print_json({key: gl.get_setting(key) for key in district_settings.DEFAULTS})


@settings.command("set")
@click.argument("key")
@click.argument("value")
@click.option("--as", "as_user", default="admin", show_default=True, help="administrator making the change")
@click.pass_context
def settings_set(ctx: click.Context, key: str, value: str, as_user: str) -> None:
    """Change a setting.

    VALUE is JSON (else taken as a string); it is validated, and the change is logged in the admin log.
    """
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    previous = _gridloop(ctx).change_setting(as_user, key, parsed)
    click.echo(
        f"{key}: {json.dumps(previous, ensure_ascii=False)} -> {json.dumps(parsed, ensure_ascii=False)}"
    )


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


@cli.group()
def report() -> None:
    """The monthly evaluation report (月度考核报告): the standard's tables and the month's analysis, as XLSX."""


@report.command("monthly")
@click.option("--period", required=True, metavar="YYYY-MM", help="the month")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="also write the workbook to this file"
)
@click.pass_context
def report_monthly(ctx: click.Context, period: str, out: Path | None) -> None:
    """Write the report of the month PERIOD, keep it (evaluators download it from the dashboard's report list)
    and, with --out, save it as a file. The scheduler writes last month's on the first of each month."""
    gl = _gridloop(ctx)
    written = gl.write_monthly_report(system(_cli_user()), period)
    if out is not None:
        out.write_bytes(gl.monthly_report_content(written["id"]))
    click.echo(
        f"monthly report {period}: #{written['id']}, {written['size']} bytes, sha256 {written['sha256']}"
        + (f", written to {out}" if out is not None else "")
    )


@cli.command()
@click.option("--from", "start", required=True, help="first day, YYYY-MM-DD (in the calendar's zone)")
@click.option("--to", "end", required=True, help="day after the last, YYYY-MM-DD")
@click.option(
    "--by",
    default="department",
    show_default=True,
    type=click.Choice((*GROUPINGS, "position")),
    help="grouping (position: the position evaluation, 岗位评价)",
)
@click.option("--as", "as_user", default="evaluator", show_default=True, help="whose scope to evaluate")
@click.option("--as-of", help="evaluate as things stood at this ISO time (default: now)")
@json_option
@click.pass_context
def metrics(
    ctx: click.Context, start: str, end: str, by: str, as_user: str, as_of: str | None, as_json: bool
) -> None:
    """The evaluation (考核评价) of a period.

    Per group: 立案数, 应结案数, 结案率, 按期结案率, 返工率, 满意率 and the score; --by position: each staff
    member's figures in each position they worked (受理员, 值班长, 派遣员, 监督员/网格员) and the composite.
    """
    gl = _gridloop(ctx)
    zone = gl.calendar.timezone
    begin = datetime.combine(date.fromisoformat(start), datetime.min.time(), zone)
    until = datetime.combine(date.fromisoformat(end), datetime.min.time(), zone)
    moment = _parse_moment(as_of) if as_of else None
    if by == "position":
        rows = gl.evaluate_positions(as_user, begin, until, moment)
        if as_json:
            _print_json({"from": begin, "to": until, "by": by, "rows": rows})
            return
        click.echo(f"{'position':<14}{'staff':<16}figures")
        for r in rows:
            figures = "  ".join(
                f"{k} {_percent(v) if k.endswith(('_rate', '_score')) else v}"
                for k, v in r.items()
                if k not in ("position", "staff", "name")
            )
            click.echo(f"{r['position']:<14}{r['staff']:<16}{figures}")
        return
    rows = gl.evaluate(as_user, begin, until, by, moment)
    if as_json:
        _print_json({"from": begin, "to": until, "by": by, "rows": rows})
        return
    click.echo(
        f"{'group':<18}{'立案':>6}{'应结':>6}{'结案':>6}{'按期':>6}"
        f"{'结案率':>9}{'按期率':>9}{'返工率':>9}{'满意率':>9}{'得分':>8}"
    )
    for r in rows:
        click.echo(
            f"{str(r['group']):<18}{r['opened']:>6}{r['due']:>6}{r['closed']:>6}{r['closed_on_time']:>6}"
            f"{_percent(r['closure_rate']):>9}{_percent(r['on_time_rate']):>9}{_percent(r['rework_rate']):>9}"
            f"{_percent(r['satisfaction_rate']):>9}{r['score']:>8}"
        )


@cli.group()
def audit() -> None:
    """Prove histories untampered and replay them."""


@audit.command("verify")
@click.option(
    "--checkpoints",
    "checkpoint_dir",
    metavar="DIR",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="the signed checkpoints to check (default: $GRIDLOOP_CHECKPOINT_DIR, else instance/checkpoints)",
)
@click.option(
    "--public-key",
    "public_key_file",
    metavar="FILE",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="the checkpoints' public key as `audit public-key` printed it (default: the instance's own)",
)
@click.option(
    "--archives",
    "archive_dir",
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="the archive files of `gridloop archive` to check (default: $GRIDLOOP_ARCHIVE_DIR, else"
    " instance/archive, when it exists)",
)
@click.option(
    "--full", is_flag=True, help="re-verify every event, not only those changed since the last anchor"
)
@json_option
@click.pass_context
def audit_verify(
    ctx: click.Context,
    checkpoint_dir: Path | None,
    public_key_file: Path | None,
    archive_dir: Path | None,
    full: bool,
    as_json: bool,
) -> None:
    """Check every event's history and the admin log.

    Each record's MAC under the audit keys and the chain, every signed checkpoint (each event and the admin log still hold the records it counted, with the heads it saw), the replay through the stored checkpoint to the stored inbox, the counted facts, and the inbox, timer and supervision rows against the history. The archived cases likewise, in their archive files, each file with the SHA-256 the admin log recorded for it (a changed, swapped or missing file is named). Exits 1 on a mismatch. A progress bar is drawn on standard error when it is a terminal.

    Incremental unless --full: an event whose chain, row and inbox, timer and sheet rows are as the last verified anchor saw them is held by the anchor and not replayed; a record rewritten inside an unchanged chain, or a changed stored workflow state, only --full finds. A run with the instance's own checkpoints and key writes a new signed anchor of the events it found sound (anchor-*.jsonl.gz beside the checkpoints).
    """
    from engine.audit import keys, verification

    gl = _gridloop(ctx)
    public_key = keys.read_public_key(public_key_file) if public_key_file is not None else None
    own = checkpoint_dir is None and public_key_file is None
    with _progress("verifying") as progress:
        result = verification.verify_all(
            gl,
            progress,
            checkpoint_dir=checkpoint_dir,
            public_key=public_key,
            archive_dir=archive_dir,
            incremental=not full,
            anchor=own,
        )
    if as_json:
        _print_json(result)
    else:
        for m in result["mismatches"]:
            where = f"event {m['event']} ({m['code']})" if m["event"] is not None else m["code"]
            click.echo(f"{where}: {m['reason']}")
        click.echo(f"{result['verified']} of {result['instances']} event(s) verified")
        if result.get("unchanged"):
            click.echo(
                f"{result['unchanged']} of them unchanged since anchor {result['anchor']} (--full re-verifies them)"
            )
    if result["mismatches"]:
        ctx.exit(1)


@audit.command("checkpoint")
@click.pass_context
def audit_checkpoint(ctx: click.Context) -> None:
    """Write a signed checkpoint of every history and the admin log.

    Into $GRIDLOOP_CHECKPOINT_DIR (else instance/checkpoints), outside the database: each chain's length and head, signed with the instance's checkpoint key. Keep the files, and the public key (`audit public-key`), where the database's writers cannot reach; `audit verify` checks them. Prints the file written.
    """
    click.echo(str(_gridloop(ctx).write_checkpoint()))


@audit.command("public-key")
def audit_public_key() -> None:
    """Print the public key the checkpoints are signed with (PEM).

    Made with its private key on first use ($GRIDLOOP_CHECKPOINT_KEY, else instance/checkpoint_key). Give it to the auditors: with it and the checkpoint files they can check, but not forge.
    """
    from engine.audit import keys

    private = keys.checkpoint_key()
    assert private is not None  # made when there is none
    click.echo(keys.public_key_pem(private.public_key()), nl=False)


@audit.command("rotate-key")
def audit_rotate_key() -> None:
    """Add a new audit key that signs from now on; keep the old ones for verifying.

    In instance/audit_keys (refused when the keys come from $GRIDLOOP_AUDIT_KEYS: change them there). Running processes sign with the new key from their next record. Prints the new key's id.
    """
    from engine.audit import keys

    click.echo(keys.rotate())


@audit.command("replay")
@click.argument("event_id", metavar="EVENT", type=int)
@json_option
@click.pass_context
def audit_replay(ctx: click.Context, event_id: int, as_json: bool) -> None:
    """Replay one event's history.

    Prints each step with the state after it; exits 1 when the replay does not match the stored state.
    """
    from engine.audit import verification

    result = verification.replay_event(_gridloop(ctx), event_id)
    steps: list[dict[str, Any]] = [
        {
            "seq": s.seq,
            "at": s.at,
            "actor": s.actor,
            "action": s.action,
            "step": s.step,
            "input": s.input,
            "open_steps": s.open_steps,
            "completed": s.completed,
            "state": runtime.event_state(s.data),
            "data": s.data,
        }
        for s in result.steps
    ]
    if as_json:
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
        click.echo(f"event {result.event_id} ({result.code})")
        for s in steps:
            step = f" {s['step']}" if s["step"] else ""
            click.echo(f"{s['seq']:>3} {s['at']:%Y-%m-%d %H:%M:%S} {s['actor']:<12} {s['action']}{step}")
            click.echo(f"      input: {json.dumps(s['input'], ensure_ascii=False)}")
            open_steps = ",".join(s["open_steps"]) or "-"
            click.echo(f"      after: state={s['state']} open={open_steps} completed={s['completed']}")
        click.echo(
            "replay matches the stored state" if result.ok else "MISMATCH:\n  " + "\n  ".join(result.reasons)
        )
    if not result.ok:
        ctx.exit(1)


@cli.command()
@click.option(
    "--older-than",
    "years",
    metavar="YEARS",
    type=click.IntRange(min=1),
    help="archive the cases finished more than YEARS years ago (default: the retention_years setting)",
)
@click.option(
    "--before",
    metavar="DATE",
    help="archive the cases finished before DATE (YYYY-MM-DD in the calendar's zone, or an ISO time with zone)",
)
@click.option(
    "--dir",
    "folder",
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="where the archive files go (default: $GRIDLOOP_ARCHIVE_DIR, else instance/archive)",
)
@click.option(
    "--batch",
    type=click.IntRange(1, 5000),
    default=ARCHIVE_BATCH,
    show_default=True,
    help="events per archive file and transaction",
)
@click.option("--dry-run", is_flag=True, help="only count what would be archived; change nothing")
@click.option("--as", "as_user", default="archive", show_default=True, help="who runs it, for the admin log")
@json_option
@click.pass_context
def archive(
    ctx: click.Context,
    years: int | None,
    before: str | None,
    folder: Path | None,
    batch: int,
    dry_run: bool,
    as_user: str,
    as_json: bool,
) -> None:
    """Move finished cases older than the retention period into archive files.

    Each batch of finished events (closed, rejected, voided: their process ran to its end) last changed before the cut-off is written into one gzip JSON-lines file (the events' rows, history records as stored, inbox, timer and sheet rows, attachments with their bytes, the process versions they ran on), made durable, and only then deleted from the database — with the attachments no other event uses — in the same transaction, which logs `archived` with the file's SHA-256 in the admin log. `audit verify` checks the files. A progress bar is drawn on standard error when it is a terminal.
    """
    if years is not None and before is not None:
        raise click.UsageError("give --older-than or --before, not both")
    gl = _gridloop(ctx)
    if before is not None:
        cut = (
            datetime.combine(date.fromisoformat(before), datetime.min.time(), gl.calendar.timezone)
            if len(before) == 10
            else _parse_moment(before)
        )
    else:
        cut_off = gl.retention_cut_off() if years is None else retention_cut_off(gl.now(), years)
        if cut_off is None:
            raise GridloopError(
                "the retention_years setting keeps every case: give --older-than YEARS or --before DATE,"
                " or set it (`gridloop settings set retention_years 10`)",
                code="cli.retention_unset",
            )
        cut = cut_off
    with _progress("archiving") as progress:
        result = gl.archive(as_user, cut, folder, batch=batch, dry_run=dry_run, progress=progress)
    summary = {
        "before": result.before,
        "dry_run": result.dry_run,
        "events": result.events,
        "records": result.records,
        "attachments": result.attachments,
        "removed_attachments": result.removed_attachments,
        "files": [str(path) for path in result.files],
        "bytes": result.bytes,
    }
    if as_json:
        _print_json(summary)
        return
    verb = "would archive" if dry_run else "archived"
    click.echo(
        f"{verb} {result.events} finished event(s) before {result.before.isoformat()}: {result.records} history"
        f" records, {result.attachments} attachment(s) ({result.removed_attachments} removed from the database)"
    )
    for path in result.files:
        click.echo(str(path))
    if result.files:
        click.echo(f"{len(result.files)} file(s), {result.bytes:,} bytes")


@cli.command()
@click.option("--events", "count", type=int, required=True, help="how many events to report")
@click.option("--seed", type=int, default=1, show_default=True, help="seed of the random mix")
@click.option(
    "--past",
    type=click.FloatRange(min=0, min_open=True),
    metavar="DAYS",
    help="date the run in the last DAYS days (ending by now, a few cases left open) instead of from now on",
)
@json_option
@click.pass_context
def simulate(ctx: click.Context, count: int, seed: int, past: float | None, as_json: bool) -> None:
    """Drive N events through the whole loop.

    They are run as the demo staff, with a realistic mix; the clock is moved instead of slept on; a progress bar of finished events is drawn on standard error
    when it is a terminal. With --past, the events are a history of the last DAYS days instead (as `make demo`
    seeds): nothing is dated after now, supervision issues and escalates sheets along the way, and the last
    few cases are left with open tasks.
    """
    from engine.demo.simulate import simulate as run_simulation

    gl = _gridloop(ctx)
    span = timedelta(days=past) if past is not None else None
    with _progress("simulating") as progress:
        result = run_simulation(gl, count, seed=seed, progress=progress, past=span)
    if as_json:
        _print_json(result)
        return
    for key, value in result.items():
        click.echo(f"{key}: {value}")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def backup(ctx: click.Context, file: Path) -> None:
    """Back up the database into FILE while the service runs.

    One consistent moment, however many commands commit meanwhile: SQLite through its backup API, PostgreSQL by
    `pg_dump -Fc` (of the schema the URL's search_path names, else of the whole database). FILE is written under
    a temporary name and renamed when complete, so a failed backup leaves nothing under FILE. The keys
    (GRIDLOOP_SECRET_KEY, the audit keys) are not in it: keep them apart.
    """
    import time

    from engine.store import backup as backups

    started = time.perf_counter()
    made = backups.backup(ctx.obj["db"], file)
    schema = f", schema {made.schema}" if made.schema else ""
    click.echo(
        f"backed up {backups.printable(ctx.obj['db'])} to {made.path} ({made.kind}{schema}, {made.size:,} bytes)"
        f" in {time.perf_counter() - started:.2f} s"
    )


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--to", "target", required=True, metavar="URL", help="the database to restore into (empty)")
@click.option(
    "--replace",
    is_flag=True,
    help="replace what the target holds (PostgreSQL: its schema, in one transaction)",
)
@click.option(
    "--checkpoints",
    "checkpoint_dir",
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="also hold it to the signed checkpoints in DIR: those as of the backup (default: none)",
)
@click.option(
    "--public-key",
    "public_key_file",
    metavar="FILE",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="the checkpoints' public key as `audit public-key` printed it (default: the instance's own)",
)
@click.pass_context
def restore(
    ctx: click.Context,
    file: Path,
    target: str,
    replace: bool,
    checkpoint_dir: Path | None,
    public_key_file: Path | None,
) -> None:
    """Restore a backup of `gridloop backup` into an empty database, then audit it.

    A SQLite backup goes into a SQLite file, a pg_dump archive into a PostgreSQL database or schema (the one the URL's search_path names). Refused, with nothing changed, when the target holds tables, unless --replace (stop the service first). The restored database is then checked as `gridloop audit verify` checks one — against the checkpoints of --checkpoints only, since those the instance has written since the backup count records it cannot hold. Exits 1 when it does not pass, or when its schema is of another migration than this gridloop's.
    """
    import tempfile

    from engine.audit import keys, verification
    from engine.store import backup as backups

    kind = backups.restore(file, target, replace=replace)
    shown = backups.printable(target)
    click.echo(f"restored {file} ({kind}) into {shown}")
    current, head = backups.schema_revision(target)
    if current != head:
        click.echo(
            f"the restored schema is at migration {current}, this gridloop's at {head}: upgrade it with"
            f" `gridloop --db URL init`, then check it with `gridloop --db URL audit verify`",
            err=True,
        )
        ctx.exit(1)
    public_key = keys.read_public_key(public_key_file) if public_key_file is not None else None
    gl = Gridloop(target)
    try:
        with _progress("verifying") as progress, tempfile.TemporaryDirectory() as no_checkpoints:
            result = verification.verify_all(
                gl, progress, checkpoint_dir=checkpoint_dir or Path(no_checkpoints), public_key=public_key
            )
    finally:
        gl.db.dispose()
    for m in result["mismatches"]:
        where = f"event {m['event']} ({m['code']})" if m["event"] is not None else m["code"]
        click.echo(f"{where}: {m['reason']}")
    verdict = "FAILS" if result["mismatches"] else "passes"
    click.echo(
        f"{result['verified']} of {result['instances']} event(s) verified: the restored database {verdict}"
        " the audit"
    )
    if result["mismatches"]:
        ctx.exit(1)


def _report(exc: Exception) -> int:
    """Print an engine error as ``error: <message>`` (and a validation error's fields, in English from the
    catalog) on standard error."""
    if isinstance(exc, DefinitionError):  # one problem a line, as `validate` prints them
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.echo(f"error: {len(exc.problems)} problem(s) in the definitions; nothing was changed", err=True)
        return 2
    click.echo(f"error: {exc}", err=True)
    fields = getattr(exc, "errors", None)
    for field_name, messages in field_messages(fields, "en").items() if isinstance(fields, dict) else ():
        click.echo(f"  {field_name}: {'; '.join(messages)}", err=True)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default: ``sys.argv[1:]``) and return its exit status.

    The ``gridloop`` console script and ``python -m webui.cli`` both end here; tests call it directly.
    """
    try:
        status = cli.main(
            args=list(argv) if argv is not None else None, prog_name="gridloop", standalone_mode=False
        )
    except (GridloopError, DefinitionError, CalendarError, ValueError) as exc:
        return _report(exc)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("Aborted!", err=True)
        return 1
    return status if isinstance(status, int) else 0


if __name__ == "__main__":
    sys.exit(main())
