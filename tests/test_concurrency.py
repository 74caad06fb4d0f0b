"""Two commands on one task at the same moment: exactly one wins, the other gets Conflict, nothing is lost.

Races run once with two threads sharing one engine object (one web process) and once with two engine
objects on the same database, each with its own caches (two processes). Then the windows a race can fall
into are forced: the other engine's command runs right after the first one has read the task.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from engine.app import Gridloop
from engine.errors import Conflict
from engine.store import statements

ACCEPT = {"decision": "accept"}
ROUNDS = 5


def attempt(command: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    """Run a command: ("ok", result), ("conflict", error) or ("error", any other error)."""
    try:
        return "ok", command(*args)
    except Conflict as exc:
        return "conflict", exc
    except Exception as exc:  # reported by the caller's assertion, with the error in its message
        return "error", exc


def together(*commands: Callable[[], Any]) -> list[Any]:
    """Run each command on a thread of its own, released together by a barrier; their results."""
    barrier = threading.Barrier(len(commands))
    results: list[Any] = []
    lock = threading.Lock()

    def run(command: Callable[[], Any]) -> None:
        barrier.wait()
        result = command()
        with lock:
            results.append(result)

    threads = [threading.Thread(target=run, args=(command,)) for command in commands]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a command hung"
    return results


def race(engines: list[Gridloop], task_id: int) -> list[tuple[str, Any]]:
    """Complete ``task_id`` as intake from one thread per engine, released together."""
    return together(*(partial(attempt, gl.complete, "intake", task_id, ACCEPT) for gl in engines))


def assert_accepted_once(driver: Any, event_id: int, task_id: int) -> None:
    """The accept task was completed once, by intake, and the event moved on to one dispatch task."""
    event = driver.event(event_id)
    completions = [h for h in event["history"] if h["action"] == "complete" and h["task"] == task_id]
    assert len(completions) == 1
    assert completions[0]["data"]["form"] == ACCEPT
    assert [h["seq"] for h in event["history"]] == list(range(1, len(event["history"]) + 1))
    accept = next(t for t in event["tasks"] if t["id"] == task_id)
    assert (accept["status"], accept["completed_by"]) == ("completed", "intake")
    assert [t["step"] for t in event["tasks"]] == ["accept", "dispatch"]
    assert [t["step"] for t in event["tasks"] if t["status"] == "open"] == ["dispatch"]
    assert event["state"] == "open"


def test_two_threads_on_one_engine_complete_one_task(driver):
    for _ in range(ROUNDS):
        event_id = driver.report("gw_hb1")
        task_id = driver.open_task(event_id, "accept")["id"]
        outcomes = race([driver.gl, driver.gl], task_id)
        assert sorted(kind for kind, _ in outcomes) == ["conflict", "ok"], outcomes
        assert_accepted_once(driver, event_id, task_id)


def test_two_engines_on_one_database_complete_one_task(driver, make_gridloop):
    other = make_gridloop()
    for _ in range(ROUNDS):
        event_id = driver.report("gw_hb1")
        task_id = driver.open_task(event_id, "accept")["id"]
        # Both engines have read the event, so each holds it in its own cache.
        assert other.task_detail("intake", task_id)["data"]["category"] == "0101"
        outcomes = race([driver.gl, other], task_id)
        assert sorted(kind for kind, _ in outcomes) == ["conflict", "ok"], outcomes
        assert_accepted_once(driver, event_id, task_id)


def test_an_engine_with_a_stale_cache_goes_on_from_the_other_engines_change(driver, make_gridloop):
    other = make_gridloop()
    event_id = driver.report("gw_hb1")
    task_id = driver.open_task(event_id, "accept")["id"]
    other.task_detail("intake", task_id)
    driver.gl.complete("intake", task_id, ACCEPT)

    dispatch = driver.open_task(event_id, "dispatch")
    assert other.task_detail("dispatcher", dispatch["id"])["data"]["decision"] == "accept"
    other.complete("dispatcher", dispatch["id"], {"department": "DH-HW"})
    handle = driver.open_task(event_id, "handle")
    driver.gl.complete("h_dh_hw", handle["id"], {"action": "done", "result": "已处置"})
    assert driver.open_task(event_id)["step"] == "verify"


# --- forced interleavings ----------------------------------------------------------------------------
# The other engine's command starts on its own thread right after the first engine has read the task row:
# the gap between "I looked at the task" and "I wrote my change". An engine may close that gap by locking
# (then the other command waits, and the first one wins) or detect it (then the first one gets Conflict);
# either way exactly one of the two commands may take effect.


@contextmanager
def interleaved(gl: Gridloop, command: Callable[..., Any], *args: Any) -> Iterator[list[tuple[str, Any]]]:
    """Start ``command(*args)`` right after ``gl``'s next command has read its task row.

    The first engine goes on once the command has finished, or after half a second if it is blocked
    behind a lock the first engine holds; the yielded list receives the command's outcome.
    """
    outcome: list[tuple[str, Any]] = []
    threads: list[threading.Thread] = []
    read_task_row = statements.task_and_event

    def read_then_interleave(conn, task_id, **options):  # noqa: ANN001, ANN003, ANN202
        found = read_task_row(conn, task_id, **options)
        if not threads and conn.engine is gl.db.engine:
            thread = threading.Thread(target=lambda: outcome.append(attempt(command, *args)))
            threads.append(thread)
            thread.start()
            thread.join(timeout=0.5)
        return found

    statements.task_and_event = read_then_interleave
    try:
        yield outcome
    finally:
        statements.task_and_event = read_task_row
        for thread in threads:
            thread.join(timeout=60)
    assert threads, "the interleaved command never started"
    assert len(outcome) == 1, "the interleaved command hung"


def self_handled_to_close(driver: Any) -> tuple[int, int]:
    """A self-handled event in 湖滨社区 at close_self, offered to leader_hb and to the district's leader."""
    event_id = driver.report("gw_hb1", self_handle=True)
    driver.complete("intake", event_id, "accept", ACCEPT)
    driver.complete(
        "gw_hb1",
        event_id,
        "self_handle_task",
        {"result": "已清理", "before_photos": [driver.photo()], "after_photos": [driver.photo()]},
    )
    return event_id, driver.open_task(event_id, "close_self")["id"]


