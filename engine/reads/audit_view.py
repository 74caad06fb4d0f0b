"""The audit pages (审计): an event's history stepped through as replayed, and the history as exported.

Anyone may audit an event in their scope; out of scope raises :class:`~engine.errors.NotFound`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.audit import history, verification
from engine.reads import contacts, queries
from engine.reads.labels import categories_by_code, describe_category, display_names, unit_name
from engine.reads.processes import diagram_marks
from engine.reads.reader import Reader
from engine.store.models import ProcessVersion


def data_difference(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """What one step changed in the process data, one row per top-level key: ``{"key", "kind", "old", "new"}``
    with kind ``added``, ``changed`` or ``removed``.

    Values are compared in their canonical JSON form, so that ``0`` becoming ``false`` counts as a change and
    a key that appears with the value None counts as added (unlike :func:`engine.audit.history.data_changes`, which
    records old and new values only).
    """
    rows = []
    for key in sorted(set(before) | set(after)):
        if key not in before:
            rows.append({"key": key, "kind": "added", "old": None, "new": after[key]})
        elif key not in after:
            rows.append({"key": key, "kind": "removed", "old": before[key], "new": None})
        elif history.canonical(before[key]) != history.canonical(after[key]):
            rows.append({"key": key, "kind": "changed", "old": before[key], "new": after[key]})
    return rows


def _replayed_step(step: verification.ReplayStep, step_names: dict[str, str]) -> dict[str, Any]:
    return {
        "seq": step.seq,
        "at": step.at,
        "actor": step.actor,
        "action": step.action,
        "step": step.step,
        "step_name": step_names.get(step.step, step.step) if step.step else None,
        "completed": step.completed,
    }


def audit_page(reader: Reader, event_id: int, step: int | None = None) -> dict[str, Any]:
    """An event's audit as its page shows it, from a replay of its history (:func:`engine.audit.verification.replay_of`).

    The verdict (chain intact and replay equal to the stored state, or the reasons why not); every replayed step
    with who, when and what; the chosen ``step`` (a history seq: the last when None or unknown) with its input,
    the process data after it, the difference against the step before, and the diagram elements passed and
    waiting at that point; and every history record with its hash. The replay and its verdict are the stored,
    whole records'; what is shown of a public reporter's contact is masked unless the actor needs it
    (:mod:`engine.reads.contacts`).
    """
    session = reader.session
    event = queries.visible_event(session, reader.actor, event_id)
    result = verification.replay_of(session, event, reader.runtime_for())
    detail = queries.event_detail(session, reader.actor, event_id)
    whole = contacts.sees_whole(reader, event_id, detail["process_version_id"])
    if not whole:
        detail = contacts.masked(detail)
    bundle = reader.bundle(detail["process_version_id"])
    step_names = {info.bpmn_id: info.name for info in bundle.user_tasks.values()}
    directory = reader.directory()
    names = display_names(session, {detail["reporter"]} | {h["actor"] for h in detail["history"]})
    content_hash = session.scalar(
        select(ProcessVersion.content_hash).where(ProcessVersion.id == detail["process_version_id"])
    )
    describe_category(detail, categories_by_code(bundle), reader.process_name)
    detail["grid_name"] = unit_name(directory, detail["grid"])
    for entry in detail["history"]:
        entry["step_name"] = step_names.get(entry["step"], entry["step"])
    seqs = [s.seq for s in result.steps]
    chosen = None
    if seqs:
        index = seqs.index(step) if step in seqs else len(seqs) - 1
        replayed = result.steps[index]
        before = result.steps[index - 1].data if index > 0 else {}
        step_input, after = replayed.input, replayed.data
        if not whole:
            step_input, before, after = contacts.masked([step_input, before, after])
        chosen = _replayed_step(replayed, step_names) | {
            "number": index + 1,
            "input": step_input,
            "data": after,
            "difference": data_difference(before, after),
            "open_steps": [{"id": s, "name": step_names.get(s, s)} for s in replayed.open_steps],
            "record": next((h for h in detail["history"] if h["seq"] == replayed.seq), None),
            "previous_seq": seqs[index - 1] if index > 0 else None,
            "next_seq": seqs[index + 1] if index + 1 < len(seqs) else None,
            "diagram": diagram_marks(
                bundle, detail["process_version_id"], replayed.path, replayed.open_steps
            ),
        }
    return {
        "event": detail,
        "exports_whole": contacts.may_export_whole(reader),
        "ok": result.ok,
        "reasons": result.reasons,
        "steps": [_replayed_step(s, step_names) for s in result.steps],
        "step": chosen,
        "records": detail["history"],
        "names": names,
        "version": {"id": detail["process_version_id"], "hash": content_hash},
    }


def history_export(reader: Reader, event_id: int, whole_asked: bool = False) -> dict[str, Any]:
    """An event's full history for export: the event's id, code and process version, and every record (seq,
    time, actor, action, step, task, process version, data, previous hash, hash) exactly as stored — enough to
    recompute every hash with :func:`engine.audit.history.record_hash` outside gridloop — when asked for whole
    (``whole_asked``) by a role that reads public reporters' contacts whole (:func:`engine.reads.contacts.exported`);
    otherwise the contacts and every phone or identity number in the records' texts are masked,
    ``contact_masked`` says so, and the records that held them no longer match their hashes."""
    detail = queries.event_detail(reader.session, reader.actor, event_id)
    export = {
        "event": {
            "id": detail["id"],
            "code": detail["code"],
            "process_version_id": detail["process_version_id"],
        },
        "records": [
            {
                "seq": h["seq"],
                "at": h["at"],
                "actor": h["actor"],
                "action": h["action"],
                "step": h["step"],
                "task": h["task"],
                "process_version_id": h["process_version_id"],
                "data": h["data"],
                "prev_hash": h["prev_hash"],
                "hash": h["hash"],
            }
            for h in detail["history"]
        ],
    }
    found, whole = contacts.exported(reader, export, whole_asked)
    return found if whole else {**found, "contact_masked": True}
