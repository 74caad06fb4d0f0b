"""Simulation: drive many events through the whole loop as the demo staff, moving the clock, not sleeping.

The mix is what a district sees: most events found on patrol, some by the public (a share of those not
found on site), a few rejected at intake, some handled on the spot, a wrong department now and then (sent
back and reassigned), failed verifications (rework) and dissatisfied follow-ups (reopened); requests for an
extension (granted or refused) and for a hold (挂账, resumed later, its reminder raised when the review date
passes), a few voided, cases reported up level by level, and now and then a joint meeting at the district
(lead and support departments in parallel, or a legacy ruling reviewed on its date). Each step is a real service
call — validation, scope, one transaction — exactly as staff would make it; timers fire through ``tick`` as the
clock moves.

With ``past``, the run is a history that has already happened (the demo's last month): the clock starts that long
before the engine clock's now and its steps are paced so that the run ends by then, supervision scans as the
scheduler would, and the last few cases are left mid-way, with open tasks in the demo staff's inboxes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from engine.app import Gridloop
from engine.org import people, scope
from engine.store.models import Event, Notice, SupervisionSheet, Task, Timer, User
from engine.time.clock import Clock, ManualClock

PUBLIC_CHANNELS = ("hotline", "wechat", "app")
# the made-up callers of public reports: a surname and a form of address (张先生, 李女士), as callers give them
SURNAMES = "王李张刘陈杨黄赵周吴徐孙马朱胡郭何林高罗"
ADDRESSES = ("先生", "女士", "阿姨", "师傅")


def fake_caller(rng: random.Random, channel: str, day: datetime) -> dict[str, str]:
    """A made-up public reporter for a demo report: a name as callers give it, a mobile number (not a real one:
    the 1xx-0000-xxxx block is never issued), and the channel's work-order number (12345 hotline style)."""
    return {
        "reporter_name": rng.choice(SURNAMES) + rng.choice(ADDRESSES),
        "reporter_phone": f"1{rng.choice('3578')}{rng.randint(0, 9)}0000{rng.randint(0, 9999):04d}",
        "channel_ref": f"{channel.upper()[:2]}{day:%Y%m%d}{rng.randint(0, 99999):05d}",
    }


# a first guess at the pace of a run, before it has seen its own: commands per event, and the clock's mean
# advance per command (minutes) at the natural pace
GUESSED_STEPS_PER_EVENT = 10
GUESSED_MINUTES_PER_STEP = 45.0


class _PastPace:
    """Paces a run that must end by ``until``: every advance of the clock is scaled by how much time is left over
    how much the run still has to do (at its natural pace so far), and never passes ``until``."""

    def __init__(self, clock: ManualClock, until: datetime, events: int) -> None:
        self.clock, self.until, self.events = clock, until, events
        self.steps = 0
        self.natural = timedelta()

    def advance(self, delta: timedelta, reported: int, pending: int) -> None:
        """Move the clock by ``delta`` scaled to the time left, given ``reported`` events so far and ``pending``
        still under way."""
        per_step = self.natural / self.steps if self.steps else timedelta(minutes=GUESSED_MINUTES_PER_STEP)
        per_event = self.steps / reported if reported else GUESSED_STEPS_PER_EVENT
        to_do = (self.events - reported) * per_event + pending * per_event / 2
        left = self.until - self.clock.now()
        scale = left / (to_do * per_step) if to_do and per_step else 1.0
        self.steps += 1
        self.natural += delta
        self.clock.set(min(self.until, self.clock.now() + delta * min(scale, 4.0)))


