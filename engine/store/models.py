"""The store's tables (SQLAlchemy 2 declarative models).

One row of ``events`` is one grid event and its process instance: the event's own columns (code, category,
grid, state, counters) sit beside the pinned process version, the workflow state in gridloop's versioned
format and a ``version`` column that detects concurrent changes. Inbox rows (``tasks``), the append-only
``history``, the organisation and the deployed process versions live in their own tables.
Schema changes go through Alembic migrations in ``engine/store/migrations``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite keeps no zone, so it is stripped and restored)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("gridloop stores only timezone-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def Code(length: int) -> Any:  # noqa: N802 (a column type, named as the types are)
    """A column of codes (event codes, unit codes, category codes): compared character by character on every
    backend — PostgreSQL's "C" collation, SQLite's binary one — so a code's prefix is a range its index serves
    (:func:`code_prefix`) and "inside this unit" a prefix test whatever the database's own collation."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def code_prefix(column: Any, prefix: str) -> Any:
    """SQL: ``column`` (a :func:`Code` column) starts with ``prefix`` — as the range of codes from the prefix to
    the next prefix, which the column's index serves on every backend (a LIKE is served on neither: SQLite's
    ignores case, and a bound ``LIKE :p || '%'`` is no constant to the planner)."""
    if not prefix:
        return column.is_not(None)
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return and_(column >= prefix, column < upper)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class OrgUnit(Base):
    """A level of the grid hierarchy: district → town/street → community/village → grid.

    Codes follow the administrative-division style: a child's code starts with its parent's code, so
    "inside this unit" is a prefix test.
    """

    __tablename__ = "org_units"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("org_units.code"), nullable=True)
    # the unit's boundary: a GeoJSON Polygon or MultiPolygon in WGS-84 / CGCS2000 longitude-latitude
    # (engine.org.geography); None while none has been loaded
    boundary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # the span the unit is valid in (a re-divided grid ends and keeps its history): None is open
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # a re-divided grid's successor: the new grid that took the largest share of its area, where the steps of
    # its cases still open are offered (engine.commands.grids.redivide)
    successor_code: Mapped[str | None] = mapped_column(String(32), nullable=True)


class Department(Base):
    """A functional department (环卫所, 司法所 …) of a kind, hanging under an org unit."""

    __tablename__ = "departments"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32), index=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("org_units.code"))


