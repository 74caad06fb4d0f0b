"""The outbox: a notice goes out through each configured channel where its user has an address, delivered to
a real HTTP server on 127.0.0.1 — at once, after a 500 on retry, or after the attempts run out as failed —
signed, claimed by one worker only. The clock is the injected ManualClock: retries fall due by moving it."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select, update

from engine.commands.pipeline import system
from engine.errors import ValidationFailed
from engine.notices import outbox
from engine.notices.webhook import DELIVERY_HEADER, SIGNATURE_HEADER, Webhook, sign
from engine.store.models import OutboxMessage, User
from webui.notices import install

SECRET = "shared-secret"
WORKER = system(outbox.WORKER)


class Receiver:
    """A webhook receiver on a random local port that answers the statuses it is told to, then 204."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(
                    {
                        "body": json.loads(body),
                        "signed": self.headers[SIGNATURE_HEADER] == sign(SECRET, body),
                        "delivery": self.headers[DELIVERY_HEADER],
                    }
                )
                self.send_response(receiver.answers.pop(0) if receiver.answers else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def with_phone(gl: Any, username: str, phone: str | None) -> None:
    def set_phone(step: Any) -> None:
        step.session.execute(update(User).where(User.username == username).values(phone=phone))

    gl.pipeline.run("admin", set_phone)


def rows(gl: Any) -> list[OutboxMessage]:
    with gl.db.reading() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


@pytest.fixture
def configured(gl: Any) -> Any:
    """The webhook channel on, the intake clerk with a phone, the catalogs' texts installed."""
    gl.change_setting("admin", "notice_channels", ["webhook"])
    with_phone(gl, "intake", "13800000001")
    return install(gl)


def test_no_channel_configured_writes_no_outbox_rows(driver):
    with_phone(driver.gl, "intake", "13800000001")
    driver.report("gw_hb1")
    assert driver.gl.notices("intake").total == 1
    assert rows(driver.gl) == []


def test_only_users_with_an_address_get_an_outbox_row(driver, configured):
    event_id = driver.report("gw_hb1")
    written = rows(driver.gl)
    assert [(r.channel, r.recipient, r.status, r.attempts) for r in written] == [
        ("webhook", "13800000001", "pending", 0)
    ]
    assert written[0].payload["event_id"] == event_id and written[0].payload["username"] == "intake"


def test_delivered_signed_with_texts_in_the_recipients_language(driver, configured, receiver):
    gl = driver.gl
    event_id = driver.report("gw_hb1")
    done = gl.deliver_notices({"webhook": Webhook(receiver.url, SECRET)})
    assert (done.sent, done.retrying, done.failed) == (1, 0, 0)
    [got] = receiver.received
    body = got["body"]
    assert got["signed"] and got["delivery"] == str(rows(gl)[0].id)
    assert (body["kind"], body["username"], body["phone"], body["event_id"]) == (
        "task_offered",
        "intake",
        "13800000001",
        event_id,
    )
    assert body["title"] == "新任务" and body["event_code"] in body["text"]
    assert body["link"].endswith(f"/tasks/{body['task_id']}")
    [row] = rows(gl)
    assert (row.status, row.attempts, row.sent_at) == ("sent", 1, gl.now())
    assert gl.deliver_notices({"webhook": Webhook(receiver.url, SECRET)}).sent == 0, "sent once only"


def test_a_500_is_retried_after_the_back_off_and_then_delivered(driver, configured, receiver):
    gl = driver.gl
    driver.report("gw_hb1")
    receiver.answers = [500]
    hook = {"webhook": Webhook(receiver.url, SECRET)}
    assert gl.deliver_notices(hook).retrying == 1
    [row] = rows(gl)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error.startswith("HTTP 500")
    assert row.next_attempt_at == gl.now() + outbox.RETRY_FIRST
    assert gl.deliver_notices(hook).sent == 0, "not yet due"
    gl.clock.advance(outbox.RETRY_FIRST)
    assert gl.deliver_notices(hook).sent == 1
    assert [r.status for r in rows(gl)] == ["sent"]
    assert len(receiver.received) == 2


def test_an_unreachable_receiver_backs_off_and_fails_after_the_attempts(driver, configured):
    gl = driver.gl
    gl.change_setting("admin", "notice_max_attempts", 3)
    driver.report("gw_hb1")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hook = {"webhook": Webhook(f"http://127.0.0.1:{port}/hook")}
    waits = []
    for _ in range(3):
        gl.deliver_notices(hook)
        [row] = rows(gl)
        waits.append(row.next_attempt_at - gl.now())
        gl.clock.advance(timedelta(hours=2))
    [row] = rows(gl)
    assert (row.status, row.attempts) == ("failed", 3)
    assert row.last_error
    assert waits[:2] == [outbox.RETRY_FIRST, outbox.RETRY_FIRST * 2], "the back-off doubles"
    assert [m["status"] for m in gl.outbox_messages()] == ["failed"]
    assert gl.deliver_notices(hook).failed == 0, "a failed message is not tried again"


def test_two_workers_never_claim_one_row(driver, configured):
    gl = driver.gl
    driver.report("gw_hb1")
    first = gl.pipeline.run(WORKER, outbox.claim, ["webhook"], 10)
    second = gl.pipeline.run(WORKER, outbox.claim, ["webhook"], 10)
    assert len(first) == 1 and second == [], "a claimed row is the claimer's for its lease"
    gl.clock.advance(outbox.LEASE + timedelta(seconds=1))
    taken_over = gl.pipeline.run(WORKER, outbox.claim, ["webhook"], 10)
    assert [m.attempts for m in taken_over] == [2], "a dead worker's row is taken over after the lease"
    assert gl.pipeline.run(WORKER, outbox.settle, first[0].id, first[0].attempts, None) == "lost"
    assert gl.pipeline.run(WORKER, outbox.settle, first[0].id, 2, None) == "sent"


def test_bad_channel_settings_are_refused(gl):
    with pytest.raises(ValidationFailed):
        gl.change_setting("admin", "notice_channels", ["pigeon"])
    with pytest.raises(ValidationFailed):
        gl.change_setting("admin", "notice_max_attempts", 0)
    assert gl.get_setting("notice_channels") == []