class _Staff:
    """Finds, for an inbox row, a demo user it is offered to."""

    def __init__(self, gl: Gridloop) -> None:
        with gl.db.reading() as session:
            self.actors = [people.actor_from_user(u) for u in session.scalars(select(User).order_by(User.id))]
        self._memo: dict[tuple[str, str, str | None], str] = {}

    def for_task(self, task: Task) -> str:
        key = (task.role, task.scope_code, task.department_code)
        if key not in self._memo:
            for actor in self.actors:
                if scope.is_candidate(actor, task):
                    self._memo[key] = actor.username
                    break
            else:
                raise LookupError(
                    f"no demo user is offered task {task.id} ({task.role} in {task.scope_code})"
                )
        return self._memo[key]

    def with_role(self, role: str) -> list[people.Actor]:
        return [a for a in self.actors if a.has_role(role)]


# the smallest valid PNG (1×1 pixel): the simulator's stand-in for a photo taken on site
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082"
)


def answer_step(
    rng: random.Random,
    step: str,
    data: dict[str, Any],
    departments: list[str],
    seen: dict[str, Any],
    photo: str,
    now: Any = None,
) -> dict[str, Any]:
    """A plausible form answer for ``step`` given the data so far (``photo`` is a stored attachment id, ``now``
    the clock's time, for review dates)."""
    answer = _request_answer(rng, step, data, departments, seen, now)
    if answer is not None:
        return answer
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
        level = data.get("level", "district")
        roll = rng.random()
        if level != "district" and roll < 0.12:
            seen["report_up"] = seen.get("report_up", 0) + 1
            return {"dispatch_action": "report_up", "dispatch_reason": "本级无法解决，上报上一级"}
        if level == "district" and roll < 0.06 and not seen.get("joint"):
            seen["joint"] = True
            return {"dispatch_action": "joint_meeting", "dispatch_reason": "跨部门疑难案件"}
        if roll > 0.98 and not seen.get("void"):
            seen["void"] = True
            return {"dispatch_action": "void", "dispatch_reason": "重复上报"}
        if rng.random() < 0.1:
            seen["wrong"] = True
            return {
                "dispatch_action": "assign",
                "department": rng.choice([d for d in departments if d != proposed]),
            }
        return {"dispatch_action": "assign", "department": proposed}
    if step == "handle":
        if seen.pop("wrong", False):
            return {"action": "send_back", "send_back_reason": "不属于本部门职责"}
        roll = rng.random()
        if roll < 0.06 and not seen.get("extension"):
            seen["extension"] = True
            return {
                "action": "extension",
                "extension_limit": rng.choice([2, 4, 8]),
                "extension_unit": "work_hours",
                "extension_reason": "需协调其他单位",
            }
        if roll > 0.96 and not seen.get("hold") and now is not None:
            seen["hold"] = True
            review = now + timedelta(hours=rng.randint(2, 48))
            return {"action": "hold", "hold_reason": "暂不具备处置条件", "review_date": review.isoformat()}
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


def _request_answer(
    rng: random.Random,
    step: str,
    data: dict[str, Any],
    departments: list[str],
    seen: dict[str, Any],
    now: Any,
) -> dict[str, Any] | None:
    """Answers for the requests' approvals, the hold's resumption and reminder, and the joint meeting."""
    if step in ("approve_extension", "approve_hold", "approve_void"):
        flag = {"approve_extension": "extension", "approve_hold": "hold", "approve_void": "void"}[step]
        if rng.random() < {"extension": 0.7, "hold": 0.8, "void": 0.6}[flag]:
            return {f"{flag}_approved": True}
        return {f"{flag}_approved": False, f"{flag}_opinion": "理由不充分，不予同意"}
    if step == "resume_hold":
        return {"resume_note": "挂账原因已消除，恢复处置"}
    if step == "hold_reminder":
        return {"reminder_note": "已督促复核"}
    if step == "record_meeting":
        record = {
            "meeting_time": now.isoformat(),
            "meeting_participants": ["区指挥中心", "相关职能部门"],
            "meeting_summary": "研究跨部门疑难案件",
        }
        if not seen.get("legacy") and rng.random() < 0.25:
            seen["legacy"] = True
            review = now + timedelta(hours=rng.randint(4, 72))
            return {
                **record,
                "meeting_decision": "hold_legacy",
                "legacy_reason": "历史遗留问题，暂不具备解决条件",
                "legacy_review_date": review.isoformat(),
            }
        lead = data["proposed_department"]
        supports = rng.sample([d for d in departments if d != lead], rng.randint(1, 2))
        return {
            **record,
            "meeting_decision": "resolve",
            "joint_lead": {"department": lead, "limit": rng.randint(2, 5)},
            "joint_supports": {
                f"support_{n}": {"department": d, "limit": rng.randint(1, 3)}
                for n, d in enumerate(supports, 1)
            },
        }
    if step == "joint_handle":
        return {"joint_result": "已按联席会议分工办理完毕"}
    if step == "review_legacy":
        if seen.get("legacy_kept") or rng.random() < 0.5:
            return {"legacy_review_decision": "reconvene", "legacy_review_note": "具备解决条件，重新召开"}
        seen["legacy_kept"] = True
        return {
            "legacy_review_decision": "keep",
            "legacy_review_date": (now + timedelta(hours=rng.randint(4, 48))).isoformat(),
        }
    return None