def test_completion_interleaved_with_another_completion(driver, make_gridloop):
    other = make_gridloop()
    event_id = driver.report("gw_hb1")
    task_id = driver.open_task(event_id, "accept")["id"]

    with interleaved(driver.gl, other.complete, "intake", task_id, ACCEPT) as theirs:
        mine = attempt(driver.gl.complete, "intake", task_id, ACCEPT)

    assert sorted([mine[0], theirs[0][0]]) == ["conflict", "ok"], (mine, theirs)
    assert_accepted_once(driver, event_id, task_id)


def test_claim_interleaved_with_a_completion(driver, make_gridloop):
    other = make_gridloop()
    event_id, task_id = self_handled_to_close(driver)

    with interleaved(driver.gl, other.complete, "leader_hb", task_id, {"decision": "close"}) as theirs:
        mine = attempt(driver.gl.claim, "leader", task_id)

    assert sorted([mine[0], theirs[0][0]]) == ["conflict", "ok"], (mine, theirs)
    event = driver.event(event_id)
    task = next(t for t in event["tasks"] if t["id"] == task_id)
    if theirs[0][0] == "ok":
        assert (task["status"], task["completed_by"], task["assignee"]) == (
            "completed",
            "leader_hb",
            "leader_hb",
        )
        assert event["history"][-1]["action"] == "complete"
    else:
        assert (task["status"], task["assignee"]) == ("open", "leader")
        assert event["history"][-1]["action"] == "claim"


def test_completion_interleaved_with_a_claim_by_someone_else(driver, make_gridloop):
    other = make_gridloop()
    event_id, task_id = self_handled_to_close(driver)

    with interleaved(driver.gl, other.claim, "leader_hb", task_id) as theirs:
        mine = attempt(driver.gl.complete, "leader", task_id, {"decision": "close"})

    assert sorted([mine[0], theirs[0][0]]) == ["conflict", "ok"], (mine, theirs)
    event = driver.event(event_id)
    task = next(t for t in event["tasks"] if t["id"] == task_id)
    if theirs[0][0] == "ok":
        assert (task["status"], task["assignee"]) == ("open", "leader_hb")
        assert event["history"][-1]["action"] == "claim"
    else:
        assert (task["status"], task["completed_by"], task["assignee"]) == ("completed", "leader", "leader")
        assert event["state"] == "closed"


def test_two_engines_racing_a_dispatch_one_wins_the_other_gets_conflict(driver, make_gridloop):
    """A dispatch offers a department task whose SpiffWorkflow id both racers predict alike: on PostgreSQL the
    loser's insert of that inbox row used to collide with the winner's (a unique violation, HTTP 500). The
    event row is locked before a command writes, so the loser is a Conflict and writes nothing."""
    other = make_gridloop()
    for round_ in range(20):
        event_id = driver.report("gw_hb1")
        driver.complete("intake", event_id, "accept", ACCEPT)
        task_id = driver.open_task(event_id, "dispatch")["id"]
        other.task_detail("dispatcher", task_id)  # both engines hold the instance in their caches
        outcomes = together(
            partial(attempt, driver.gl.complete, "dispatcher", task_id, {"department": "DH-HW"}),
            partial(attempt, other.complete, "dispatcher", task_id, {"department": "DH-CG"}),
        )
        assert sorted(kind for kind, _ in outcomes) == ["conflict", "ok"], (round_, outcomes)
        event = driver.event(event_id)
        assert [t["step"] for t in event["tasks"] if t["status"] == "open"] == ["handle"]
        assert len([h for h in event["history"] if h["action"] == "complete"]) == 2
