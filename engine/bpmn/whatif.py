"""What-if: a period's recorded cases played through another version of their process, before it goes live.

Each case is played twice from its history records (:mod:`engine.bpmn.replay`): once on the versions it ran on,
with the recorded answers of the engine's functions (exactly what happened, as the audit proves it), and once on
the *draft*, with the engine's functions answering live under the recorded clock (so the draft's own time
limits, routing and calendar apply). The draft is given the same inputs at the same moments — the report or
start, every form submitted, every timer firing — for as long as it asks for them:

- a completion of a step the draft is not waiting at ends the draft's run: it *ended earlier* when the draft's
  instance has finished by then, and *diverged* otherwise (it waits at other steps than the record completes);
- a draft still waiting when the records end, where the case itself finished, *waits at a step the records
  never reach* (a step the draft adds, or a path it takes that the case did not);
- a form the draft refuses, or a script that fails on the recorded data, *fails*.

Timers fire when the recorded ones did (a draft that shortens a timer does not fire it sooner), and a migration
record is left out of the draft's run (it runs on the draft throughout). Each run collects the user tasks it
reached — when, by when they were due by that version's limits, when they were done — and the case's end and due
time, from which :mod:`engine.reads.whatif` counts per step and per case.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow

from engine.bpmn import forms, runtime
from engine.bpmn.definitions import ProcessBundle
from engine.bpmn.replay import START_ACTIONS, WORKFLOW_ACTIONS, Record, RuntimeFor, apply
from engine.bpmn.scripting import RestrictedScriptEngine
from engine.errors import GridloopError
from engine.time import clock as clockmod

SAME = "same"
ENDED_EARLIER = "ended_earlier"
WAITS_AT_NEW_STEP = "waits_at_new_step"
DIVERGED = "diverged"
FAILED = "failed"
OUTCOMES = (SAME, ENDED_EARLIER, WAITS_AT_NEW_STEP, DIVERGED, FAILED)


@dataclass
class Reached:
    """One user task a run reached."""

    step: str
    name: str
    at: datetime
    due_at: datetime | None
    done_at: datetime | None = None

    def on_time(self) -> bool | None:
        """Done by its due time (None: no due time, or not done in the run)."""
        if self.due_at is None or self.done_at is None:
            return None
        return self.done_at <= self.due_at


@dataclass
class Run:
    """What one play of a case's records did."""

    started_at: datetime | None = None
    tasks: list[Reached] = field(default_factory=list)
    ended_at: datetime | None = None  # when the instance finished (None: still waiting when the run stopped)
    due_at: datetime | None = None  # the case's due time as that version set it (``case_due_at``)
    stopped: str | None = None  # why the run stopped before the records' end (None: it followed them all)
    waiting: list[str] = field(default_factory=list)  # the steps waiting when the run stopped or ended

    def steps(self) -> set[str]:
        """The steps the run reached."""
        return {t.step for t in self.tasks}

    def on_time(self) -> bool | None:
        """The case ended by its due time (None: it has no due time, or did not end)."""
        if self.due_at is None or self.ended_at is None:
            return None
        return self.ended_at <= self.due_at

    def duration_hours(self) -> float | None:
        """Hours from the start to the end (None: it did not end)."""
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds() / 3600


@dataclass
class CaseWhatIf:
    """One case: how it ran, how it would have run on the draft, and the verdict."""

    recorded: Run
    draft: Run
    outcome: str
    detail: str = ""


def _follow(
    records: Iterable[Record], runtime_for: RuntimeFor, recorded: bool
) -> tuple[Run, Record | None, str]:
    """Play ``records`` and collect what the run reached. ``recorded``: with the recorded answers of the
    engine's functions and the migrations (exact); else live, migrations left out. Returns the run, the record
    it stopped at (None: it followed them all) and why: ``ended`` (the instance had finished), a divergence's
    text, or ``failed: …`` (a refusal's text)."""
    run = Run()
    workflow: BpmnWorkflow | None = None
    bundle: list[ProcessBundle] = []  # the version the instance runs on now

    def tracking(version_id: int) -> tuple[ProcessBundle, RestrictedScriptEngine]:
        found = runtime_for(version_id)
        bundle[:] = [found[0]]
        return found

    waiting: dict[str, Reached] = {}
    for record in records:
        if record.action not in WORKFLOW_ACTIONS or (record.action == "migrate" and not recorded):
            continue
        if workflow is not None and workflow.is_completed():
            return run, record, "ended"
        journal = runtime.Journal(record.data.get("calls", []) if recorded else None)
        try:
            with (
                clockmod.using(clockmod.ManualClock(record.at)),
                runtime.journaling(journal),
                runtime.task_ids(record.data.get("ids")),
            ):
                workflow = apply(record, workflow, tracking)
                if not recorded and record.action == "complete":
                    _check_form(record, bundle[0])
            ready = {r.spiff_task_id: r for r in runtime.ready_tasks(workflow, bundle[0])}
            facts = runtime.event_facts(workflow, runtime.current_data(workflow))
        except runtime.ReplayDivergence as exc:
            return run, record, str(exc)
        except (GridloopError, ValueError, KeyError) as exc:
            return run, record, f"failed: {exc}"
        if recorded and journal.unplayed():
            return run, record, f"record {record.seq} holds calls the replay never made"
        if record.action in START_ACTIONS:
            run.started_at = record.at
        for task_id in set(waiting) - set(ready):
            waiting.pop(task_id).done_at = record.at
        for task_id, task in ready.items():
            if task_id not in waiting:
                waiting[task_id] = Reached(task.bpmn_id, task.name, record.at, task.due_at)
                run.tasks.append(waiting[task_id])
        run.due_at = facts["due_at"]
        if workflow.is_completed() and run.ended_at is None:
            run.ended_at = facts["closed_at"] or record.at
        run.waiting = sorted({t.step for t in waiting.values()})
    return run, None, ""