def _any_open(gl: Gridloop, event_ids: list[int]) -> bool:
    """True when one of the events has an open task."""
    with gl.db.reading() as session:
        return (
            session.scalar(
                select(Task.id).where(Task.event_id.in_(event_ids), Task.status == "open").limit(1)
            )
            is not None
        )


def simulate(
    gl: Gridloop,
    events: int,
    seed: int = 1,
    active: int = 25,
    progress: Callable[[int, int], None] | None = None,
    past: timedelta | None = None,
    left_open: int = 12,
) -> dict[str, Any]:
    """Run ``events`` events to their end (or as far as the mix takes them) and summarise what happened.

    Uses the engine's clock if it is a :class:`ManualClock`, else switches the engine to one starting now.
    ``progress(finished, events)`` is told whenever an event has gone as far as it will (for a progress bar).

    With ``past``, the history is dated in the past instead: a manual clock starts ``past`` before the engine
    clock's now and is paced to end by then, supervision scans after every step, the run stops with about
    ``left_open`` cases still under way (at least one), and the engine gets its own clock back at the end.
    """
    rng = random.Random(seed)
    original: Clock = gl.clock
    pace: _PastPace | None = None
    if past is not None:
        if past <= timedelta():
            raise ValueError(f"simulate: past must be a positive length of time, not {past}")
        until = original.now()
        gl.clock = ManualClock(until - past)
        pace = _PastPace(gl.clock, until, events)
        left_open = max(1, left_open)
    elif not isinstance(gl.clock, ManualClock):
        gl.clock = ManualClock(gl.clock.now())
    try:
        summary = _run(gl, events, rng, seed, active, progress, pace, left_open)
    finally:
        if pace is not None:
            gl.clock = original
    if pace is not None:
        _read_the_past(gl)
        summary["walkthrough"] = stage_walkthrough(gl)
        with gl.db.reading() as session:
            staged = list(
                session.scalars(select(Event.id).where(Event.code.in_(summary["walkthrough"].values())))
            )
        summary["open_tasks"] += _open_tasks(gl, staged)
    return summary


# the README's walk round the loop: one fresh case waits at each of these steps, for the account the README
# names, with the answers that take a case on to the next step
WALKTHROUGH_REPORT = {
    "category": "0101",
    "description": "湖滨路口有一堆暴露垃圾，影响通行",
    "grid": "330199001001001",
    "address": "湖滨路 18 号",
    "channel": "grid",
}
WALKTHROUGH: tuple[tuple[str, dict[str, Any]], ...] = (
    ("accept", {"decision": "accept"}),
    ("dispatch", {"department": "DH-HW"}),
    ("handle", {"action": "done", "result": "已清运完毕，现场恢复整洁"}),
    ("verify", {"passed": True}),
    ("close", {"opinion": "处置到位，同意结案"}),
    ("follow_up", {"satisfaction": "satisfied"}),
)


