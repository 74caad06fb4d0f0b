"""Appeals (申诉) against a supervision sheet's deduction: the department applies, the evaluator decides.

The appeal is a process like any other (the ``sheet_appeals`` setting names it; ``processes/sheet_appeal``
ships it): its start form names the sheet (``sheet``) and the reasons, its evaluator's step decides, and its
outcome is the instance's state — :data:`engine.evaluation.metrics.APPEAL_UPHELD` when upheld. What the engine
adds is what a diagram cannot check: that the sheet is one of the starter's department's, costs it points,
was not appealed before and is still within the appeal period (``sheet_appeals.within`` of its issue); and the
link from the sheet to its appeal (``appeal_event_id``, recorded on the sheet's case as ``sheet_appealed``),
by which the score (:func:`engine.evaluation.metrics.evaluate`) lifts the deduction of an upheld appeal.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine import settings
from engine.commands.pipeline import Step
from engine.errors import Conflict, FieldError, ValidationFailed
from engine.org import scope
from engine.store.models import Event, SupervisionSheet
from engine.supervision import rules

SETTING = "sheet_appeals"


def is_appeal(step: Step, process_id: str) -> bool:
    """Whether ``process_id`` is the district's appeal process."""
    return bool(process_id == settings.get(step.session, SETTING)["process"])


def appealed_sheet(step: Step, data: dict[str, Any]) -> SupervisionSheet:
    """The sheet an appeal's start form names, if the starter may appeal against it now; a field error on
    ``sheet`` otherwise (a sheet outside the starter's scope reads as one that does not exist), a conflict for
    a sheet appealed already (a second submission)."""
    session, actor = step.session, step.actor
    sheet_id = data.get("sheet")
    sheet = session.get(SupervisionSheet, sheet_id) if isinstance(sheet_id, int) else None
    visible = sheet is not None and session.scalar(
        select(Event.id).where(Event.id == sheet.event_id, scope.event_filter(actor))
    )
    if sheet is None or not visible:
        raise _refused(rules.APPEAL_FIELD_CODES["unknown"], sheet=sheet_id)
    closes = rules.appeal_closes(
        step.parts.settings.calendar(session), sheet.issued_at, settings.get(session, SETTING)["within"]
    )
    refusal = rules.appeal_refusal(
        actor, rules.sheet_row(sheet), settings.get(session, "sheet_deductions"), closes, step.now
    )
    if refusal == rules.APPEALED:
        raise Conflict(
            "sheet {sheet} has been appealed already", code="appeal.already_appealed", sheet=sheet.id
        )
    if refusal is not None:
        raise _refused(refusal, sheet=sheet.id)
    return sheet


def facts(sheet: SupervisionSheet, case: Any) -> dict[str, Any]:
    """What the appeal instance carries of the sheet, for the evaluator's step: its case, department, kind,
    card and reason."""
    return {
        "sheet_case": case.code,
        "sheet_department": sheet.department_code,
        "sheet_kind": sheet.kind,
        "sheet_card": sheet.card,
        "sheet_reason": sheet.reason,
    }


def link(step: Step, sheet: SupervisionSheet, appeal: dict[str, Any]) -> None:
    """Record on the sheet's case that the sheet is appealed by the instance ``appeal`` just started."""
    sheet.appeal_event_id = appeal["id"]
    step.session.flush()
    step.record(
        step.event(sheet.event_id),
        "sheet_appealed",
        {**rules.sheet_record(sheet), "appeal": appeal["id"], "appeal_code": appeal["code"]},
        task_id=sheet.task_id,
    )


def _refused(code: str, **params: Any) -> ValidationFailed:
    return ValidationFailed(
        "the appeal against sheet {sheet} cannot be made", {"sheet": [FieldError(code, params)]},
        code="start.invalid", sheet=params.get("sheet"),
    )  # fmt: skip
