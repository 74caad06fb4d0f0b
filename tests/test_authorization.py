"""The authorization matrix: every web and API route × method, for one representative user of each role and for
a signed-out caller, on an in-scope and an out-of-scope target, against the expected answer.

The policy, as the table below states it:

- signed out, the pages send to the sign-in page and the API answers 401 — but for sign-in itself, the health
  check, the static files, the language switch and the OpenAPI document;
- anything outside the caller's scope answers 404 exactly as something that does not exist does (the answer
  is compared with the one for a missing id), and a list never shows it;
- within scope, a role that may not do a thing gets 403 and changes nothing (every refused POST is checked to
  leave the database as it was); reporting is for the roles of the ``report_roles`` setting (by default grid
  worker, intake, dispatcher, shift leader, supervisor), evaluation for evaluators, supervisors, shift leaders,
  auditors and admins, the admin pages and commands for admins only;
- an attachment is read by those who may read an event using it, and by its uploader before any event uses it;
- a supervision sheet goes only to a department inside the issuer's scope, and is answered by that department
  (from the event page or the page of its task);
- a notice is its addressee's alone: everyone lists and marks read only their own, and another's answers 404
  exactly as a missing one does.

The world (the places, the targets, the representatives, how each kind of request is made) is in
tests/authorization_support.py. Built once per backend; every cell is one request (two for a 404: the missing
id's answer is asked too).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from authorization_support import KINDS, ROLES, SCOPED, Ask, World, error_message, world_fixture
from conftest import BACKENDS

# ------------------------------------------------------------------ outcomes

ALLOWED = "allowed"  # the route's success answer (a redirect that is not to the sign-in page)
DENIED = "403"  # refused for the role; nothing changed
HIDDEN = "404"  # as if it did not exist: same answer as for a missing id; nothing changed
REFUSED = "403/404"  # either refusal; nothing changed
LOGIN = "login"  # signed out: the pages redirect to the sign-in page, the API answers 401
LISTED = "listed"  # 200, and the answer shows the target
UNLISTED = "unlisted"  # 200, and the answer does not show the target
Outcome = str | int  # or an exact status code

WORKERS = ("grid_worker", "intake", "dispatcher", "shift_leader", "handler")  # have a step in the process
REPORTERS = ("grid_worker", "intake", "dispatcher", "shift_leader", "supervisor")  # report_roles' default
ISSUERS = ("supervisor", "shift_leader")  # issue leaders' supervision sheets
ASSIGNERS = ("shift_leader", "supervisor")  # assign tasks of their scope: the assign_roles setting's default
EVALUATORS = ("evaluator", "supervisor", "shift_leader", "auditor", "admin")  # see the evaluation
REPORT_READERS = ("evaluator", "auditor", "admin")  # write and download the monthly reports
DESIGNERS = ("designer", "admin")  # deploy, activate, retire and roll back process versions
STARTERS = ("grid_worker", "shift_leader")
LEDGER_EDITORS = ("grid_worker", "shift_leader", "admin")  # the ledger_edit_roles setting's default
UNMASKERS = (
    "shift_leader",
    "admin",
)  # the ledger_unmask_roles setting's default  # start a household visit: its process_model.json's start_roles


def only(roles: Iterable[str], outcome: Outcome | tuple[Outcome, Outcome]) -> dict[str, Any]:
    """``outcome`` for each of ``roles`` (the row's ``everyone`` holds for the others)."""
    return dict.fromkeys(roles, outcome)


@dataclass(frozen=True)
class Route:
    """One row: a route and method, the kind of request made (tests/authorization_support.py), the status an
    allowed request answers, the outcome for every role — (in scope, out of scope) for a kind with a target in a
    place — with exceptions by role, and the outcome signed out."""

    method: str
    rule: str
    kind: str
    ok: int
    everyone: Outcome | tuple[Outcome, Outcome]
    roles: Mapping[str, Any] = field(default_factory=dict)
    signed_out: Outcome = LOGIN


# fmt: off
MATRIX: tuple[Route, ...] = (
    # ---- signing in and out, language, static files, health: the public doors
    Route("GET",  "/login",                      "page",         302, ALLOWED, signed_out=200),
    Route("POST", "/login",                      "sign_in_form", 303, ALLOWED, signed_out=401),
    Route("POST", "/logout",                     "sign_out",     303, ALLOWED),
    Route("POST", "/language",                   "language",     303, ALLOWED, signed_out=ALLOWED),
    Route("GET",  "/static/<path:filename>",     "static",       200, ALLOWED, signed_out=ALLOWED),
    Route("GET",  "/healthz",                    "health",       200, ALLOWED, signed_out=ALLOWED),
    Route("GET",  "/",                           "page",         200, ALLOWED),
    # ---- the inbox, events, tasks
    Route("GET",  "/inbox",                      "claimable",    200, (UNLISTED, UNLISTED),
          only(WORKERS, (LISTED, UNLISTED))),
    Route("GET",  "/events",                     "event_search", 200, (LISTED, UNLISTED)),
    Route("GET",  "/events/<int:event_id>",      "event",        200, (ALLOWED, HIDDEN)),
    # the grid map: every member of staff; the cases on it are those of their scope (tests/test_web_map.py)
    Route("GET",  "/map",                        "page",         200, ALLOWED),
    # the household ledger: the territory's staff see their scope's (a department's handler none), its editors
    # check files for their grids (another's is a row error), the permitted roles read numbers whole in scope
    # the grids and their boundaries: administrators only (checks and previews here: nothing changes)
    Route("GET",  "/admin/grids",                "page",         200, DENIED, only(("admin",), ALLOWED)),
    Route("POST", "/admin/grids/boundaries",     "load_boundaries", 200, DENIED, only(("admin",), ALLOWED)),
    Route("POST", "/admin/grids/redivide",       "redivide_grids", 200, DENIED, only(("admin",), ALLOWED)),
    Route("GET",  "/ledger",                     "ledger_page",  200, (LISTED, UNLISTED),
          {"handler": (DENIED, DENIED)}),
    Route("GET",  "/ledger/template.csv",        "page",         200, ALLOWED),
    Route("POST", "/ledger/import",              "ledger_import", 200, (DENIED, DENIED),
          only(LEDGER_EDITORS, (ALLOWED, 400))),
    Route("POST", "/ledger/people/<int:person_id>", "ledger_edit", 200, (DENIED, DENIED),
          only(LEDGER_EDITORS, (ALLOWED, HIDDEN))),
    Route("POST", "/ledger/dwellings/<int:dwelling_id>/people", "ledger_add", 200, (DENIED, DENIED),
          only(LEDGER_EDITORS, (ALLOWED, HIDDEN))),
    Route("POST", "/ledger/people/<int:person_id>/move-out", "move_out", 200, (DENIED, DENIED),
          only(LEDGER_EDITORS, (ALLOWED, HIDDEN))),
    Route("POST", "/ledger/people/<int:person_id>/unmask", "unmask", 200, (DENIED, DENIED),
          only(UNMASKERS, (ALLOWED, HIDDEN))),
    # the report form only for those who may report: to anyone else it could only lead to a 403
    Route("GET",  "/report",                     "page",         200, DENIED, only(REPORTERS, ALLOWED)),
    Route("POST", "/report",                     "report",       303, (DENIED, DENIED),
          only(REPORTERS, (ALLOWED, DENIED))),
    Route("GET",  "/report/<int:event_id>/done", "event",        200, (ALLOWED, HIDDEN)),
    Route("GET",  "/tasks/<int:task_id>",        "work_task",    200, (ALLOWED, HIDDEN)),
    Route("GET",  "/tasks/<int:task_id>",        "done_task",    200, (ALLOWED, HIDDEN)),
    Route("POST", "/tasks/<int:task_id>",        "complete",     303, (DENIED, HIDDEN),
          only(WORKERS, (ALLOWED, HIDDEN))),
    # a refused claim or unclaim is a 403, as a refused completion is — not a redirect with a message
    Route("POST", "/tasks/<int:task_id>/claim",  "claim",        303, (DENIED, HIDDEN),
          only(WORKERS, (ALLOWED, HIDDEN))),
    Route("POST", "/tasks/<int:task_id>/unclaim", "unclaim",     303, (DENIED, HIDDEN),
          only(WORKERS, (ALLOWED, HIDDEN))),
    # the Tasklist's tools (engine/reads/tasklist.py): a leader over the task assigns it (the handler cannot see
    # the undispatched 派遣 task at all); its holder delegates it, the delegate gives it back, the holder sets
    # its follow-up date; whoever sees a task comments on it; everyone keeps inbox filters of their own
    Route("POST", "/tasks/<int:task_id>/assign",    "assign",    303, (DENIED, HIDDEN),
          {**only(ASSIGNERS, (ALLOWED, HIDDEN)), "handler": (HIDDEN, HIDDEN)}),
    Route("POST", "/tasks/<int:task_id>/delegate",  "delegate",  303, (DENIED, HIDDEN),
          only(WORKERS, (ALLOWED, HIDDEN))),
    Route("POST", "/tasks/<int:task_id>/give-back", "give_back", 303, (DENIED, HIDDEN),
          only(WORKERS, (ALLOWED, HIDDEN))),
    Route("POST", "/tasks/<int:task_id>/comments",  "comment",   303, (ALLOWED, HIDDEN)),
    Route("POST", "/tasks/<int:task_id>/follow-up", "follow_up", 303, (DENIED, HIDDEN),
          only(WORKERS, (ALLOWED, HIDDEN))),
    Route("POST", "/inbox/filters",                 "save_filter", 303, ALLOWED),
    Route("POST", "/inbox/filters/<int:filter_id>/delete", "delete_filter", 303, ALLOWED),
    # ---- attachments: readers of an event using it, and its uploader while unused
    Route("GET",  "/attachments/<attachment_id>", "report_photo", 200, (ALLOWED, HIDDEN)),
    Route("GET",  "/attachments/<attachment_id>", "task_photo",   200, (ALLOWED, HIDDEN),
          {"handler": (HIDDEN, HIDDEN)}),
    Route("GET",  "/attachments/<attachment_id>", "own_upload",   200, ALLOWED),
    Route("GET",  "/attachments/<attachment_id>", "others_upload", 200, HIDDEN),
    # ---- audit (anyone may audit an event in their scope: webui/audit.py)
    Route("GET",  "/audit/events/<int:event_id>",              "event", 200, (ALLOWED, HIDDEN)),
    Route("GET",  "/audit/events/<int:event_id>/history.json", "event", 200, (ALLOWED, HIDDEN)),
    Route("GET",  "/audit/events/<int:event_id>/history.csv",  "event", 200, (ALLOWED, HIDDEN)),
    # ---- supervision
    Route("GET",  "/supervision",                "sheet_board",  200, (LISTED, UNLISTED)),
    Route("POST", "/events/<int:event_id>/sheets", "issue",      303, (DENIED, HIDDEN),
          only(ISSUERS, (ALLOWED, HIDDEN))),
    Route("POST", "/events/<int:event_id>/sheets", "issue_elsewhere", 303, DENIED, only(ISSUERS, REFUSED)),
    # a sheet out of scope answers as a missing sheet does (not by naming its hidden event)
    Route("POST", "/events/<int:event_id>/sheets/<int:sheet_id>/reply", "reply", 303, (DENIED, HIDDEN),
          {"handler": (ALLOWED, HIDDEN)}),
    # the same reply from the page of the department's task the sheet is about
    Route("POST", "/tasks/<int:task_id>/sheets/<int:sheet_id>/reply", "task_reply", 303, (DENIED, HIDDEN),
          {"handler": (ALLOWED, HIDDEN)}),
    # ---- the notice centre: everyone lists and marks their own notices only; another's is as a missing one
    Route("GET",  "/notices",                    "notices",        200, LISTED),
    Route("GET",  "/notices",                    "others_notices", 200, UNLISTED),
    Route("POST", "/notices/<int:notice_id>/read", "own_notice",   303, ALLOWED),
    Route("POST", "/notices/<int:notice_id>/read", "others_notice", 303, HIDDEN),
    Route("POST", "/notices/<int:notice_id>/open", "open_notice",  303, ALLOWED),
    Route("POST", "/notices/<int:notice_id>/open", "others_notice", 303, HIDDEN),
    Route("POST", "/notices/read-all",           "read_all",       303, ALLOWED),
    # ---- evaluation, processes, administration
    Route("GET",  "/dashboard",                  "page",         200, DENIED, only(EVALUATORS, ALLOWED)),
    Route("GET",  "/dashboard/cases",            "figure_cases", 200, DENIED, only(EVALUATORS, ALLOWED)),
    Route("GET",  "/dashboard/reports",          "page",         200, DENIED, only(REPORT_READERS, ALLOWED)),
    Route("POST", "/dashboard/reports",          "write_report", 303, DENIED, only(REPORT_READERS, ALLOWED)),
    Route("GET",  "/dashboard/reports/<int:report_id>.xlsx", "report_file", 200, DENIED,
          only(REPORT_READERS, ALLOWED)),
    Route("GET",  "/processes",                  "page",         200, ALLOWED),
    Route("GET",  "/processes/versions/<int:version_id>/diagram.bpmn", "version", 200, ALLOWED),
    Route("POST", "/processes/deploy",           "deploy",       303, DENIED, only(DESIGNERS, ALLOWED)),
    Route("POST", "/processes/versions/<int:version_id>/activate", "activate", 303, DENIED,
          only(DESIGNERS, ALLOWED)),
    Route("POST", "/processes/versions/<int:version_id>/retire", "retire", 303, DENIED, only(DESIGNERS, ALLOWED)),
    Route("POST", "/processes/<process_id>/rollback", "rollback", 303, DENIED, only(DESIGNERS, ALLOWED)),
    Route("GET",  "/processes/<process_id>/start", "start_page", 200, DENIED, only(STARTERS, ALLOWED)),
    # the designer's workbench: designers and administrators only (its JSON routes answer a form 400)
    Route("GET",  "/designer",                   "page",         200, DENIED, only(DESIGNERS, ALLOWED)),
    Route("GET",  "/designer/<process_id>",      "designer_model", 200, DENIED, only(DESIGNERS, ALLOWED)),
    Route("POST", "/designer/<process_id>/check", "designer_model", 200, DENIED, only(DESIGNERS, 400)),
    Route("POST", "/designer/<process_id>/deploy", "designer_model", 201, DENIED, only(DESIGNERS, 400)),
    Route("POST", "/designer/<process_id>/diff", "designer_model", 200, DENIED, only(DESIGNERS, 400)),
    Route("GET",  "/designer/<process_id>/migration", "migration_plan", 200, DENIED, only(DESIGNERS, ALLOWED)),
    Route("GET",  "/designer/<process_id>/steps", "migration_plan", 200, DENIED, only(DESIGNERS, ALLOWED)),
    Route("GET",  "/designer/<process_id>/what-if", "what_if", 200, DENIED, only(DESIGNERS, ALLOWED)),
    Route("GET",  "/designer/<process_id>/files/<name>", "model_file", 200, DENIED, only(DESIGNERS, ALLOWED)),
    Route("POST", "/designer/<process_id>/form-preview", "designer_model", 200, DENIED, only(DESIGNERS, 400)),
    Route("POST", "/designer/<process_id>/migration", "designer_model", 200, DENIED, only(DESIGNERS, 400)),
    Route("POST", "/processes/<process_id>/start", "start",    303, (DENIED, DENIED),
          only(STARTERS, (ALLOWED, DENIED))),
    Route("GET",  "/admin/settings",             "page",         200, DENIED, {"admin": ALLOWED}),
    Route("POST", "/admin/settings",             "setting",      303, DENIED, {"admin": ALLOWED}),
    Route("GET",  "/admin/calendar",             "page",         200, DENIED, {"admin": ALLOWED}),
    Route("POST", "/admin/calendar",             "calendar_day", 303, DENIED, {"admin": ALLOWED}),
    Route("GET",  "/admin/sessions",             "page",         200, DENIED, {"admin": ALLOWED}),
    Route("POST", "/admin/sessions/<token_id>/revoke", "revoke", 303, DENIED, {"admin": ALLOWED}),
    Route("POST", "/admin/users/<name>/sign-out", "sign_out_everywhere", 303, DENIED, {"admin": ALLOWED}),
    # ---- the JSON API
    Route("POST", "/api/v1/auth/token",          "api_token",    200, ALLOWED, signed_out=401),
    Route("GET",  "/api/v1/openapi.json",        "page",         200, ALLOWED, signed_out=ALLOWED),
    Route("GET",  "/api/v1/categories",          "page",         200, ALLOWED),
    Route("GET",  "/api/v1/processes",           "page",         200, ALLOWED),
    Route("POST", "/api/v1/processes",           "deploy",       201, DENIED, only(DESIGNERS, ALLOWED)),
    Route("POST", "/api/v1/versions/<int:version_id>/activate", "activate", 200, DENIED,
          only(DESIGNERS, ALLOWED)),
    Route("POST", "/api/v1/versions/<int:version_id>/retire", "retire", 200, DENIED, only(DESIGNERS, ALLOWED)),
    Route("POST", "/api/v1/processes/<process_id>/rollback", "rollback", 200, DENIED, only(DESIGNERS, ALLOWED)),
    Route("POST", "/api/v1/processes/<process_id>/instances", "start", 201, (DENIED, DENIED),
          only(STARTERS, (ALLOWED, DENIED))),
    Route("POST", "/api/v1/events",              "report",       201, (DENIED, DENIED),
          only(REPORTERS, (ALLOWED, DENIED))),
    Route("GET",  "/api/v1/events",              "event_search", 200, (LISTED, UNLISTED)),
    Route("GET",  "/api/v1/events/<int:event_id>", "event",      200, (ALLOWED, HIDDEN)),
    Route("GET",  "/api/v1/tasks",               "claimable",    200, (UNLISTED, UNLISTED),
          only(WORKERS, (LISTED, UNLISTED))),
    Route("GET",  "/api/v1/tasks/<int:task_id>", "work_task",    200, (ALLOWED, HIDDEN)),
    Route("GET",  "/api/v1/tasks/<int:task_id>", "done_task",    200, (ALLOWED, HIDDEN)),
    Route("POST", "/api/v1/tasks/<int:task_id>/claim",    "claim",    200, (DENIED, HIDDEN),
          only(WORKERS, (ALLOWED, HIDDEN))),
    Route("POST", "/api/v1/tasks/<int:task_id>/unclaim",  "unclaim",  200, (DENIED, HIDDEN),
          only(WORKERS, (ALLOWED, HIDDEN))),
    Route("POST", "/api/v1/tasks/<int:task_id>/complete", "complete", 200, (DENIED, HIDDEN),
          only(WORKERS, (ALLOWED, HIDDEN))),
    Route("POST", "/api/v1/tasks/<int:task_id>/assign",    "assign",    200, (DENIED, HIDDEN),
          {**only(ASSIGNERS, (ALLOWED, HIDDEN)), "handler": (HIDDEN, HIDDEN)}),
    Route("POST", "/api/v1/tasks/<int:task_id>/delegate",  "delegate",  200, (DENIED, HIDDEN),
          only(WORKERS, (ALLOWED, HIDDEN))),
    Route("POST", "/api/v1/tasks/<int:task_id>/give-back", "give_back", 200, (DENIED, HIDDEN),
          only(WORKERS, (ALLOWED, HIDDEN))),
    Route("POST", "/api/v1/tasks/<int:task_id>/comments",  "comment",   201, (ALLOWED, HIDDEN)),
    Route("POST", "/api/v1/tasks/<int:task_id>/follow-up", "follow_up", 200, (DENIED, HIDDEN),
          only(WORKERS, (ALLOWED, HIDDEN))),
    Route("GET",  "/api/v1/filters",             "page",         200, ALLOWED),
    Route("POST", "/api/v1/filters",             "save_filter",  201, ALLOWED),
    Route("DELETE", "/api/v1/filters/<int:filter_id>", "delete_filter", 200, ALLOWED),
    Route("POST", "/api/v1/attachments",         "upload",       201, ALLOWED),
    Route("GET",  "/api/v1/attachments/<attachment_id>", "report_photo", 200, (ALLOWED, HIDDEN)),
    Route("GET",  "/api/v1/attachments/<attachment_id>", "task_photo",   200, (ALLOWED, HIDDEN),
          {"handler": (HIDDEN, HIDDEN)}),
    Route("GET",  "/api/v1/attachments/<attachment_id>", "own_upload",   200, ALLOWED),
    Route("GET",  "/api/v1/attachments/<attachment_id>", "others_upload", 200, HIDDEN),
    Route("GET",  "/api/v1/notices",             "notices",        200, LISTED),
    Route("GET",  "/api/v1/notices",             "others_notices", 200, UNLISTED),
    Route("POST", "/api/v1/notices/<int:notice_id>/read", "own_notice",    200, ALLOWED),
    Route("POST", "/api/v1/notices/<int:notice_id>/read", "others_notice", 200, HIDDEN),
)
# fmt: on
# HEAD and OPTIONS are Flask's own answers to every route.
IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Cell:
    """One cell of the matrix: a row, a role (None: signed out), a scope (``in``, ``out``, ``-``), the outcome."""

    route: Route
    role: str | None
    scope: str
    outcome: Outcome

    @property
    def name(self) -> str:
        """How the cell is named in the test report."""
        route = self.route
        who = f"as {self.role}" if self.role else "signed out"
        where = {"in": "in scope", "out": "out of scope", "-": "no target"}[self.scope]
        return f"{route.method} {route.rule} ({route.kind}) {who}, {where}"


def cells() -> Iterator[Cell]:
    """Every cell of the matrix."""
    for route in MATRIX:
        assert route.kind in KINDS, f"{route.method} {route.rule}: no kind {route.kind!r}"
        scoped = route.kind in SCOPED
        yield Cell(route, None, "in" if scoped else "-", route.signed_out)
        for role in ROLES:
            outcome = route.roles.get(role, route.everyone)
            assert isinstance(outcome, tuple) == scoped, f"{route.rule} [{route.kind}] {role}: {outcome}"
            if scoped:
                yield Cell(route, role, "in", outcome[0])
                yield Cell(route, role, "out", outcome[1])
            else:
                yield Cell(route, role, "-", outcome)


CELLS = list(cells())


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The world of the matrix on one backend, built once for all its cells."""
    tmp: Path = tmp_path_factory.mktemp(f"authorization-{request.param}")
    yield from world_fixture(request.param, tmp)


def test_every_route_and_method_has_a_row(world):
    served = {
        (method, rule.rule)
        for rule in world.app.url_map.iter_rules()
        for method in sorted((rule.methods or set()) - IGNORED_METHODS)
    }
    listed = {(route.method, route.rule) for route in MATRIX}
    assert not served - listed, f"routes with no authorization row in MATRIX: {sorted(served - listed)}"
    assert not listed - served, f"rows in MATRIX for routes that do not exist: {sorted(listed - served)}"


def _described(response: Any) -> str:
    location = response.headers.get("Location")
    body = response.get_data().decode("utf-8", "replace")
    return f"{response.status_code}{f' → {location}' if location else ''}: {body[:300]!r}"


def _check(cell: Cell, api: bool, response: Any, shows: Any) -> None:
    status, outcome = response.status_code, cell.outcome
    described = _described(response)
    if isinstance(outcome, int):
        assert status == outcome, described
    elif outcome == ALLOWED:
        assert status == cell.route.ok, described
        if status in (301, 302, 303):
            assert not response.headers["Location"].startswith("/login?next="), described
    elif outcome == LOGIN:
        if api:
            assert status == 401, described
        else:
            assert status == 302 and response.headers["Location"].startswith("/login?next="), described
    elif outcome in (LISTED, UNLISTED):
        assert status == 200, described
        assert shows(response) == (outcome == LISTED), f"expected {outcome}: {described}"
    else:
        allowed = {DENIED: {403}, HIDDEN: {404}, REFUSED: {403, 404}}[outcome]
        assert status in allowed, f"expected {outcome}, got {described}"


@pytest.mark.parametrize("cell", CELLS, ids=[c.name for c in CELLS])
def test_cell(world, cell):
    route = cell.route
    api = route.rule.startswith("/api/")
    ask = Ask(cell.role, cell.scope, api, allowed=cell.outcome == ALLOWED)
    call = KINDS[route.kind](world, ask)
    refused = route.method == "POST" and cell.outcome in (DENIED, HIDDEN, REFUSED, LOGIN, 401)
    try:
        if call.before:
            call.before()
        before = world.fingerprint() if refused else None
        response = world.send(route.rule, route.method, cell.role, call)
        _check(cell, api, response, call.shows)
        if call.check:
            call.check(response)
        if before is not None:
            assert world.fingerprint() == before, f"a refused {route.method} changed the database"
        if cell.outcome == HIDDEN and call.compared:
            named = [str(call.view_args[name]) for name in call.compared]
            missing = world.answer_to_missing(route.rule, route.method, cell.role, call)
            assert error_message(response, named) == missing, "answered unlike a missing id"
    finally:
        if call.after:
            call.after()