def _read_the_past(gl: Gridloop) -> None:
    """The demo staff have read the notices of the month behind them (each marks theirs read): the bell then
    counts what came since — the walkthrough's cases."""
    with gl.db.reading() as session:
        readers = sorted(set(session.scalars(select(Notice.username).where(Notice.read_at.is_(None)))))
    for username in readers:
        gl.mark_all_notices_read(username)


def stage_walkthrough(gl: Gridloop) -> dict[str, str]:
    """Report, as of now, one case for each step of the README's walk round the loop and take it up to that
    step, so that each account the walk names finds a case waiting in its inbox: step → the case's code."""
    staff = _Staff(gl)
    staged: dict[str, str] = {}
    for waits_at, (step, _answer) in enumerate(WALKTHROUGH):
        event = gl.report("gw_hb1", dict(WALKTHROUGH_REPORT))
        for done, answer in WALKTHROUGH[:waits_at]:
            with gl.db.reading() as session:
                task = session.scalar(
                    select(Task).where(
                        Task.event_id == event["id"], Task.status == "open", Task.bpmn_id == done
                    )
                )
            if task is None:
                raise LookupError(f"the walkthrough's case {event['code']} does not wait at {done}")
            gl.complete(staff.for_task(task), task.id, answer)
        staged[step] = event["code"]
    return staged


def _run(
    gl: Gridloop,
    events: int,
    rng: random.Random,
    seed: int,
    active: int,
    progress: Callable[[int, int], None] | None,
    pace: _PastPace | None,
    left_open: int,
) -> dict[str, Any]:
    """The run :func:`simulate` describes, on the engine's manual clock (paced by ``pace`` when given)."""
    clock = gl.clock
    assert isinstance(clock, ManualClock)
    started_at = clock.now()
    staff = _Staff(gl)
    bundle = gl.bundle()
    with gl.db.reading() as session:
        directory = gl.directory(session)
        departments = sorted(directory.departments)
        grid_workers = {  # each grid's own worker (a community's grid leader reports in none of them alone)
            a.assignments[0].scope_code: a.username
            for a in staff.with_role("grid_worker")
            if a.assignments[0].scope_code in directory.units
            and directory.units[a.assignments[0].scope_code].level == "grid"
        }
    intake = staff.with_role("intake")[0].username
    photos: dict[str, str] = {}  # one photo per member of staff: a form names only its own user's uploads

    def photo_of(username: str) -> str:
        if username not in photos:
            photos[username] = gl.upload(username, "site.png", TINY_PNG).id
        return photos[username]

    categories = [c.code for c in bundle.categories]
    grids = sorted(grid_workers)

    started = time.perf_counter()
    steps = 0
    completed_steps: dict[str, int] = {}
    pending: list[int] = []
    notes: dict[int, dict[str, Any]] = {}
    created_ids: list[int] = []
    reported = 0
    sheets = {"issued": 0, "escalated": 0, "replied": 0}

    def advance(delta: timedelta) -> None:
        if pace is None:
            clock.advance(delta)
            return
        pace.advance(delta, reported, len(pending))
        for key, count in gl.supervise("simulate").items():
            if key in sheets:
                sheets[key] += count
        sheets["replied"] += _reply_to_sheets(gl, rng, staff)

    while reported < events or (len(pending) > left_open if pace is not None else pending):
        if reported < events and (len(pending) < active or not pending):
            grid = rng.choice(grids)
            public = rng.random() < 0.35
            report: dict[str, Any] = {
                "category": rng.choice(categories),
                "description": "巡查发现问题，请及时处置" if not public else "市民反映问题，请核实处置",
                "grid": grid,
                "address": f"{directory.unit(grid).name}某路{rng.randint(1, 300)}号",
            }
            if public:
                report["channel"] = rng.choice(PUBLIC_CHANNELS)
                report.update(fake_caller(rng, report["channel"], clock.now()))
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
            advance(timedelta(minutes=rng.randint(1, 20)))
            continue
        event_id = rng.choice(pending)
        with gl.db.reading() as session:
            open_tasks = list(
                session.scalars(
                    select(Task).where(Task.event_id == event_id, Task.status == "open").order_by(Task.id)
                )
            )
            # the oldest open task first; a raised hold reminder is sometimes seen to before the resumption
            reminders = [t for t in open_tasks if t.bpmn_id == "hold_reminder"]
            task = (
                reminders[0] if reminders and rng.random() < 0.5 else (open_tasks[0] if open_tasks else None)
            )
            waiting = session.scalar(
                select(Timer.id).where(Timer.event_id == event_id, Timer.status == "pending").limit(1)
            )
        if task is None:
            if waiting is None:
                pending.remove(event_id)
                if progress is not None:
                    progress(reported - len(pending), events)
            elif reported >= events and not _any_open(gl, pending):
                # only timers are left (a legacy case waiting for its review date): let the clock run to them
                due = gl.next_timer_due()
                if pace is not None and (due is None or due + timedelta(seconds=1) >= pace.until):
                    break  # the rest waits past the end of the history: leave it waiting
                if due is not None:
                    clock.set(max(clock.now(), due + timedelta(seconds=1)))
                    gl.tick("simulate")
            continue
        username = staff.for_task(task)
        detail = gl.task_detail(username, task.id)
        answer = answer_step(
            rng, task.bpmn_id, detail["data"], departments, notes[event_id], photo_of(username), clock.now()
        )
        gl.complete(username, task.id, answer)
        steps += 1
        completed_steps[task.bpmn_id] = completed_steps.get(task.bpmn_id, 0) + 1
        advance(timedelta(minutes=rng.randint(5, 90)))
        gl.tick("simulate")
    seconds = time.perf_counter() - started

    with gl.db.reading() as session:
        rows = list(session.scalars(select(Event).where(Event.id.in_(created_ids))))
    by_outcome = dict.fromkeys(bundle.outcomes, 0)
    for e in rows:
        by_outcome[e.state] = by_outcome.get(e.state, 0) + 1
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
        "escalated": sum(1 for n in notes.values() if n.get("report_up")),
        "requests": {
            key: completed_steps.get(key, 0)
            for key in (
                "approve_extension",
                "approve_hold",
                "resume_hold",
                "hold_reminder",
                "approve_void",
                "record_meeting",
                "joint_handle",
                "review_legacy",
            )
        },
        "seed": seed,
        "from": started_at.isoformat(),
        "to": clock.now().isoformat(),
        **({"supervision": sheets, "open_tasks": _open_tasks(gl, created_ids)} if pace is not None else {}),
    }


