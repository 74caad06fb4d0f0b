"""The composition root: :class:`Gridloop` builds the parts — database, clock, deployed versions, live
instances, organisation, settings and form caches, the audit's keys and checkpoints — hands them to the
command pipeline and the reads, and is
the one object callers (the web UI, the JSON API, the CLI, the simulator, the tests) hold.

Every write is a command in :mod:`engine.commands` run by :class:`~engine.commands.pipeline.Pipeline`; the
methods here only name the command and its arguments. Reads go to :mod:`engine.reads`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import settings
from engine.audit.checkpoints import Checkpoints
from engine.audit.keys import AuditKeys
from engine.audit.keys import audit_keys as audit_keyring
from engine.audit.verification import default_archive_dir
from engine.bpmn import forms, runtime
from engine.bpmn.definitions import DefinitionError, Problem, ProcessBundle, build_deployable, deploy_problems
from engine.bpmn.deployed import Versions
from engine.bpmn.folders import models_at, sets_at, uploaded_model, validate_paths
from engine.bpmn.instances import Instances
from engine.bpmn.labels import SOURCE_LANGUAGE
from engine.bpmn.replay import RuntimeFor
from engine.commands import (
    admin,
    assignment,
    grids,
    ledger,
    migration,
    reports,
    retention,
    supervising,
    tasks,
    timers,
    versions,
    visits,
)
from engine.commands import notices as notice_commands
from engine.commands.admin import LANGUAGES
from engine.commands.pipeline import Pipeline, system
from engine.commands.versions import REPORT_FORM_FIELDS, Deployment
from engine.demo.district import DEMO_PASSWORD, DemoUser
from engine.errors import Conflict, NotDeployed, NotFound
from engine.ledger.personal import PersonalKey, personal_key
from engine.notices import outbox
from engine.org import auth, geography, people
from engine.org.cache import OrgCache
from engine.org.people import Actor
from engine.org.scope import event_filter
from engine.org.tree import OrgDirectory
from engine.reads import boards, queries, tasklist, whatif
from engine.reads import events as event_views
from engine.reads import monthly_reports as report_views
from engine.reads import notices as notice_views
from engine.reads import tasks as task_views
from engine.reads.listing import Listing
from engine.reads.reader import Reader
from engine.settings import SettingsCache
from engine.store import attachments
from engine.store.db import Database, is_initialized, migrate
from engine.store.models import OrgUnit, User
from engine.time import clock as clockmod
from engine.time import timers as timer_rows
from engine.time.calendar import BusinessCalendar

__all__ = ["LANGUAGES", "Deployment", "Gridloop", "Parts", "check_paths"]


def check_paths(paths: list[Path]) -> list[Problem]:
    """Every problem of the definition files at ``paths`` (``gridloop validate``): the lint of
    :func:`~engine.bpmn.folders.validate_paths`, then — for each process model among them that lint finds
    nothing wrong with — what :meth:`Gridloop.deploy` would refuse besides, so that a set validate accepts
    deploys and starts."""
    problems = validate_paths(paths)
    if problems:
        return problems
    sets, _unreadable = sets_at(paths)
    return [
        problem
        for found in sets
        if found.model_id is not None
        for problem in deploy_problems(found.files, found.model_id, REPORT_FORM_FIELDS)
    ]


@dataclass
class Parts:
    """What commands and reads are built from; one set per :class:`Gridloop`."""

    db: Database
    clock: clockmod.Clock
    versions: Versions
    instances: Instances
    org: OrgCache
    settings: SettingsCache
    forms: forms.FormCache
    audit_keys: AuditKeys  # the HMAC keys history and admin-log records are signed with (kept outside the db)
    checkpoints: Checkpoints  # where signed audit checkpoints are written, and with which key
    personal_key: PersonalKey  # seals the household ledger's identity and phone numbers (kept outside the db)
    timer_listeners: list[Callable[[datetime], None]] = field(default_factory=list)
    # a notice's title, text and link in its recipient's language, for the outbox (the web UI sets its catalogs')
    notice_texts: outbox.Texts = outbox.untranslated

    def announce_timers(self, earliest: datetime) -> None:
        """Tell the listeners (this process's scheduler) that a command added or moved a timer due at ``earliest``
        (other processes' schedulers hear of it from the database: see :mod:`engine.time.scheduler`)."""
        for listener in self.timer_listeners:
            listener(earliest)


class Gridloop:
    """gridloop's engine: one database, one clock, the caches, the command pipeline."""

    def __init__(
        self,
        database_url: str,
        clock: clockmod.Clock | None = None,
        audit_keys: AuditKeys | None = None,
        checkpoints: Checkpoints | None = None,
    ):
        """``audit_keys`` default to the process's (``GRIDLOOP_AUDIT_KEYS``, else ``instance/audit_keys``:
        see :mod:`engine.audit.keys`), ``checkpoints`` to ``GRIDLOOP_CHECKPOINT_DIR`` (else a folder of
        this database's own under ``instance/checkpoints``) signed with the instance's checkpoint key — so that every process of a
        deployment signs and verifies alike."""
        db = Database(database_url)
        org = OrgCache(db)
        settings_cache = SettingsCache(db)
        versions = Versions(lambda: runtime.script_functions(_Calendar(settings_cache), org))
        form_cache = forms.FormCache(org.directory)
        org.on_change(form_cache.clear)
        self.parts = Parts(
            db=db,
            clock=clock or clockmod.SystemClock(),
            versions=versions,
            instances=Instances(versions),
            org=org,
            settings=settings_cache,
            forms=form_cache,
            audit_keys=audit_keys or audit_keyring(),
            checkpoints=checkpoints or Checkpoints(database_url=database_url),
            personal_key=personal_key(),
        )
        self.pipeline = Pipeline(self.parts)
        self.db = db

    # ----------------------------------------------------------------- set-up

    @property
    def clock(self) -> clockmod.Clock:
        """The one clock (tests and simulations move it instead of sleeping)."""
        return self.parts.clock

    @clock.setter
    def clock(self, clock: clockmod.Clock) -> None:
        self.parts.clock = clock

    @property
    def cache(self) -> Any:
        """The live instances kept in memory (event id → row version, instance)."""
        return self.parts.instances.cache

    @cache.setter
    def cache(self, cache: Any) -> None:
        self.parts.instances.cache = cache

    def init_schema(self) -> None:
        """Create or upgrade the schema through the migrations."""
        migrate(self.db.engine)

    def is_initialized(self) -> bool:
        """True when the schema exists."""
        return is_initialized(self.db.engine)

    def now(self) -> datetime:
        """The engine clock's current time."""
        return self.parts.clock.now()

    def deploy(self, root: Path, deployed_by: str = "system", activate: bool = False) -> list[Deployment]:
        """Deploy every process model under ``root`` (``processes/<model>/`` and the shared ``forms/``: see
        :mod:`engine.bpmn.folders`), or the one model of a model folder, as a draft version each — a known content hash answers its version — and,
        with ``activate``, make each the active version of its process. All or nothing: when any model is
        refused (DefinitionError with every problem of every model), nothing is deployed or activated."""
        bundles, problems = [], []
        for model in models_at(root):
            try:
                bundles.append(build_deployable(model.files, model.model_id, REPORT_FORM_FIELDS))
            except DefinitionError as err:
                problems += err.problems
        if problems:
            raise DefinitionError(problems)
        return self.pipeline.run(system(deployed_by), versions.deploy_all, bundles, activate)

    def deploy_files(self, by: str | Actor, files: dict[str, str], activate: bool = False) -> Deployment:
        """Deploy one process model from its files (path → text, as an upload gives them) as a draft, and with
        ``activate`` make it active; DefinitionError with every problem (nothing changes)."""
        bundle = build_deployable(files, None, REPORT_FORM_FIELDS)
        return self.pipeline.run(by, versions.deploy_all, [bundle], activate)[0]

    def deploy_upload(
        self,
        by: str | Actor,
        uploads: dict[str, bytes],
        activate: bool = False,
        process_id: str | None = None,
    ) -> Deployment:
        """Deploy a model uploaded file by file (:func:`~engine.bpmn.folders.uploaded_model`: the files it does
        not upload come from its shown version; ``process_id`` names the model, else the upload does);
        DefinitionError with every problem."""
        return self.deploy_files(by, uploaded_model(uploads, self._shown_files, process_id), activate)

    def check_upload(self, uploads: dict[str, bytes], process_id: str | None = None) -> list[Problem]:
        """What a deploy of ``uploads`` would refuse (:meth:`deploy_upload`'s checks, nothing stored): the
        workbench's lint as the designer draws."""
        try:
            files = uploaded_model(uploads, self._shown_files, process_id)
        except DefinitionError as err:
            return err.problems
        return deploy_problems(files, process_id, REPORT_FORM_FIELDS)

    def _shown_files(self, process_id: str) -> dict[str, str] | None:
        """The files of ``process_id``'s shown version (None before its first deploy)."""
        with self.db.reading() as session:
            try:
                return dict(self.parts.versions.shown(session, process_id).bundle.files)
            except NotDeployed:
                return None

    def activate(self, by: str | Actor, version_id: int) -> Deployment:
        """Make a version the one new instances of its process start on (see :mod:`engine.commands.versions`)."""
        return self.pipeline.run(by, versions.activate, version_id)

    def retire(self, by: str | Actor, version_id: int) -> Deployment:
        """Stop new instances starting on a version; its running instances go on."""
        return self.pipeline.run(by, versions.retire, version_id)

    def rollback(self, by: str | Actor, process_id: str) -> Deployment:
        """Re-activate the version the active version of ``process_id`` replaced."""
        return self.pipeline.run(by, versions.rollback, process_id)

    def create_demo_district(
        self, by: str = "init", password: str | None = DEMO_PASSWORD
    ) -> list[DemoUser] | None:
        """Add the demo district (None when an organisation exists already); ``password`` None makes accounts
        that cannot sign in (simulations, service-level tests). See :mod:`engine.demo.district`."""
        return self.pipeline.run(system(by), admin.demo_district, password)

    def add_user(
        self,
        by: str,
        username: str,
        display_name: str | None,
        role: str,
        scope_code: str,
        department_code: str | None = None,
    ) -> None:
        """Add a staff account, or a further role to one (``by`` names who did it in the admin log)."""
        self.pipeline.run(
            system(by), admin.add_user, username, display_name, role, scope_code, department_code
        )

    def set_password(self, by: str, username: str, password: str) -> None:
        """Set a staff account's password (``by`` names who did it in the admin log)."""
        self.pipeline.run(system(by), admin.set_password, username, password)

    def invalidate_org(self) -> None:
        """Forget the cached organisation, staff and form choices (after changing them outside this process)."""
        self.parts.org.invalidate()

    @property
    def calendar(self) -> BusinessCalendar:
        """The business calendar from the settings and holiday table (re-read after the settings' ttl)."""
        return self.parts.settings.calendar()

    def invalidate_settings(self) -> None:
        """Forget the cached calendar and settings (after changing them outside this process)."""
        self.parts.settings.invalidate()

    def get_setting(self, key: str) -> Any:
        """A setting's current value (its default when never set)."""
        with self.db.reading() as session:
            return settings.get(session, key)

    def change_setting(self, username: str, key: str, value: Any) -> Any:
        """Change a district setting (admins only); return the previous value. Logged in the admin log."""
        return self.pipeline.run(username, admin.change_setting, key, value)

    def set_calendar_day(
        self, username: str, day: date, is_workday: bool | None, note: str | None = None
    ) -> None:
        """Enter (or, with ``is_workday`` None, remove) a holiday or make-up working day (admins only)."""
        self.pipeline.run(username, admin.set_calendar_day, day, is_workday, note)

    def actor(self, session: Session, username: str) -> Actor:
        """The acting user with their roles (cached for a few seconds; see :class:`~engine.org.cache.OrgCache`)."""
        return self.parts.org.actor(session, username)

    def directory(self, session: Session) -> OrgDirectory:
        """The organisation snapshot used by process scripts and scope resolution."""
        return self.parts.org.directory(session)

    def runtime_for(self, session: Session) -> RuntimeFor:
        """Version id → (bundle, script engine), for replaying records (the audit, rebuilding an instance)."""
        return self.parts.versions.runtime_for(session)

    def bundle(self, version_id: int | None = None) -> ProcessBundle:
        """The definitions of a deployed version (None: the report process's shown version, as pages read it:
        :meth:`~engine.bpmn.deployed.Versions.shown`)."""
        deployed = self.parts.versions
        with self.db.reading() as session:
            if version_id is not None:
                return deployed.get(session, version_id).bundle
            return deployed.shown(session, self.report_process(session)).bundle

    def report_process(self, session: Session) -> str:
        """The process grid reports start by default (:func:`engine.settings.default_report_process`)."""
        return settings.default_report_process(self.parts.settings.value("report_processes", session))

    def resolved_form(self, session: Session, bundle: ProcessBundle, form: str | None) -> dict[str, Any]:
        """A form's JSON Schema with its live choices filled in (an empty object schema for no form)."""
        return self.parts.forms.resolved(session, bundle, form)

    # ---------------------------------------------------------------- commands

    def report(self, username: str, data: dict[str, Any]) -> dict[str, Any]:
        """Report a new event (上报); see :func:`engine.commands.tasks.report`."""
        return self.pipeline.run(username, tasks.report, data)

    def start(
        self, username: str, process_id: str, data: dict[str, Any], unit: str | None = None
    ) -> dict[str, Any]:
        """Start an instance of a process with its start form's data; see :func:`engine.commands.tasks.start`."""
        return self.pipeline.run(username, tasks.start, process_id, data, unit)

    def claim(self, username: str, task_id: int) -> dict[str, Any]:
        """Claim a task offered to the actor (认领), so that nobody else works on it."""
        return self.pipeline.run(username, tasks.claim, task_id)

    def unclaim(self, username: str, task_id: int) -> dict[str, Any]:
        """Give a claimed task back to everybody it is offered to."""
        return self.pipeline.run(username, tasks.unclaim, task_id)

    def assign(self, username: str, task_id: int, to: str, note: str | None = None) -> dict[str, Any]:
        """A leader assigns an open task to a colleague it is offered to (指派); see
        :func:`engine.commands.assignment.assign`."""
        return self.pipeline.run(username, assignment.assign, task_id, to, note)

    def delegate(self, username: str, task_id: int, to: str, note: str | None = None) -> dict[str, Any]:
        """Whoever holds a task delegates it to a colleague it is offered to (委托)."""
        return self.pipeline.run(username, assignment.delegate, task_id, to, note)

    def give_back(self, username: str, task_id: int, note: str | None = None) -> dict[str, Any]:
        """The delegate gives a delegated task back to whoever delegated it."""
        return self.pipeline.run(username, assignment.give_back, task_id, note)

    def comment(self, username: str, task_id: int, text: str) -> dict[str, Any]:
        """Comment on a task one may see (a ``comment`` record in its event's history)."""
        return self.pipeline.run(username, assignment.comment, task_id, text)

    def set_follow_up(self, username: str, task_id: int, moment: date | datetime | None) -> dict[str, Any]:
        """Set (None: clear) the follow-up date of a task one holds; a date is a local day of the district."""
        return self.pipeline.run(username, assignment.set_follow_up, task_id, moment)

    def save_filter(self, username: str, name: str, filters: dict[str, Any]) -> dict[str, Any]:
        """Save inbox filters under a name of the user's own."""
        return self.pipeline.run(username, assignment.save_filter, name, filters)

    def delete_filter(self, username: str, filter_id: int) -> None:
        """Delete one of the user's saved inbox filters."""
        self.pipeline.run(username, assignment.delete_filter, filter_id)

    def saved_filters(self, username: str) -> list[dict[str, Any]]:
        """The user's saved inbox filters, by name."""
        with self.reading(username) as reader:
            return tasklist.saved_filters(reader)

    def complete(self, username: str, task_id: int, data: dict[str, Any]) -> dict[str, Any]:
        """Complete a task with its form's data: validated, run to the next wait state, saved — or nothing at all.

        The field errors of refused data carry codes that the caller says in its reader's language.
        """
        return self.pipeline.run(username, tasks.complete, task_id, data)

    def issue_sheet(self, username: str, event_id: int, department_code: str, reason: str) -> dict[str, Any]:
        """A leader issues a supervision sheet (领导督办) on an event to a department."""
        return self.pipeline.run(username, supervising.issue, event_id, department_code, reason)

    def reply_to_sheet(
        self,
        username: str,
        sheet_id: int,
        text: str,
        *,
        event_id: int | None = None,
        task_id: int | None = None,
    ) -> dict[str, Any]:
        """The department answers a supervision sheet (from the page of ``event_id`` or ``task_id``, when given:
        a sheet not of that event or about that task answers as missing)."""
        return self.pipeline.run(
            username, supervising.reply, sheet_id, text, event_id=event_id, task_id=task_id
        )

    def migration_plan(
        self, event_id: int, to_version: int, mapping: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """What migrating one event to ``to_version`` would do, and why it cannot (``problems``); ``mapping``
        (old step id → new id) aligns steps a designer renamed."""
        return migration.plan(self, event_id, to_version, mapping)

    def migrate_event(
        self, username: str, event_id: int, to_version: int, mapping: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Migrate one running event to another version of its process (administrators and designers)."""
        return self.pipeline.run(username, migration.migrate_event, event_id, to_version, mapping)

    def migration_dry_run(
        self, from_version: int, to_version: int, mapping: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """:meth:`migration_plan` for every unfinished event on ``from_version`` (nothing moves)."""
        return migration.dry_run(self, from_version, to_version, mapping)

    def step_mapping(self, from_version: int, to_version: int) -> dict[str, Any]:
        """The steps of ``from_version`` that ``to_version`` has no element of the same id for, the elements new
        in ``to_version``, and the renaming proposed for each (same name and type)."""
        with self.db.reading() as session:
            return migration.step_mapping(session, self.parts.versions, from_version, to_version)

    def write_monthly_report(self, by: str | Actor, period: str) -> dict[str, Any]:
        """Write and keep the evaluation report of month ``period`` (``YYYY-MM``): evaluators, auditors and
        administrators, or the system (see :mod:`engine.commands.reports`)."""
        return self.pipeline.run(by, reports.write, period)

    def set_boundaries(self, by: str | Actor, document: Any, dry_run: bool = False) -> dict[str, Any]:
        """Load the units' boundaries from a GeoJSON FeatureCollection (administrators, or the system), checked
        whole; ``dry_run`` says what would change and writes nothing (see :mod:`engine.commands.grids`)."""
        return self.pipeline.run(by, grids.set_boundaries, document, dry_run)

    def redivide(
        self, by: str | Actor, community: str, document: Any, dry_run: bool = False
    ) -> dict[str, Any]:
        """Re-divide a community's grids into those a GeoJSON FeatureCollection gives (administrators, or the
        system); ``dry_run`` previews what would move (see :func:`engine.commands.grids.redivide`)."""
        return self.pipeline.run(by, grids.redivide, community, document, dry_run)

    def import_ledger(
        self, by: str | Actor, filename: str, content: bytes, dry_run: bool = False
    ) -> dict[str, Any]:
        """Import a household-ledger file (CSV or XLSX; see :mod:`engine.commands.ledger`)."""
        return self.pipeline.run(by, ledger.import_rows, filename, content, dry_run)

    def edit_person(self, by: str | Actor, person_id: int, values: dict[str, str]) -> dict[str, Any]:
        """Change a ledger person's details (see :func:`engine.commands.ledger.edit_person`)."""
        return self.pipeline.run(by, ledger.edit_person, person_id, values)

    def add_person(self, by: str | Actor, dwelling_id: int, values: dict[str, str]) -> dict[str, Any]:
        """Add a person to a ledger dwelling (see :func:`engine.commands.ledger.add_person`)."""
        return self.pipeline.run(by, ledger.add_person, dwelling_id, values)

    def move_out(self, by: str | Actor, person_id: int) -> dict[str, Any]:
        """Mark a ledger person as moved out (see :func:`engine.commands.ledger.move_out`)."""
        return self.pipeline.run(by, ledger.move_out, person_id)

    def unmask_person(self, by: str | Actor, person_id: int) -> dict[str, Any]:
        """A ledger person's identity and phone numbers whole, the viewing logged (see :mod:`engine.commands.ledger`)."""
        return self.pipeline.run(by, ledger.unmask, person_id)

    def start_due_visits(self, by: str = "visits") -> dict[str, Any]:
        """Start the visit duties due as of the engine clock's today (see :mod:`engine.commands.visits`): the
        schedulers ask each morning and at start."""
        return self.pipeline.run(system(by), visits.start_due)

    def boundaries(self) -> dict[str, Any]:
        """The units' boundaries as a GeoJSON FeatureCollection, units without one left out."""
        with self.db.reading() as session:
            return geography.feature_collection(session.scalars(select(OrgUnit).order_by(OrgUnit.code)))

    def write_due_monthly_report(self, by: str = "scheduler") -> dict[str, Any] | None:
        """Write the report of the month just ended unless one is kept (None then): the scheduler's monthly job."""
        return self.pipeline.run(system(by), reports.write_due)

    def monthly_reports(self, username: str) -> list[dict[str, Any]]:
        """The kept monthly reports, newest first (no content)."""
        with self.reading(username) as reader:
            return report_views.monthly_reports(reader)

    def monthly_report(self, username: str, report_id: int) -> tuple[str, bytes]:
        """A kept monthly report's file name and XLSX content."""
        with self.reading(username) as reader:
            return report_views.monthly_report(reader, report_id)

    def monthly_report_content(self, report_id: int) -> bytes:
        """A kept monthly report's XLSX content, for the system (the CLI's ``--out``)."""
        with self.db.reading() as session:
            return report_views.monthly_report(self.reader(system("cli"), session), report_id)[1]

    def what_if(
        self, username: str, version_id: int, first: date | None = None, last: date | None = None
    ) -> dict[str, Any]:
        """The cases of a period (by default the last full month) played through version ``version_id`` of their
        process beside how they ran: per step and per case (:mod:`engine.reads.whatif`). Nothing changes."""
        with self.reading(username) as reader:
            if first is None or last is None:
                first, last = whatif.last_month(reader.now().astimezone(reader.calendar().timezone).date())
            return whatif.what_if(reader, version_id, first, last)

    def migrate_version(
        self, username: str, from_version: int, to_version: int, mapping: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Migrate every unfinished event on ``from_version``; those that cannot move are listed with why."""
        return migration.migrate_version(self, username, from_version, to_version, mapping)

    # ------------------------------------------------------------------ timers

    def add_timer_listener(self, listener: Callable[[datetime], None]) -> None:
        """Be told the due time of every timer a command of this process adds or moves (the scheduler arms
        itself with it)."""
        self.parts.timer_listeners.append(listener)

    def next_timer_due(self) -> datetime | None:
        """When the scheduler must next wake: a BPMN timer falls due, or a sheet is to be issued or escalated."""
        with self.db.reading() as session:
            moments = [timer_rows.next_due(session), supervising.next_due(self, session)]
        found = [m for m in moments if m is not None]
        return min(found) if found else None

    def supervise(self, fired_by: str = "supervision") -> dict[str, int]:
        """Issue sheets for what has gone red and escalate overdue sheets, as of the engine clock's now."""
        return supervising.scan(self, fired_by)

    def write_checkpoint(self, unless_within: timedelta | None = None) -> Path | None:
        """Write a signed audit checkpoint — the admin log's and every event's history length and head, as of
        the engine clock's now, in one snapshot — into the checkpoint directory, outside the database; return
        its file. With ``unless_within``, nothing is written (None) when the directory holds a checkpoint that
        recent already: each scheduler asks daily, and several schedulers make about one a day between them.
        See :mod:`engine.audit.checkpoints`."""
        now = self.now()
        newest = self.parts.checkpoints.newest()
        if unless_within is not None and newest is not None and now - newest < unless_within:
            return None
        with self.db.reading() as session:
            return self.parts.checkpoints.write(session, now)

    def retention_cut_off(self) -> datetime | None:
        """The cut-off the ``retention_years`` setting gives as of the engine clock's now: finished cases last
        changed before it are due for archiving (None: the district keeps every case)."""
        years = self.get_setting("retention_years")
        return None if years is None else retention.cut_off(self.now(), int(years))

    def archive(
        self,
        by: str,
        before: datetime,
        folder: Path | None = None,
        batch: int = retention.BATCH,
        dry_run: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> retention.ArchiveResult:
        """Move the finished cases last changed before ``before`` out of the live database into archive files in
        ``folder`` (default: ``GRIDLOOP_ARCHIVE_DIR``, else ``instance/archive``), ``batch`` events per file and
        transaction, each batch logged ``archived`` in the admin log (``by`` names who did it); with
        ``dry_run``, only count them. See :mod:`engine.commands.retention`."""
        chosen = folder if folder is not None else default_archive_dir()
        return retention.archive_all(
            self, by, before, chosen, batch=batch, dry_run=dry_run, progress=progress
        )

    def tick(self, fired_by: str = "tick", limit: int = 1000) -> int:
        """Fire every timer due by the engine clock's now; return how many this call fired."""
        with self.db.reading() as session:
            due = timer_rows.due(session, self.now(), limit)
        fired = 0
        for timer_id in due:
            try:
                fired += self.fire_timer(timer_id, fired_by)
            except Conflict:
                continue  # another scheduler fired it, or changed the event meanwhile
        return fired

    def fire_timer(self, timer_id: int, fired_by: str = "scheduler") -> bool:
        """Fire one due timer in one transaction; False when it is not (or no longer) pending and due."""
        return self.pipeline.run(system(fired_by), timers.fire, timer_id, fired_by)

    # ------------------------------------------------------- staff and files

    def sign_in(
        self,
        username: str,
        password: str,
        address: str = auth.LOCAL,
        kind: str = "session",
        lifetime: timedelta = timedelta(hours=12),
    ) -> auth.SignedIn:
        """Check a sign-in from ``address`` and issue an access token of ``kind`` (a web session, an API token)
        valid for ``lifetime``; a failure is counted (and may lock the account or the address) and logged even
        though it raises. See :mod:`engine.org.auth`."""
        outcome = self.pipeline.run(
            system(username), admin.sign_in, username, password, address, kind, lifetime
        )
        if isinstance(outcome, auth.AuthenticationFailed):
            raise outcome
        return outcome

    def sign_out(self, username: str, token_id: str) -> None:
        """End one of the user's own sessions or tokens."""
        self.pipeline.run(username, admin.sign_out, token_id)

    def sign_out_everywhere(self, by: str | Actor, username: str) -> int:
        """End every session and token of ``username`` (one's own, or an admin's doing); how many were live."""
        return self.pipeline.run(by, admin.sign_out_everywhere, username)

    def revoke_token(self, by: str | Actor, token_id: str) -> None:
        """Revoke one session or API token (an admin, or the system: the CLI)."""
        self.pipeline.run(by, admin.revoke_token, token_id)

    def set_user_active(self, by: str | Actor, username: str, active: bool) -> None:
        """Disable a staff account (its sessions and tokens end) or enable it again."""
        self.pipeline.run(by, admin.set_active, username, active)

    def access_tokens(self, username: str | None = None) -> list[dict[str, Any]]:
        """Live sessions and API tokens, newest first (of one user, or everyone's): for admins to review."""
        with self.db.reading() as session:
            return [
                {
                    "id": t.id,
                    "kind": t.kind,
                    "username": t.username,
                    "issued_at": t.issued_at,
                    "expires_at": t.expires_at,
                    "address": t.address,
                }
                for t in auth.live_tokens(session, self.parts.clock.now(), username)
            ]

    def load_actor(self, username: str, token_id: str | None = None) -> Actor:
        """The user with their roles, fresh from the database — once per read scope: a request loads its
        user once, however many reads ask for them. With ``token_id``, the session or token must be live
        (:class:`~engine.org.auth.AuthenticationFailed` ``auth.revoked`` when not: revoked, expired, issued under
        older credentials)."""
        with self.db.read_scope() as scope:
            if token_id is None:
                return scope.once(("actor", username), lambda: people.load_actor(scope.session, username))
            now = self.parts.clock.now()
            actor = scope.once(
                ("token", token_id), lambda: auth.check_token(scope.session, token_id, username, now)
            )
            # the request's later reads ask for the user by name: the same load serves them
            return scope.once(("actor", username), lambda: actor)

    def user_language(self, username: str) -> str:
        """The user's interface language (``zh`` or ``en``)."""
        with self.db.reading() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                raise NotFound("no user {username!r}", code="user.not_found", username=username)
            return user.language or "zh"

    def set_user_language(self, username: str, language: str) -> None:
        """Choose the user's interface language."""
        self.pipeline.run(username, admin.set_language, language)

    def upload(self, username: str, filename: str, content: bytes) -> attachments.StoredAttachment:
        """Store an uploaded photo or document and return its id for use in form data."""
        return self.pipeline.run(username, admin.upload, filename, content)

    def attachment(self, username: str, attachment_id: str) -> tuple[attachments.StoredAttachment, bytes]:
        """An attachment's metadata and bytes, for those who may read an event using it, and its uploader;
        anyone else gets :class:`NotFound`, exactly as for an id that does not exist."""
        with self.reading(username) as reader:
            if not attachments.readable(reader.session, attachment_id, username, event_filter(reader.actor)):
                raise NotFound(
                    "no attachment {attachment}", code="attachment.not_found", attachment=attachment_id
                )
            return attachments.content(reader.session, attachment_id)

    # ----------------------------------------------------------------- queries

    def reader(self, actor: Actor, session: Session, language: str = SOURCE_LANGUAGE) -> Reader:
        """A reader for the read models of :mod:`engine.reads`: ``actor`` reading through ``session`` (the web
        UI passes its request's read session and signed-in user), names in ``language``."""
        parts = self.parts
        return Reader(
            session,
            actor,
            self.report_process(session),
            clock=parts.clock,
            versions=parts.versions,
            instances=parts.instances,
            org=parts.org,
            settings=parts.settings,
            forms=parts.forms,
            language=language,
        )

    @contextmanager
    def reading(self, username: str) -> Iterator[Reader]:
        """A reader for ``username`` in the current read scope (a scope of its own when none is open)."""
        with self.db.read_scope() as scope:
            yield self.reader(self.load_actor(username), scope.session)

    def task_detail(self, username: str, task_id: int) -> dict[str, Any]:
        """A task the actor may see, with its event, its form (choices filled in) and the data so far; see
        :func:`engine.reads.tasks.task_detail`."""
        with self.reading(username) as reader:
            return task_views.task_detail(reader, task_id)

    def evaluate(
        self,
        username: str,
        start: datetime,
        end: datetime,
        by: str = "department",
        as_of: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The evaluation (考核评价) of a period for the events in the user's scope, as it stands ``as_of``
        (default: the engine clock's now); see :func:`engine.reads.boards.evaluation`."""
        with self.reading(username) as reader:
            return boards.evaluation(reader, start, end, by, as_of)

    def evaluate_positions(
        self, username: str, start: datetime, end: datetime, as_of: datetime | None = None
    ) -> list[dict[str, Any]]:
        """The position evaluation (岗位评价) of a period for the events in the user's scope; see
        :func:`engine.reads.boards.position_board`."""
        with self.reading(username) as reader:
            return boards.position_board(reader, start, end, as_of)

    def inbox(self, username: str, view: str = "mine", **filters: Any) -> tuple[list[dict[str, Any]], int]:
        """One page of the user's inbox; see :func:`engine.reads.queries.inbox`."""
        with self.reading(username) as reader:
            return queries.inbox(reader.session, reader.actor, view, **filters)

    def event_detail(self, username: str, event_id: int) -> dict[str, Any]:
        """An event with its tasks and history, if the user may see it."""
        with self.reading(username) as reader:
            return event_views.event_detail(reader, event_id)

    def list_events(self, username: str, **filters: Any) -> tuple[list[dict[str, Any]], int]:
        """Events in the user's scope; see :func:`engine.reads.events.matching_events`."""
        with self.reading(username) as reader:
            return event_views.matching_events(reader, **filters)

    def notices(self, username: str, page: int = 1, per_page: int = 20, unread_only: bool = False) -> Listing:
        """One page of the user's own notices, newest first, with the unread count in ``counts``."""
        with self.reading(username) as reader:
            return notice_views.notice_page(reader, page, per_page, unread_only)

    def mark_notice_read(self, username: str, notice_id: int) -> dict[str, Any]:
        """Mark one of the user's notices read (anyone else's is :class:`NotFound`)."""
        return self.pipeline.run(username, notice_commands.mark_read, notice_id)

    def mark_all_notices_read(self, username: str) -> int:
        """Mark all the user's notices read; how many were unread."""
        return self.pipeline.run(username, notice_commands.mark_all_read)

    def deliver_notices(
        self, adapters: dict[str, outbox.Adapter] | None = None, limit: int = outbox.BATCH
    ) -> outbox.Delivery:
        """Send the due outbox rows through ``adapters`` (default: those the environment configures), with
        retries; see :mod:`engine.notices.outbox`."""
        chosen = outbox.adapters_from_environment() if adapters is None else adapters
        return outbox.deliver(self, chosen, self.parts.notice_texts, limit)

    def outbox_messages(
        self, statuses: tuple[str, ...] = ("pending", "sending", "failed")
    ) -> list[dict[str, Any]]:
        """The outbox rows of ``statuses``, oldest first (what waits to be sent, and what failed)."""
        with self.db.reading() as session:
            return outbox.messages(session, statuses)

    def sheets(self, username: str, status: str = "open") -> list[dict[str, Any]]:
        """The supervision sheets of ``status`` the user may see, most severe first."""
        with self.reading(username) as reader:
            return queries.sheet_board(reader.session, reader.actor, status)


class _Calendar:
    """Due times by the business calendar as it stands when a script asks (cached script engines see changes)."""

    def __init__(self, settings_cache: SettingsCache) -> None:
        self._settings = settings_cache

    def due_at(self, start: datetime, limit: float, unit: str) -> datetime:
        return self._settings.calendar().due_at(start, limit, unit)

    def shift_due(self, due: datetime, held_at: datetime, resumed_at: datetime, unit: str) -> datetime:
        return self._settings.calendar().shift_due(due, held_at, resumed_at, unit)
