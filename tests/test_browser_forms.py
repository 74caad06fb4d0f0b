"""Forms that fit the outcome, in a real browser at phone width (390×844): every shipped form on its real page
in the demo district, each outcome chosen in turn, with the fields shown and hidden, the required marks and
the form's height checked (element heights measured in the page: layout, not time). The events are driven to
each step through the engine; the page is opened by the staff member the task is offered to. Screenshots of
every outcome are saved under the test's tmp dir; a page without JavaScript shows every field with its hint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from conftest import TINY_PNG
from playwright.sync_api import Page, expect

from engine.org import people
from engine.time.clock import ManualClock

if TYPE_CHECKING:
    from browser_support import Browse, LiveServer

    from engine.app import Gridloop

pytest_plugins = ["browser_support"]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# who may be offered a step in these cases; each signs in with the tests' password
CANDIDATES = (
    "gw_hb1",
    "intake",
    "dispatcher",
    "leader",
    "leader_hb",
    "dispatcher_hb",
    "dispatcher_dh",
    "h_dh_hw",
    "h_dh_cg",
)
DISTRICT = "330199"
ACCEPT = {"decision": "accept"}
ASSIGN = {"dispatch_action": "assign", "department": "DH-HW"}
DONE = {"action": "done", "result": "已清运完毕"}
# the tallest a form may be at phone width with any one outcome chosen (handle's nine fields were ~3000 px)
TALLEST = 1500

SHOWN_FIELDS = """(form) => [...form.querySelectorAll('.field[id^="field-"]')]
  .filter((f) => !f.id.slice(6).includes('.') && f.offsetParent !== null).map((f) => f.id.slice(6)).sort()"""
MARKED_FIELDS = """(form) => [...form.querySelectorAll('.field[id^="field-"]')]
  .filter((f) => !f.id.slice(6).includes('.') && f.offsetParent !== null
    && [...f.querySelectorAll('abbr.req')].some((m) => m.offsetParent !== null))
  .map((f) => f.id.slice(6)).sort()"""
HEIGHT = "(form) => form.getBoundingClientRect().height"


@dataclass
class Form:
    """A shipped form's page: how its step is reached, the field whose choice is the outcome, and per outcome
    (a form value) the conditional fields it shows and the fields it marks required beyond the always-required."""

    reach: Callable[[Gridloop], int | None]  # the task's id (None: the report page)
    choice: str | None = None
    outcomes: dict[str, tuple[set[str], set[str]]] = field(default_factory=dict)
    absent: set[str] = field(default_factory=set)  # fields this case does not draw at all


def at(gl: Gridloop, event_id: int, step: str) -> int:
    """The id of the event's open task at ``step``."""
    tasks = gl.event_detail("admin", event_id)["tasks"]
    found = [t["id"] for t in tasks if t["step"] == step and t["status"] == "open"]
    assert found, f"event {event_id} is not at {step}: {[(t['step'], t['status']) for t in tasks]}"
    return found[0]


def offered_to(gl: Gridloop, task_id: int) -> str:
    """The first of CANDIDATES the task is offered to."""
    for username in CANDIDATES:
        if task_id in [row["id"] for row in gl.inbox(username, "claimable", per_page=1000)[0]]:
            return username
    raise AssertionError(f"task {task_id} is offered to none of {CANDIDATES}")


def done(gl: Gridloop, event_id: int, step: str, data: dict[str, Any]) -> int:
    """Complete the event's task at ``step`` as the one it is offered to; return the event."""
    task_id = at(gl, event_id, step)
    gl.complete(offered_to(gl, task_id), task_id, data)
    return event_id


def reported(gl: Gridloop, **data: Any) -> int:
    payload = {"category": "0101", "description": "湖滨路口有一堆暴露垃圾", "grid": "330199001001001"}
    return int(gl.report("gw_hb1", {**payload, **data})["id"])


def dispatched(gl: Gridloop) -> int:
    return done(gl, reported(gl), "accept", ACCEPT)


def handling(gl: Gridloop) -> int:
    return done(gl, dispatched(gl), "dispatch", ASSIGN)


def later(gl: Gridloop, days: int) -> str:
    return (gl.now() + timedelta(days=days)).isoformat(timespec="seconds")


def on_hold(gl: Gridloop) -> int:
    event_id = handling(gl)
    done(
        gl, event_id, "handle", {"action": "hold", "hold_reason": "需待管线迁改", "review_date": later(gl, 3)}
    )
    return done(gl, event_id, "approve_hold", {"hold_approved": True})


def fire_timers_after(gl: Gridloop, days: int) -> None:
    clock = gl.clock
    assert isinstance(clock, ManualClock)
    clock.set(gl.now() + timedelta(days=days))
    gl.tick()