SHEET_REPLIES = (
    "已安排人员到场处置，今日内反馈结果",
    "已收到督办，正在协调有关单位加快办理",
    "已整改到位，请核查",
)


def _reply_to_sheets(gl: Gridloop, rng: random.Random, staff: _Staff) -> int:
    """Some departments answer the sheets charged to them (about one in three each time the clock moves on):
    how many replies were made."""
    with gl.db.reading() as session:
        waiting = list(
            session.execute(
                select(SupervisionSheet.id, SupervisionSheet.department_code).where(
                    SupervisionSheet.status == "open",
                    SupervisionSheet.replied_at.is_(None),
                    SupervisionSheet.department_code.is_not(None),
                )
            )
        )
    replied = 0
    for sheet_id, department in waiting:
        handlers = [
            a
            for a in staff.with_role("handler")
            if any(r.department_code == department for r in a.assignments)
        ]
        if handlers and rng.random() < 0.35:
            gl.reply_to_sheet(handlers[0].username, sheet_id, rng.choice(SHEET_REPLIES))
            replied += 1
    return replied


def _open_tasks(gl: Gridloop, event_ids: list[int]) -> int:
    """How many open tasks the events have: what the demo staff find in their inboxes."""
    with gl.db.reading() as session:
        return len(
            list(session.scalars(select(Task.id).where(Task.event_id.in_(event_ids), Task.status == "open")))
        )
