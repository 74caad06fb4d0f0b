"""The JSON API fuzzed by schemathesis from its own OpenAPI document, in-process, on every configured backend.

schemathesis reads ``/api/v1/openapi.json`` from the app (WSGI, no server) and, for every operation, sends the
document's examples, its coverage cases (boundaries, missing and malformed parameters) and generated requests,
valid and invalid, signed in with a real token as the district's intake clerk — on the demo district with the
processes deployed, events at several steps and a stored photo, so that ids exist and deeper paths run. Every
answer is held to the document: no 5xx, only documented status codes, the documented content types and headers,
bodies matching their schemas, a 405 with ``Allow`` for a method a path does not take, and no answer without a
token but a 401. The run is derandomized with a fixed seed and bounded per operation, so that it finds the same
things on every machine in well under a minute per backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from conftest import TINY_PNG
from schemathesis.config import SchemathesisConfig
from web_support import PASSWORD, app_with_staff, at_handle, report

SEED = 20261123
EXAMPLES_PER_OPERATION = 25
USER = "intake"
# every check schemathesis has but one: a request the document allows may still be refused by the engine's own
# rules (the caller's scope, a step's form, an attachment that must exist), which no document can state
CHECKS = {"positive_data_acceptance": {"enabled": False}}


@pytest.fixture
def fuzzed_app(tmp_path: Path, backend: str) -> Iterator[Any]:
    """The app on the test's database with the demo district, the processes, events at their first steps and
    one dispatched, and a stored photo."""
    for app in app_with_staff(tmp_path, ("gw_hb1", USER, "dispatcher"), backend):
        # the fuzzer asks far faster than any client may (a 429 is documented, but answers nothing else)
        app.config["RATE_LIMIT_API"] = "1000000 per minute"
        gl = app.extensions["gridloop"]
        for _ in range(3):
            report(gl)
        at_handle(gl)
        gl.upload("gw_hb1", "site.png", TINY_PNG)
        yield app


@pytest.fixture
def api_schema(fuzzed_app: Any, request: pytest.FixtureRequest) -> Any:
    """The served OpenAPI document as schemathesis reads it, every request signed in as the intake clerk."""
    # schemathesis (4.32) names each operation's part of the test by rewriting the node's ``_nodeid``, which
    # pytest 9 keeps elsewhere: give the node one to rewrite (what pytest reports is unchanged)
    request.node._nodeid = request.node.nodeid
    answer = fuzzed_app.test_client().post(
        "/api/v1/auth/token", json={"username": USER, "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.get_json()
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            # the one health check that times generation: a busy machine must not fail the run
            "suppress-health-check": ["too_slow"],
            "checks": CHECKS,
            "headers": {"Authorization": f"Bearer {answer.get_json()['token']}"},
            "generation": {
                "mode": "all",
                "max-examples": EXAMPLES_PER_OPERATION,
                "deterministic": True,
                "database": "none",
            },
        }
    )
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzzed_app, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_every_answer_keeps_to_the_document(case: Any) -> None:
    case.call_and_validate()