def _check_form(record: Record, bundle: ProcessBundle) -> None:
    """Refuse (ValueError: the step, and each field with its error codes) a recorded submission the draft's form
    of that step would not take."""
    info = bundle.user_tasks.get(record.bpmn_id or "")
    schema = bundle.forms.get(info.form) if info is not None and info.form else None
    if schema is None:
        return
    errors = forms.validate(schema, dict(record.data.get("form", {})))
    if errors:
        fields = "; ".join(
            f"{name}: {', '.join(getattr(e, 'code', str(e)) for e in found)}"
            for name, found in errors.items()
        )
        raise ValueError(f"{record.bpmn_id}: {fields}")  # ids and error codes: the same in every language


def compare(
    records: list[Record], runtime_for: RuntimeFor, draft: tuple[ProcessBundle, RestrictedScriptEngine]
) -> CaseWhatIf:
    """One case's records played as they ran and through ``draft``; see the module's docstring."""
    recorded, stop, why = _follow(records, runtime_for, recorded=True)
    if stop is not None:  # the audit flags such a case: it is left out of the comparison
        return CaseWhatIf(recorded, Run(), FAILED, f"the history cannot be replayed: {why}")
    ran, stop, why = _follow(records, lambda _version: draft, recorded=False)
    if stop is None:
        if ran.ended_at is None and recorded.ended_at is not None:
            return CaseWhatIf(recorded, ran, WAITS_AT_NEW_STEP, ", ".join(ran.waiting))
        return CaseWhatIf(recorded, ran, SAME)
    if why == "ended":
        return CaseWhatIf(recorded, ran, ENDED_EARLIER, stop.bpmn_id or "")
    if why.startswith("failed: "):
        return CaseWhatIf(recorded, ran, FAILED, why.removeprefix("failed: "))
    return CaseWhatIf(recorded, ran, DIVERGED, f"{stop.bpmn_id}: {', '.join(ran.waiting)}")


def compared(cases: Iterable[CaseWhatIf]) -> dict[str, Any]:
    """Counts over cases: per outcome, per step (reached and on time, as run and on the draft), and the cases'
    durations and on-time shares."""
    cases = list(cases)
    steps: dict[str, dict[str, Any]] = {}
    for case in cases:
        for side, run in (("recorded", case.recorded), ("draft", case.draft)):
            for step in run.steps():
                row = steps.setdefault(step, _step_row(step))
                row[side]["reached"] += 1
            for task in run.tasks:
                row = steps[task.step]
                row["name"] = row["name"] or task.name
                verdict = task.on_time()
                if verdict is not None:
                    row[side]["due"] += 1
                    row[side]["on_time"] += verdict
    for row in steps.values():
        for side in ("recorded", "draft"):
            figures = row[side]
            figures["on_time_share"] = _share(figures["on_time"], figures["due"])
    return {
        "cases": len(cases),
        "outcomes": {outcome: sum(c.outcome == outcome for c in cases) for outcome in OUTCOMES},
        "steps": sorted(steps.values(), key=lambda r: (-r["recorded"]["reached"], r["step"])),
        "recorded": _case_figures([c.recorded for c in cases]),
        "draft": _case_figures([c.draft for c in cases if c.outcome != FAILED]),
    }


def _step_row(step: str) -> dict[str, Any]:
    return {
        "step": step,
        "name": "",
        "recorded": {"reached": 0, "due": 0, "on_time": 0},
        "draft": {"reached": 0, "due": 0, "on_time": 0},
    }


def _share(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None


def _case_figures(runs: list[Run]) -> dict[str, Any]:
    hours = sorted(h for h in (r.duration_hours() for r in runs) if h is not None)
    verdicts = [v for v in (r.on_time() for r in runs) if v is not None]
    return {
        "ended": len(hours),
        "mean_hours": round(sum(hours) / len(hours), 2) if hours else None,
        "median_hours": round(_median(hours), 2) if hours else None,
        "due": len(verdicts),
        "on_time_share": _share(sum(verdicts), len(verdicts)),
    }


def _median(values: list[float]) -> float:
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
