"""Simulation: drive many events through the whole loop as the demo staff, moving the clock, not sleeping.

The mix is what a district sees: most events found on patrol, some by the public (a share of those not
found on site), a few rejected at intake, some handled on the spot, a wrong department now and then (sent
back and reassigned), failed verifications (rework) and dissatisfied follow-ups (reopened). Each step is a
real service call — validation, scope, one transaction — exactly as staff would make it.
"""

from __future__ import annotations

import random
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from engine import org
from engine.clock import ManualClock
from engine.models import Task, User
from engine.services import Gridloop

PUBLIC_CHANNELS = ("hotline", "wechat", "app")


class _Staff:
    """Finds, for an inbox row, a demo user it is offered to."""

    def __init__(self, gl: Gridloop) -> None:
        with gl.db.reading() as session:
            self.actors = [org.actor_from_user(u) for u in session.scalars(select(User).order_by(User.id))]
        self._memo: dict[tuple[str, str, str | None], str] = {}

    def for_task(self, task: Task) -> str:
        key = (task.role, task.scope_code, task.department_code)
        if key not in self._memo:
            for actor in self.actors:
                if org.is_candidate(actor, task):
                    self._memo[key] = actor.username
                    break
            else:
                raise LookupError(
                    f"no demo user is offered task {task.id} ({task.role} in {task.scope_code})"
                )
        return self._memo[key]

    def with_role(self, role: str) -> list[org.Actor]:
        return [a for a in self.actors if a.has_role(role)]


# the smallest valid PNG (1×1 pixel): the simulator's stand-in for a photo taken on site
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082"
)


def _answer(
    rng: random.Random,
    step: str,
    data: dict[str, Any],
    departments: list[str],
    seen: dict[str, Any],
    photo: str,
) -> dict[str, Any]:
    """A plausible form answer for ``step`` given the data so far (``photo`` is a stored attachment id)."""
    if step == "check_exists":
        return {"exists": rng.random() < 0.8, "note": "现场核实"}
    if step == "accept":
        return (
            {"decision": "accept"}
            if rng.random() < 0.9
            else {"decision": "reject", "reason": "不属于受理范围"}
        )
    if step == "self_handle_task":
        return {"result": "已现场处置", "before_photos": [photo], "after_photos": [photo]}
    if step == "close_self":
        return (
            {"decision": "close"}
            if rng.random() < 0.9
            else {"decision": "dispatch", "opinion": "需专业部门处置"}
        )
    if step == "dispatch":
        proposed = data["proposed_department"]
        if rng.random() < 0.1:
            seen["wrong"] = True
            return {"department": rng.choice([d for d in departments if d != proposed])}
        return {"department": proposed}
    if step == "handle":
        if seen.pop("wrong", False):
            return {"action": "send_back", "send_back_reason": "不属于本部门职责"}
        return {"action": "done", "result": "已处置完毕", "photos": [photo]}
    if step == "reassign":
        return {"department": data["proposed_department"], "reason": "按职责改派"}
    if step == "verify":
        if seen.get("reworked") or rng.random() < 0.88:
            return {"passed": True}
        seen["reworked"] = True
        return {"passed": False, "note": "现场仍未处理干净"}
    if step == "close":
        return {"opinion": "同意结案"}
    if step == "follow_up":
        if seen.get("reopened"):
            return {"satisfaction": "satisfied"}
        roll = rng.random()
        if roll < 0.08:
            seen["reopened"] = True
            return {"satisfaction": "dissatisfied", "note": "仍有问题"}
        return {"satisfaction": "satisfied" if roll < 0.85 else "basically_satisfied"}
    raise LookupError(f"the simulator has no answer for step {step!r}")


def simulate(gl: Gridloop, events: int, seed: int = 1, active: int = 25) -> dict[str, Any]:
    """Run ``events`` events to their end (or as far as the mix takes them) and summarise what happened.

    Uses the engine's clock if it is a :class:`ManualClock`, else switches the engine to one starting now.
    """
    rng = random.Random(seed)
    if not isinstance(gl.clock, ManualClock):
        gl.clock = ManualClock(gl.clock.now())
    clock: ManualClock = gl.clock
    staff = _Staff(gl)
    bundle = gl.bundle()
    with gl.db.reading() as session:
        directory = gl.directory(session)
        departments = sorted(directory.departments)
        grid_workers = {a.assignments[0].scope_code: a.username for a in staff.with_role("grid_worker")}
    intake = staff.with_role("intake")[0].username
    photo = gl.upload(intake, "site.png", TINY_PNG).id
    categories = [c.code for c in bundle.categories]
    grids = sorted(grid_workers)

    started = time.perf_counter()
    steps = 0
    pending: list[int] = []
    notes: dict[int, dict[str, Any]] = {}
    created_ids: list[int] = []
    reported = 0
    while reported < events or pending:
        if reported < events and (len(pending) < active or not pending):
            grid = rng.choice(grids)
            public = rng.random() < 0.35
            report = {
                "category": rng.choice(categories),
                "description": "巡查发现问题，请及时处置" if not public else "市民反映问题，请核实处置",
                "grid": grid,
                "address": f"{directory.unit(grid).name}某路{rng.randint(1, 300)}号",
            }
            if public:
                report["channel"] = rng.choice(PUBLIC_CHANNELS)
                result = gl.report(intake, report)
            else:
                report["channel"] = "grid"
                report["self_handle"] = rng.random() < 0.2
                result = gl.report(grid_workers[grid], report)
            reported += 1
            steps += 1
            pending.append(result["id"])
            created_ids.append(result["id"])
            notes[result["id"]] = {}
            clock.advance(timedelta(minutes=rng.randint(1, 20)))
            continue
        event_id = rng.choice(pending)
        with gl.db.reading() as session:
            task = session.scalar(
                select(Task).where(Task.event_id == event_id, Task.status == "open").order_by(Task.id)
            )
        if task is None:
            pending.remove(event_id)
            continue
        username = staff.for_task(task)
        detail = gl.task_detail(username, task.id)
        answer = _answer(rng, task.bpmn_id, detail["data"], departments, notes[event_id], photo)
        gl.complete(username, task.id, answer)
        steps += 1
        clock.advance(timedelta(minutes=rng.randint(5, 90)))
    seconds = time.perf_counter() - started

    with gl.db.reading() as session:
        from engine.models import Event

        rows = list(session.scalars(select(Event).where(Event.id.in_(created_ids))))
    by_outcome = {"closed": 0, "rejected": 0, "open": 0, "not_found": 0}
    for e in rows:
        key = e.state if e.state in by_outcome else "open"
        by_outcome[key] += 1
    return {
        "events": len(rows),
        "steps": steps,
        "seconds": round(seconds, 3),
        "steps_per_s": round(steps / seconds, 1) if seconds else None,
        "by_outcome": by_outcome,
        "closed_on_time": sum(1 for e in rows if e.state == "closed" and e.closed_on_time),
        "reworked": sum(1 for e in rows if e.rework_count),
        "reassigned": sum(1 for e in rows if e.reassign_count),
        "reopened": sum(1 for e in rows if e.reopen_count),
        "seed": seed,
    }
