"""Time lights of the rows a page shows, all as of one instant, by the district's colour scheme and calendar."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine import settings
from engine.bpmn.definitions import Category, ProcessBundle
from engine.reads.labels import categories_by_code
from engine.reads.reader import Reader
from engine.time import timelights
from engine.time.calendar import BusinessCalendar

# the unit of a case whose category the routing table no longer knows
FALLBACK_UNIT = "work_hours"
# the light of a case on hold (挂账): its limit stands still until it is resumed, so it shows no colour of the scheme
HOLD = "hold"


@dataclass(frozen=True)
class CaseLight(timelights.TimeLight):
    """The light a case is listed with: the worst of its own limit and its open steps' limits (受理, 派遣 … —
    a step can run out before the case is even opened), and which open step that is (None: the case's own)."""

    step: str | None = None
    step_name: str | None = None
    task_id: int | None = None


@dataclass(frozen=True)
class Lights:
    """The colour of a task's or an event's limit as it stands at ``now``.

    A step with a limit of its own (the ``step_limits`` setting) is measured in that limit's unit, any other
    task and every case in its category's unit (the routing table's).
    """

    calendar: BusinessCalendar
    scheme: timelights.Scheme
    step_units: dict[str, str]
    categories: dict[str, Category]
    now: datetime

    @classmethod
    def of(cls, reader: Reader, bundle: ProcessBundle) -> Lights:
        """The lights by the scheme, the calendar and the step limits in force, for ``bundle``'s categories."""
        step_limits = settings.get(reader.session, "step_limits")
        return cls(
            calendar=reader.calendar(),
            scheme=timelights.load_scheme(reader.session),
            step_units={step: limit[1] for step, limit in step_limits.items()},
            categories=categories_by_code(bundle),
            now=reader.now(),
        )

    @property
    def colours(self) -> tuple[str, ...]:
        """The scheme's colours, first to last."""
        return self.scheme.colours

    def case_unit(self, category: str) -> str:
        """The unit a case of ``category`` is measured in."""
        found = self.categories.get(category)
        return found.time_unit if found is not None else FALLBACK_UNIT

    def task(self, task: dict[str, Any], event: dict[str, Any]) -> timelights.TimeLight | None:
        """The light of an inbox task (its event's ``opened_at`` and ``due_at`` in ``event``)."""
        unit = self.step_units.get(task["step"]) or self.case_unit(task["category"])
        return timelights.task_light(self.calendar, self.scheme, task, event, unit, self.now)

    def reply(self, sheet: dict[str, Any], unit: str) -> timelights.TimeLight | None:
        """The light of a leader's instruction (领导批示) still unanswered, from its issue to its reply deadline
        (a row of :func:`engine.supervision.rules.sheet_row`, the limit in ``unit``); None once answered, or for
        a sheet with no reply deadline."""
        if (
            sheet.get("reply_due_at") is None
            or sheet.get("reply") is not None
            or sheet.get("status") != "open"
        ):
            return None
        return timelights.light(
            self.calendar, self.scheme, sheet["issued_at"], sheet["reply_due_at"], self.now, unit
        )

    def event(self, event: dict[str, Any]) -> timelights.TimeLight | None:
        """The light of a case; a case on hold (挂账) shows its hold (:data:`HOLD`), not its clock."""
        if event.get("state") == "on_hold":
            return timelights.TimeLight(HOLD, 0.0)
        return timelights.event_light(
            self.calendar, self.scheme, event, self.case_unit(event["category"]), self.now
        )

    def case(self, event: dict[str, Any], open_steps: list[dict[str, Any]]) -> CaseLight | None:
        """The light to list a case with, wherever it is listed: the worst of the case's own limit
        (:meth:`event`) and those of its open steps (rows of :func:`engine.reads.queries.open_steps` or
        :func:`engine.reads.queries.task_row`) — the later colour of the scheme, then the larger used share;
        the case's own wins a tie; a case on hold, its hold. None when neither the case nor any open step has a
        limit."""
        own = self.event(event)
        if own is not None and own.colour == HOLD:
            return CaseLight(HOLD, 0.0)
        found = [CaseLight(own.colour, own.fraction)] if own is not None else []
        for task in open_steps:
            shown = self.task(task, event)
            if shown is not None:
                found.append(CaseLight(shown.colour, shown.fraction, task["step"], task["name"], task["id"]))
        order = {colour: i for i, colour in enumerate(self.colours)}
        return max(found, key=lambda light: (order.get(light.colour, 0), light.fraction), default=None)
