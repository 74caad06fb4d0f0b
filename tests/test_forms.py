"""The compiled form validator (jsonschema-rs) and jsonschema agree on every form.

A submission is accepted when the compiled validator passes it, so it must never pass data that jsonschema
would refuse. The corpus is every submission of a simulated run (each form of the loop, with the answers the
demo staff give) and, for each, the submission with one field removed, replaced by a value of every other
JSON kind, an over-long text, or an unknown field added.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.bpmn import forms
from engine.demo.simulate import simulate
from engine.errors import FieldError, FieldErrors

ODD_VALUES: list[Any] = [None, True, 0, -1, 2.5, "", "x", "很" * 5001, [], ["x"], [1], {}, {"a": 1}]


def _variants(data: dict[str, Any]) -> list[dict[str, Any]]:
    variants = [dict(data), {**data, "not_a_field": "x"}]
    for name in data:
        variants.append({k: v for k, v in data.items() if k != name})
        variants.extend({**data, name: odd} for odd in ODD_VALUES)
    return variants


@pytest.fixture
def submissions(gl, monkeypatch) -> list[tuple[forms.CompiledForm, dict[str, Any]]]:
    """(compiled form, submitted data) for every form submission of a 20-event simulation."""
    seen: list[tuple[forms.CompiledForm, dict[str, Any]]] = []
    validate = forms.validate

    def recording(schema: Any, data: Any) -> FieldErrors:
        seen.append((schema, copy.deepcopy(data)))
        return validate(schema, data)

    monkeypatch.setattr(forms, "validate", recording)
    simulate(gl, 20, seed=3)
    return seen


def test_compiled_validator_gives_jsonschemas_verdict_on_every_form(submissions):
    compiled_forms = {id(compiled): compiled for compiled, _data in submissions}
    assert (
        len(compiled_forms) >= 8
    )  # report, accept, dispatch, handle, verify, close, follow-up, self-handling…
    checked = passed = 0
    for compiled, data in submissions:
        for variant in _variants(data):
            full_verdict = not any(compiled.full.iter_errors(variant))
            assert compiled.passes(variant) == full_verdict, (compiled.full.schema.get("title"), variant)
            checked += 1
            passed += full_verdict
    # both kinds of verdict are exercised, many times over
    assert passed > 50 and checked - passed > 500


def test_data_the_compiled_validator_cannot_take_is_judged_by_jsonschema():
    compiled = forms.compile_schema(
        {"type": "object", "properties": {"at": {"type": "string"}}, "additionalProperties": False}
    )
    when = datetime(2026, 11, 23, tzinfo=UTC)
    assert forms.validate(compiled, {"at": when}) == {"at": [FieldError("type.string")]}
    assert forms.validate(compiled, {"at": "2026-11-23"}) == {}
    assert forms.validate(compiled, {"at": 1, "more": 2}) == {
        "at": [FieldError("type.string")],
        "more": [FieldError("not_allowed")],
    }