def in_meeting(gl: Gridloop) -> int:
    """A case reported up to the district's platform and taken to a joint meeting there."""
    event_id = dispatched(gl)
    while gl.task_detail("admin", at(gl, event_id, "dispatch"))["task"]["scope"] != DISTRICT:
        done(gl, event_id, "dispatch", {"dispatch_action": "report_up", "dispatch_reason": "本级无法协调"})
    joint_meeting = {"dispatch_action": "joint_meeting", "dispatch_reason": "涉及多个部门，提请联席会议"}
    return done(gl, event_id, "dispatch", joint_meeting)


def meeting_record(gl: Gridloop, **data: Any) -> dict[str, Any]:
    record = {
        "meeting_time": gl.now().isoformat(timespec="seconds"),
        "meeting_participants": ["东湖街道环卫所", "东湖街道城管执法中队"],
        "meeting_decision": "resolve",
        "joint_lead": {"department": "DH-HW", "limit": 3},
        "joint_supports": {"support_1": {"department": "DH-CG", "limit": 2}},
    }
    return {**record, **data}


def joint(gl: Gridloop) -> int:
    return done(gl, in_meeting(gl), "record_meeting", meeting_record(gl))


def joint_verify(gl: Gridloop) -> int:
    event_id = joint(gl)
    done(gl, event_id, "joint_handle", {"joint_result": "已按分工完成"})
    done(gl, event_id, "joint_handle", {"joint_result": "已按分工完成"})
    return at(gl, event_id, "verify")


def legacy_review(gl: Gridloop) -> int:
    event_id = in_meeting(gl)
    ruling = meeting_record(
        gl, meeting_decision="hold_legacy", legacy_reason="历史遗留问题", legacy_review_date=later(gl, 1)
    )
    done(gl, event_id, "record_meeting", {k: v for k, v in ruling.items() if not k.startswith("joint_")})
    fire_timers_after(gl, 2)
    return at(gl, event_id, "review_legacy")


def self_handled(gl: Gridloop) -> int:
    event_id = done(gl, reported(gl, self_handle=True), "accept", ACCEPT)
    photos = [gl.upload("gw_hb1", f"{n}.png", TINY_PNG).id for n in ("before", "after")]
    result = {"result": "已现场清理", "before_photos": [photos[0]], "after_photos": [photos[1]]}
    return at(gl, done(gl, event_id, "self_handle_task", result), "close_self")


def hold_reminder(gl: Gridloop) -> int:
    event_id = on_hold(gl)
    fire_timers_after(gl, 4)
    return at(gl, event_id, "hold_reminder")


def verified(gl: Gridloop) -> int:
    return done(gl, done(gl, handling(gl), "handle", DONE), "verify", {"passed": True})