class User(Base):
    """A member of staff. Passwords are stored as salted hashes only."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str | None] = mapped_column(String(256), nullable=True)
    language: Mapped[str] = mapped_column(String(8), default="zh")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # moved on by every change of what the user may do (password, roles, sign-out everywhere, disabling):
    # sessions and API tokens carry the number they were issued under, and an older one is refused
    credential_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # where channel adapters reach the user (an SMS gateway, WeChat Work, e-mail): optional
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    email: Mapped[str | None] = mapped_column(String(200), nullable=True)
    assignments: Mapped[list[RoleAssignment]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )


class RoleAssignment(Base):
    """A role a user holds within a scope (an org unit), optionally for one department."""

    __tablename__ = "role_assignments"
    __table_args__ = (UniqueConstraint("user_id", "role", "scope_code", "department_code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32))
    scope_code: Mapped[str] = mapped_column(ForeignKey("org_units.code"))
    department_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"), nullable=True)
    user: Mapped[User] = relationship(back_populates="assignments")


class ProcessVersion(Base):
    """An immutable, content-hashed deployment of a process model with its DMN tables and forms, and where it
    stands in its life cycle (``status``): a *draft* after deploy, *active* — the one version new instances of
    the process start on — after activation, *retired* when no new instance starts on it (running instances
    go on; see :mod:`engine.commands.versions`)."""

    __tablename__ = "process_versions"
    __table_args__ = (
        Index(
            "ux_process_versions_active",
            "process_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(64), index=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    files: Mapped[dict[str, str]] = mapped_column(JSON)
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deployed_by: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="draft", server_default="draft")
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    activated_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    retired_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # the version that was active when this one was activated: what a rollback of this one re-activates
    previous_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Event(Base):
    """A grid event and its process instance."""

    __tablename__ = "events"
    __table_args__ = (
        # the open cases, newest first (the map's points): a few among the years kept
        Index("ix_events_completed_reported_at", "completed", "reported_at"),
        # a sub-category's cases, newest first (the events list searched by category and period), with their
        # grid for the scope (the list's count is the index's alone)
        Index("ix_events_category_reported_at", "category", "reported_at", "id", "grid_code"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str | None] = mapped_column(Code(32), unique=True, nullable=True)
    process_version_id: Mapped[int] = mapped_column(ForeignKey("process_versions.id"), index=True)
    category: Mapped[str] = mapped_column(Code(16))
    grid_code: Mapped[str] = mapped_column(Code(32), ForeignKey("org_units.code"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    # the description's full-text index terms (engine.store.search), indexed by the database's own machinery
    search_terms: Mapped[str | None] = mapped_column(Text, nullable=True, deferred=True)
    address: Mapped[str | None] = mapped_column(String(200), nullable=True)
    location: Mapped[dict[str, float] | None] = mapped_column(JSON, nullable=True)
    # how the case was placed when the report gave a point and no grid: "point" (in the grid whose boundary
    # holds it) or "fallback" (属地兜底: in no grid, placed with the smallest unit covering it); None: the
    # report named its grid
    placement: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # the household of the ledger the event concerns (a report raised on the spot from a visit), if any
    dwelling_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    reporter: Mapped[str] = mapped_column(String(64))
    # a public channel's reporter (the caller of a hotline, a WeChat user) and the channel's own reference
    # number (the 12345 work-order number): None for staff reports
    reporter_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reporter_phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    channel_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    handling_level: Mapped[str | None] = mapped_column(String(16), nullable=True)
    department_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # the evaluation's period ranges (engine.evaluation.metrics): one index each
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    # the department's handling limit (处置时限, ``due_at``) runs from its dispatch to its report back: the case's
    # light follows it while a department holds the case, and the on-time verdict is the report back's
    handling_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # the level the routing table first gave the case (``handling_level`` is the level that handles it now):
    # the levels between reported it up (上报)
    opened_level: Mapped[str | None] = mapped_column(String(16), nullable=True)
    closed_on_time: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    satisfaction: Mapped[str | None] = mapped_column(String(32), nullable=True)
    rework_count: Mapped[int] = mapped_column(Integer, default=0)
    reassign_count: Mapped[int] = mapped_column(Integer, default=0)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    completed: Mapped[bool] = mapped_column(Boolean, default=False)
    # the instance's checkpoint, as of history record ``state_seq`` (0: none yet); the records after it are
    # replayed onto it when the instance is not in memory (see Gridloop._restore)
    workflow_state: Mapped[str] = mapped_column(Text, deferred=True)
    state_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    state_format: Mapped[int] = mapped_column(Integer)
    history_head: Mapped[str | None] = mapped_column(String(64), nullable=True)
    history_length: Mapped[int] = mapped_column(Integer, default=0)
    light: Mapped[str | None] = mapped_column(String(16), nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}


class Task(Base):
    """An inbox row: one human task of an event, offered to a role within a scope or to a department."""

    __tablename__ = "tasks"
    # (event_id, spiff_task_id) is unique and serves the event's lookups: one index where two would be
    # written on every insert
    __table_args__ = (
        Index("ix_tasks_status_role", "status", "role"),
        # the platform's steps completed in a period (the evaluation's 派遣, 核实, 核查 … counts)
        Index("ix_tasks_bpmn_id_completed_at", "bpmn_id", "completed_at"),
        # the inbox's views of one user: "mine" (open tasks assigned) and "done" (newest completed first; with
        # the status, so that the view's bounded count reads the index alone)
        Index("ix_tasks_assignee_status", "assignee", "status"),
        Index("ix_tasks_completed_by_completed_at", "completed_by", "completed_at", "status"),
        UniqueConstraint("event_id", "spiff_task_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    spiff_task_id: Mapped[str] = mapped_column(String(36))
    bpmn_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    lane: Mapped[str | None] = mapped_column(String(64), nullable=True)
    role: Mapped[str] = mapped_column(String(32))
    # matched by prefix against the actor's scopes (the open tasks of a role are few): not indexed
    scope_code: Mapped[str] = mapped_column(Code(32))
    department_code: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    form: Mapped[str | None] = mapped_column(String(100), nullable=True)
    assignee: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    # the evaluation's period ranges of department tasks (engine.evaluation.metrics): one index each
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    completed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    light: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # the day the assignee means to come back to the task (a Tasklist "follow-up date"), and who delegated
    # it to the assignee (the task returns to them when it is given back)
    follow_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    delegated_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class HistoryEntry(Base):
    """One append-only, hash-chained record of what happened to an event."""

    __tablename__ = "history"
    __table_args__ = (UniqueConstraint("event_id", "seq"),)  # also the index of an event's records
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    process_version_id: Mapped[int] = mapped_column(Integer)
    bpmn_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    task_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hash: Mapped[str] = mapped_column(String(64))
    # the audit key the record is authenticated with (an HMAC key kept outside the database)
    key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


class Setting(Base):
    """A district-tunable setting (working hours, thresholds, weights …) as JSON."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Attachment(Base):
    """An uploaded photo or document, kept out of task data (forms carry its id only)."""

    __tablename__ = "attachments"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AttachmentLink(Base):
    """An attachment used by an event (in its report or a task's form data): it may be read by those who may
    read the event."""

    __tablename__ = "attachment_links"
    attachment_id: Mapped[str] = mapped_column(ForeignKey("attachments.id"), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), primary_key=True)


