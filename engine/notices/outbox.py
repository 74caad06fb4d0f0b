"""The outbox: notices sent on through channels (a webhook today; an SMS gateway, WeChat Work, e-mail alike),
written with the notice and delivered after the command by the channel's adapter, with retries.

Writing: for each notice, one row per channel the ``notice_channels`` setting names (default none) where the
user has an address — for the webhook their phone, else their e-mail (the gateway behind it reaches them by
one or the other). Delivering (:func:`deliver`, run by ``gridloop notices deliver`` and every scheduler):

1. a command claims up to ``limit`` due rows of the channels that have an adapter here — pending rows whose
   next attempt is due, and rows left ``sending`` by a worker that died (its lease, :data:`LEASE`, ran out):
   ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, and on both databases an update guarded by the row's old status
   and attempt count, so two workers never claim one row; each claim counts an attempt;
2. the adapter sends each claimed message, outside any transaction;
3. a command per row settles it — ``sent``; or back to ``pending`` with the next attempt after a back-off
   doubling from :data:`RETRY_FIRST` up to :data:`RETRY_LONGEST` and the error kept; or ``failed`` once the
   ``notice_max_attempts`` setting's attempts are spent — guarded by the attempt count it claimed with.

A message can reach its receiver twice only when a worker dies between the send and the settle (or a send
outlasts the lease): the webhook's ``X-Gridloop-Delivery`` header lets the receiver drop the repeat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from engine import settings
from engine.notices.webhook import DeliveryFailed, Webhook
from engine.org.people import Actor
from engine.store.models import OutboxMessage

if TYPE_CHECKING:
    from engine.app import Gridloop
    from engine.commands.pipeline import Step

STATUSES: tuple[str, ...] = ("pending", "sending", "sent", "failed")
LEASE = timedelta(minutes=5)  # how long a claimed row is the claimer's before another worker may take it over
RETRY_FIRST = timedelta(minutes=1)
RETRY_LONGEST = timedelta(hours=1)
BATCH = 100
WORKER = "outbox"  # the actor the delivery's commands run as

# where a channel reaches a user: the address, or None when they have none for it
ADDRESSES: dict[str, Callable[[Any], str | None]] = {
    "webhook": lambda user: user.phone or user.email,
}


class Adapter(Protocol):
    """A channel's adapter: sends one message, or raises :class:`DeliveryFailed` saying why not."""

    def send(self, delivery_id: int, message: dict[str, Any]) -> None:
        """Send ``message`` (``delivery_id`` names the outbox row, the same on every retry)."""


# a message's title, text and link in the recipient's language, from its payload (the web UI gives the catalogs')
Texts = Callable[[dict[str, Any]], dict[str, str]]


def untranslated(payload: dict[str, Any]) -> dict[str, str]:
    """Texts for an engine running without the web UI's catalogs: the kind and the case's code."""
    return {"title": payload["kind"], "text": payload.get("event_code") or "", "link": ""}


def adapters_from_environment() -> dict[str, Adapter]:
    """The adapters this process's environment configures (the webhook: ``GRIDLOOP_NOTICE_WEBHOOK_URL``)."""
    webhook = Webhook.from_environment()
    return {"webhook": webhook} if webhook is not None else {}


def wanted(step: Step) -> bool:
    """Whether notices are sent on by any channel (the setting ``notice_channels``)."""
    return bool(step.parts.settings.value("notice_channels", step.session))


def write(step: Step, notices: Iterable[tuple[dict[str, Any], Any]]) -> None:
    """Write the outbox rows of new notices (each with its user's username, phone, e-mail and language) in the
    command's transaction."""
    channels = step.parts.settings.value("notice_channels", step.session)
    if not channels:
        return
    rows = []
    for notice, user in notices:
        for channel in channels:
            address = ADDRESSES[channel](user)
            if not address:
                continue
            rows.append(
                {
                    "notice_id": notice["id"],
                    "channel": channel,
                    "recipient": address,
                    "payload": {
                        "notice_id": notice["id"],
                        "kind": notice["kind"],
                        "username": user.username,
                        "phone": user.phone,
                        "email": user.email,
                        "language": user.language or "zh",
                        "event_id": notice["event_id"],
                        "event_code": notice["data"].get("event_code") or "",
                        "task_id": notice["task_id"],
                        "data": notice["data"],
                    },
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": step.now,
                    "created_at": step.now,
                }
            )
    if rows:
        step.conn.execute(insert(OutboxMessage), rows)