FORMS: dict[str, Form] = {
    "report": Form(
        lambda gl: None,
        "channel",
        {
            "grid": ({"self_handle"}, set()),
            "hotline": ({"reporter_name", "reporter_phone", "channel_ref"}, set()),
        },
    ),
    "check_exists": Form(
        lambda gl: at(
            gl,
            int(
                gl.report(
                    "intake",
                    {
                        "category": "0101",
                        "description": "市民来电：路口有暴露垃圾",
                        "grid": "330199001001001",
                        "channel": "hotline",
                        "reporter_name": "张先生",
                        "reporter_phone": "13812345678",
                    },
                )["id"]
            ),
            "check_exists",
        ),
        "exists",
        {"true": (set(), set()), "false": (set(), set())},
    ),
    "accept": Form(
        lambda gl: at(gl, reported(gl), "accept"),
        "decision",
        {
            "accept": (set(), set()),
            "reject": ({"reason"}, {"reason"}),
            "similar": ({"similar_to"}, {"similar_to"}),
        },
    ),
    "dispatch": Form(
        lambda gl: at(gl, dispatched(gl), "dispatch"),
        "dispatch_action",
        {
            "assign": ({"department", "instructions"}, {"department"}),
            "report_up": ({"dispatch_reason"}, {"dispatch_reason"}),
            "joint_meeting": ({"dispatch_reason"}, {"dispatch_reason"}),
            "void": ({"dispatch_reason"}, {"dispatch_reason"}),
        },
    ),
    "approve_void": Form(
        lambda gl: at(
            gl,
            done(gl, dispatched(gl), "dispatch", {"dispatch_action": "void", "dispatch_reason": "重复上报"}),
            "approve_void",
        ),
        "void_approved",
        {"true": (set(), set()), "false": (set(), {"void_opinion"})},
    ),
    "handle": Form(
        lambda gl: at(gl, handling(gl), "handle"),
        "action",
        {
            "done": ({"result", "photos"}, {"result"}),
            "send_back": ({"send_back_reason"}, {"send_back_reason"}),
            "extension": (
                {"extension_limit", "extension_unit", "extension_reason"},
                {"extension_limit", "extension_unit", "extension_reason"},
            ),
            "hold": ({"hold_reason", "review_date"}, {"hold_reason", "review_date"}),
        },
    ),
    "reassign": Form(
        lambda gl: at(
            gl,
            done(gl, handling(gl), "handle", {"action": "send_back", "send_back_reason": "非本部门职责"}),
            "reassign",
        )
    ),
    "approve_extension": Form(
        lambda gl: at(
            gl,
            done(
                gl,
                handling(gl),
                "handle",
                {
                    "action": "extension",
                    "extension_limit": 2,
                    "extension_unit": "work_days",
                    "extension_reason": "需协调车辆",
                },
            ),
            "approve_extension",
        ),
        "extension_approved",
        {"true": (set(), set()), "false": (set(), {"extension_opinion"})},
    ),
    "approve_hold": Form(
        lambda gl: at(
            gl,
            done(
                gl,
                handling(gl),
                "handle",
                {
                    "action": "hold",
                    "hold_reason": "需待管线迁改",
                    "review_date": later(gl, 3),
                },
            ),
            "approve_hold",
        ),
        "hold_approved",
        {"true": (set(), set()), "false": (set(), {"hold_opinion"})},
    ),
    "resume_hold": Form(lambda gl: at(gl, on_hold(gl), "resume_hold")),
    "hold_reminder": Form(hold_reminder),
    "verify": Form(
        lambda gl: at(gl, done(gl, handling(gl), "handle", DONE), "verify"),
        "passed",
        {"true": (set(), set()), "false": (set(), {"note"})},
        absent={"rework_departments"},
    ),
    "verify_joint": Form(
        joint_verify,
        "passed",
        {"true": (set(), set()), "false": ({"rework_departments"}, {"note"})},
    ),
    "close": Form(lambda gl: at(gl, verified(gl), "close")),
    "follow_up": Form(
        lambda gl: at(gl, done(gl, verified(gl), "close", {}), "follow_up"),
        "satisfaction",
        {"satisfied": (set(), set()), "dissatisfied": (set(), set())},
    ),
    "meeting": Form(
        lambda gl: at(gl, in_meeting(gl), "record_meeting"),
        "meeting_decision",
        {
            "resolve": ({"joint_lead", "joint_supports", "joint_limit_unit"}, {"joint_lead"}),
            "hold_legacy": ({"legacy_reason", "legacy_review_date"}, {"legacy_reason", "legacy_review_date"}),
        },
    ),
    "joint_handle": Form(lambda gl: at(gl, joint(gl), "joint_handle")),
    "review_legacy": Form(
        legacy_review,
        "legacy_review_decision",
        {"reconvene": (set(), set()), "keep": ({"legacy_review_date"}, {"legacy_review_date"})},
    ),
    "self_handle": Form(
        lambda gl: at(gl, done(gl, reported(gl, self_handle=True), "accept", ACCEPT), "self_handle_task")
    ),
    "close_self": Form(self_handled, "decision", {"close": (set(), set()), "dispatch": (set(), set())}),
}


@pytest.fixture(scope="module")
def gl(live_server: LiveServer) -> Iterator[Gridloop]:
    """The live server's engine on a manual clock (timers fire when it is moved on), with passwords for every
    candidate."""
    from browser_support import PASSWORD  # the plugin's, imported once pytest has loaded it

    engine = live_server.app.extensions["gridloop"]
    real = engine.clock
    engine.clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    with engine.db.unit_of_work() as session:
        for username in CANDIDATES:
            people.add_user(session, username, password=PASSWORD)
    yield engine
    engine.clock = real


def open_form(browse: Browse, gl: Gridloop, form: Form, **context: Any) -> Page:
    """The form's page at phone width (unless ``context`` says otherwise), signed in as whom it is offered to."""
    return open_task(browse, gl, form.reach(gl), **context)


def open_task(browse: Browse, gl: Gridloop, task_id: int | None, **context: Any) -> Page:
    """A task's page (the report page for None), signed in as whom it is offered to."""
    username = "gw_hb1" if task_id is None else offered_to(gl, task_id)
    page = browse.sign_in(username, **({"viewport": PHONE, "is_mobile": True, "has_touch": True} | context))
    page.goto("/report" if task_id is None else f"/tasks/{task_id}")
    expect(page.locator("form.schema-form")).to_be_visible()
    return page