class Timer(Base):
    """A pending BPMN timer of an event (boundary or intermediate), mirrored here so schedulers can find it.

    Firing claims the row and bumps the event's version in one transaction, so each timer fires exactly once
    however many schedulers race for it.
    """

    __tablename__ = "timers"
    # a BPMN task id is its instance's own: unique within the event, and the one index of the event's lookups
    __table_args__ = (
        Index("ix_timers_status_due", "status", "due_at"),
        UniqueConstraint("event_id", "spiff_task_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    spiff_task_id: Mapped[str] = mapped_column(String(36))
    bpmn_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    fired_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class CalendarDay(Base):
    """An admin-entered exception to the working-day rule: an official holiday or a make-up working day (调休)."""

    __tablename__ = "calendar_days"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(String(100), nullable=True)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SupervisionSheet(Base):
    """A supervision sheet (督办单) charged to one department for one event (and, for a task, that task).

    Issued automatically when a case or a department's task goes red, or by a leader; escalated (yellow card,
    red card) while it stays overdue; cleared (销号) only once the case is closed after verification — and a
    leader's sheet only once the department has replied.
    """

    __tablename__ = "supervision_sheets"
    __table_args__ = (Index("ix_supervision_sheets_status_department", "status", "department_code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"), nullable=True, index=True)
    department_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))
    card: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    issued_by: Mapped[str] = mapped_column(String(64))
    due_reference: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reply: Mapped[str | None] = mapped_column(Text, nullable=True)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    replied_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # the appeal (申诉) against the sheet's deduction: the instance of the appeal process it was appealed by,
    # whose outcome the evaluator decides (an upheld appeal lifts the deduction)
    appeal_event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"), nullable=True, index=True)


class AdminLogEntry(Base):
    """An append-only, hash-chained record of an administrative change that is not about one event:
    settings, the holiday calendar, deployments, staff and their roles."""

    __tablename__ = "admin_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