@dataclass(frozen=True)
class Claimed:
    """A row claimed for one attempt: its id, channel, payload and the attempt count the claim gave it."""

    id: int
    channel: str
    payload: dict[str, Any]
    attempts: int


def claim(step: Step, channels: list[str], limit: int) -> list[Claimed]:
    """Claim up to ``limit`` due rows of ``channels`` (see the module's documentation)."""
    session, now = step.session, step.now
    query = (
        select(OutboxMessage.id, OutboxMessage.status, OutboxMessage.attempts)
        .where(
            OutboxMessage.status.in_(("pending", "sending")),
            OutboxMessage.next_attempt_at <= now,
            OutboxMessage.channel.in_(channels),
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    if step.parts.db.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    taken: dict[int, int] = {}
    for row in session.execute(query).all():
        moved = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == row.id,
                OutboxMessage.status == row.status,
                OutboxMessage.attempts == row.attempts,
            )
            .values(status="sending", attempts=row.attempts + 1, next_attempt_at=now + LEASE)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount == 1:  # type: ignore[attr-defined]
            taken[row.id] = row.attempts + 1
    if not taken:
        return []
    rows = session.execute(
        select(OutboxMessage.id, OutboxMessage.channel, OutboxMessage.payload).where(
            OutboxMessage.id.in_(sorted(taken))
        )
    ).all()
    return [Claimed(r.id, r.channel, r.payload, taken[r.id]) for r in sorted(rows, key=lambda r: r.id)]


def retry_after(attempts: int) -> timedelta:
    """How long after its ``attempts``-th failed attempt a message is tried again."""
    return min(RETRY_FIRST * 2 ** max(attempts - 1, 0), RETRY_LONGEST)


def settle(step: Step, claimed_id: int, attempts: int, error: str | None) -> str:
    """Record the outcome of an attempt: ``sent``, ``pending`` again (with a back-off) or ``failed``; return
    the status (``lost`` when another worker took the row over meanwhile, which then settles it)."""
    now = step.now
    if error is None:
        values: dict[str, Any] = {"status": "sent", "sent_at": now, "last_error": None}
    elif attempts >= int(settings.get(step.session, "notice_max_attempts")):
        values = {"status": "failed", "last_error": error}
    else:
        values = {"status": "pending", "next_attempt_at": now + retry_after(attempts), "last_error": error}
    moved = step.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == claimed_id,
            OutboxMessage.status == "sending",
            OutboxMessage.attempts == attempts,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return values["status"] if moved.rowcount == 1 else "lost"  # type: ignore[attr-defined]


@dataclass
class Delivery:
    """What one round of delivery did, by outcome."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    lost: int = 0

    def count(self, status: str) -> None:
        """Count one settled row."""
        name = {"sent": "sent", "pending": "retrying", "failed": "failed"}.get(status, "lost")
        setattr(self, name, getattr(self, name) + 1)


def deliver(gl: Gridloop, adapters: dict[str, Adapter], texts: Texts, limit: int = BATCH) -> Delivery:
    """Deliver the due outbox rows of the channels in ``adapters``, ``limit`` at a time until none is due."""
    done = Delivery()
    if not adapters:
        return done
    by = Actor(username=WORKER, display_name=WORKER)  # the system, as the pipeline's system() makes it
    while True:
        claimed = gl.pipeline.run(by, claim, sorted(adapters), limit)
        for message in claimed:
            error = None
            try:
                adapters[message.channel].send(message.id, {**message.payload, **texts(message.payload)})
            except DeliveryFailed as exc:
                error = str(exc)
            done.count(gl.pipeline.run(by, settle, message.id, message.attempts, error))
        if len(claimed) < limit:
            return done


def messages(session: Session, statuses: tuple[str, ...], limit: int = 200) -> list[dict[str, Any]]:
    """Outbox rows of ``statuses``, oldest first: for ``gridloop notices outbox``."""
    rows = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.status.in_(statuses))
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
        .limit(limit)
    )
    return [
        {
            "id": r.id,
            "notice": r.notice_id,
            "channel": r.channel,
            "recipient": r.recipient,
            "kind": r.payload.get("kind"),
            "status": r.status,
            "attempts": r.attempts,
            "next_attempt_at": r.next_attempt_at,
            "last_error": r.last_error,
            "created_at": r.created_at,
            "sent_at": r.sent_at,
        }
        for r in rows
    ]