def drawn(page: Page) -> set[str]:
    """Every top-level field the page draws, shown or not."""
    ids = page.locator("form.schema-form .field[id^='field-']").evaluate_all(
        "(fs) => fs.map((f) => f.id.slice(6))"
    )
    return {i for i in ids if "." not in i}


def choose(page: Page, name: str, value: str) -> None:
    """Choose ``value`` of field ``name`` the way a user does: a radio button, or an option of a select."""
    control = page.locator(f"#field-{name} [name='{name}']")
    if control.first.evaluate("(c) => c.tagName") == "SELECT":
        control.select_option(value)
    else:
        page.locator(f"#field-{name} input[value='{value}']").check()


@pytest.mark.parametrize("name", list(FORMS))
def test_each_outcome_shows_its_fields_at_phone_width(
    name: str, browse: Browse, gl: Gridloop, tmp_path: Path
) -> None:
    form = FORMS[name]
    page = open_form(browse, gl, form)
    schema_form = page.locator("form.schema-form")
    every = drawn(page)
    assert not every & form.absent, f"{name}: {every & form.absent} should not be drawn for this case"
    conditional = set().union(*(shown for shown, _ in form.outcomes.values()))
    assert conditional <= every, f"{name}: {conditional - every} are not on the page"
    always_marked = set(schema_form.evaluate(MARKED_FIELDS)) - conditional
    if form.choice is None:
        assert set(schema_form.evaluate(SHOWN_FIELDS)) == every
        height = schema_form.evaluate(HEIGHT)
        page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
        assert height < TALLEST, f"{name} is {height:.0f} px tall at phone width"
        return
    for value, (shown, marked) in form.outcomes.items():
        choose(page, form.choice, value)
        expect(page.locator(f"#field-{form.choice}")).to_be_visible()
        visible = set(schema_form.evaluate(SHOWN_FIELDS))
        assert visible == (every - conditional) | shown, f"{name}, {value}: shown {sorted(visible)}"
        assert set(schema_form.evaluate(MARKED_FIELDS)) == always_marked | marked, f"{name}, {value}: marks"
        height = schema_form.evaluate(HEIGHT)
        page.screenshot(path=str(tmp_path / f"{name}-{value}.png"), full_page=True)
        assert height < TALLEST, f"{name}, {value}: {height:.0f} px tall at phone width"
        hidden_controls = page.locator(
            "form.schema-form .field[hidden] :is(input, select, textarea):not([disabled])"
        )
        expect(hidden_controls).to_have_count(0)


def test_the_handle_form_starts_short_and_sends_only_the_chosen_outcome(browse: Browse, gl: Gridloop) -> None:
    event_id = handling(gl)
    page = open_task(browse, gl, at(gl, event_id, "handle"))
    schema_form = page.locator("form.schema-form")
    assert schema_form.evaluate(SHOWN_FIELDS) == ["action"], "nothing chosen: only the choice"
    page.get_by_label("申请延期", exact=True).check()
    page.fill("#f-extension_reason", "需协调车辆")
    page.get_by_label("处置完毕", exact=True).check()
    page.fill("#f-result", "已清运完毕，现场已清洁")
    page.click("form.schema-form button[type=submit]")
    expect(page.locator(".flash-success")).to_be_visible()
    history = gl.event_detail("admin", event_id)["history"]
    submitted = [h for h in history if h["action"] == "complete"][-1]["data"]["form"]
    assert submitted["action"] == "done" and "extension_reason" not in submitted


def test_without_javascript_every_field_shows_with_when_it_is_needed(
    browse: Browse, gl: Gridloop, tmp_path: Path
) -> None:
    page = open_form(browse, gl, FORMS["handle"], java_script_enabled=False)
    schema_form = page.locator("form.schema-form")
    assert set(schema_form.evaluate(SHOWN_FIELDS)) == drawn(page) and len(drawn(page)) == 9
    expect(page.locator("#field-extension_reason .hint.when")).to_have_text(
        "「办理结果」为「申请延期」时必填"
    )
    expect(page.locator("#field-photos .hint.when")).to_have_text("「办理结果」为「处置完毕」时填写")
    page.screenshot(path=str(tmp_path / "handle-no-js.png"), full_page=True)


def test_the_handle_form_at_desktop_width(browse: Browse, gl: Gridloop, tmp_path: Path) -> None:
    page = open_form(browse, gl, FORMS["handle"], viewport=DESKTOP)
    page.get_by_label("申请挂账", exact=True).check()
    expect(page.locator("#field-review_date abbr.req")).to_be_visible()
    expect(page.locator("#field-result")).to_be_hidden()
    page.screenshot(path=str(tmp_path / "handle-desktop-hold.png"), full_page=True)