class AccessToken(Base):
    """What a sign-in issues — a web session or an API bearer token: listable and revocable, and valid only
    while the user's credential version is the one it was issued under (see :mod:`engine.org.auth`)."""

    __tablename__ = "access_tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    username: Mapped[str] = mapped_column(String(64), index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    credential_version: Mapped[int] = mapped_column(Integer)
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class SignInThrottle(Base):
    """Failed sign-ins counted per key — an account from one address, an address, an account from anywhere —
    in the database, so that every web worker counts the same failures atomically."""

    __tablename__ = "sign_in_throttle"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lockouts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Notice(Base):
    """A notice to one user of something the command pipeline did that concerns them: a task offered,
    returned, assigned or delegated, a light turning yellow or red, a sheet issued, escalated, replied or
    cleared, a leader's instruction, a request decided. Read in the notice centre; sent on by channel adapters
    through the :class:`OutboxMessage` rows written with it."""

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_username_read_at", "username", "read_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"), nullable=True)
    task_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OutboxMessage(Base):
    """A notice waiting to be sent on through a channel (a webhook, e-mail, an SMS gateway …), written in the
    same transaction as the notice and delivered after it by the channel's adapter, with retries."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SavedFilter(Base):
    """A user's named inbox filter (tab, step, category, light, words …), offered above their inbox."""

    __tablename__ = "saved_filters"
    __table_args__ = (UniqueConstraint("username", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    filters: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MonthlyReport(Base):
    """A month's evaluation report as the district sends it (an XLSX workbook: the standard's tables and the
    month's written analysis), kept as written; a period may be written again, each kept."""

    __tablename__ = "monthly_reports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(7), index=True)  # YYYY-MM
    written_at: Mapped[datetime] = mapped_column(UTCDateTime)
    written_by: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)


class LedgerBuilding(Base):
    """A building of a grid's household ledger (人房台账: 楼栋)."""

    __tablename__ = "ledger_buildings"
    __table_args__ = (UniqueConstraint("grid_code", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grid_code: Mapped[str] = mapped_column(ForeignKey("org_units.code"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(200), nullable=True)


class LedgerDwelling(Base):
    """A dwelling of a building: its unit (单元) and room (房号)."""

    __tablename__ = "ledger_dwellings"
    __table_args__ = (UniqueConstraint("building_id", "unit", "room"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("ledger_buildings.id"), index=True)
    unit: Mapped[str] = mapped_column(String(16))
    room: Mapped[str] = mapped_column(String(16))


class LedgerPerson(Base):
    """A person living in a dwelling. The identity and phone numbers are kept sealed (engine.ledger.personal:
    AES-GCM under a key the database does not hold), with a keyed index to find them and their masked form."""

    __tablename__ = "ledger_people"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dwelling_id: Mapped[int] = mapped_column(ForeignKey("ledger_dwellings.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    # registered (户籍), migrant (流动) or foreign (境外)
    kind: Mapped[str] = mapped_column(String(16))
    # people of concern and people needing care: key_person, elderly_alone, disabled …
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    id_cipher: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    id_index: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    id_masked: Mapped[str | None] = mapped_column(String(32), nullable=True)
    phone_cipher: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    phone_masked: Mapped[str | None] = mapped_column(String(32), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(64))
    # the day the person moved out (the ledger keeps them for its history; pages and visit duties leave them out)
    left_on: Mapped[date | None] = mapped_column(Date, nullable=True)


class LedgerVisit(Base):
    """A visit duty started (走访: engine.commands.visits): which duty, for which dwelling (and person, for a
    duty of a flag), as which instance, when — what says when the next is due."""

    __tablename__ = "ledger_visits"
    __table_args__ = (UniqueConstraint("duty", "dwelling_id", "person_id", "due_on"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    duty: Mapped[str] = mapped_column(String(64))
    dwelling_id: Mapped[int] = mapped_column(ForeignKey("ledger_dwellings.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_people.id"), nullable=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    due_on: Mapped[date] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
