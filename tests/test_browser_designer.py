"""The designer's workbench in a real browser (issue 13): draw a small change in bpmn-js's Modeler, see the
deploy check's problem on the element, fix it, compare with the active version, deploy a draft, dry-run and run
the migration of a running instance, activate the draft, start an instance on it, roll back — the whole round a
designer makes, on Debian's chromium."""

from __future__ import annotations

from typing import TYPE_CHECKING

from playwright.sync_api import expect

if TYPE_CHECKING:
    from browser_support import Browse, LiveServer

pytest_plugins = ["browser_support"]

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 800}
VISIT = {"grid": "330199001001001", "household": "5幢1单元102室", "purpose": "routine"}


def _active(gl, process_id: str) -> int:
    return next(m["active"] for m in _models(gl) if m["id"] == process_id)


def _models(gl) -> list[dict]:
    from engine.reads.processes import process_models

    with gl.reading("designer") as reader:
        return process_models(reader)


def test_a_designer_changes_deploys_migrates_activates_and_rolls_back(
    browse: Browse, live_server: LiveServer
):
    gl = live_server.app.extensions["gridloop"]
    active = _active(gl, "household_visit")
    running = gl.start("gw_hb1", "household_visit", VISIT)  # an instance the migration will move
    page = browse.sign_in("designer", viewport=DESKTOP)
    page.goto("/designer")
    row = page.locator("tr", has_text="household_visit")
    row.get_by_role("link", name="编辑").click()
    review = page.locator('.djs-element[data-element-id="review_visit"]')
    expect(review).to_be_visible()
    problems = page.locator("#designer-problem-list")
    expect(problems).not_to_contain_text("部署检查")

    # a small change with a mistake: the deploy check finds it on its element, and it goes once fixed
    review.click()
    page.locator(".bio-properties-panel-group-header", has_text="gridloop").click()
    page.locator("#bio-properties-panel-gridloop-dueAtVariable").fill("visit due")
    expect(problems).to_contain_text("dueAtVariable 'visit due' is not a task-data variable")
    expect(page.locator('.djs-element.designer-problem[data-element-id="review_visit"]')).to_have_count(1)
    problems.get_by_role("button", name="dueAtVariable", exact=False).first.click()
    expect(page.locator('.djs-element.selected[data-element-id="review_visit"]')).to_have_count(1)
    page.locator("#bio-properties-panel-gridloop-dueAtVariable").fill("")
    expect(problems).not_to_contain_text("部署检查")
    page.locator(".bio-properties-panel-group-header", has_text="常规").click()
    page.locator("#bio-properties-panel-name").fill("社区审阅走访")

    # the diff against the active version, on the canvas and in the list
    page.get_by_role("button", name="与启用版本比较").click()
    diff = page.locator("#designer-diff-list")
    expect(diff).to_contain_text("修改")
    expect(diff).to_contain_text("社区审阅走访 (review_visit)")
    expect(page.locator('.djs-element.diff-changed[data-element-id="review_visit"]')).to_have_count(1)

    # deploy as a draft: new events still start on the active version
    page.get_by_role("button", name="部署为草稿").click()
    expect(page.locator("#designer-status")).to_contain_text("（草稿）")
    draft = max(v["id"] for m in _models(gl) if m["id"] == "household_visit" for v in m["versions"])
    assert draft != active and _active(gl, "household_visit") == active

    # the migration of the running instance: a dry run, then the move with its progress bar
    page.reload()
    page.select_option("#migration-from", str(active))
    page.select_option("#migration-to", str(draft))
    page.get_by_role("button", name="试运行").click()
    plan = page.locator(f'#migration-plans tr[data-event="{running["id"]}"]')
    expect(plan).to_contain_text("可迁移")
    expect(plan).to_contain_text("入户走访")
    page.get_by_role("button", name="执行迁移").click()
    expect(plan).to_contain_text("已迁移")
    expect(page.locator("#migration-status")).to_contain_text("已迁移 1 件")
    assert gl.event_detail("designer", running["id"])["process_version_id"] == draft

    # activate the draft on the process page; a grid worker starts a visit on it
    page.goto("/processes")
    card = page.locator("#process-household_visit")
    card.locator("details.version", has_text=f"版本 {draft}").locator("summary").click()
    card.locator("details.version", has_text=f"版本 {draft}").get_by_role("button", name="启用").click()
    expect(page.locator(".flash-success")).to_contain_text(f"版本 {draft} 已启用")
    worker = browse.sign_in("gw_hb1", viewport=PHONE, is_mobile=True, has_touch=True)
    worker.goto("/processes/household_visit/start")
    worker.locator("#f-household").fill("7幢3单元501室")
    worker.get_by_role("button", name="发起").click()
    expect(worker.locator(".flash-success")).to_contain_text("已发起")
    started = int(worker.url.rstrip("/").split("/")[-1])
    assert gl.event_detail("gw_hb1", started)["process_version_id"] == draft

    # and roll back: the version active before is active again
    page.goto("/processes")
    page.locator("#process-household_visit").get_by_role("button", name=f"回退到版本 {active}").click()
    expect(page.locator(".flash-success")).to_contain_text(f"已回退到版本 {active}")
    assert _active(gl, "household_visit") == active


def test_only_designers_and_administrators_open_the_workbench(browse: Browse) -> None:
    worker = browse.sign_in("gw_hb1", viewport=DESKTOP)
    answer = worker.goto("/designer/household_visit")
    assert answer is not None and answer.status == 403
    expect(worker.locator("nav")).not_to_contain_text("设计器")


def test_the_panel_shows_what_gridloop_reads_of_the_grid_loop(browse: Browse) -> None:
    page = browse.sign_in("designer", viewport=DESKTOP)
    page.goto("/designer/grid_event")
    route = page.locator('.djs-element[data-element-id="route"]')
    expect(route).to_be_visible()
    route.click()
    page.locator(".bio-properties-panel-group-header", has_text="gridloop").click()
    expect(page.locator("#bio-properties-panel-gridloop-calledDecisionId")).to_have_value("dispatch_routing")
    expect(page.locator("#designer-problem-list")).not_to_contain_text("部署检查")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= DESKTOP["width"]


def test_a_designer_plays_the_period_through_a_draft_and_maps_a_renamed_step(
    browse: Browse, live_server: LiveServer, tmp_path
):
    import shutil
    from datetime import datetime, timedelta
    from pathlib import Path
    from zoneinfo import ZoneInfo

    gl = live_server.app.extensions["gridloop"]
    active = _active(gl, "household_visit")
    visited = gl.start("gw_hb1", "household_visit", VISIT)
    [row] = [t for t in gl.event_detail("gw_hb1", visited["id"])["tasks"] if t["status"] == "open"]
    gl.claim("gw_hb1", row["id"])
    gl.complete("gw_hb1", row["id"], {"met": True, "findings": "正常", "needs_follow_up": False})
    waiting = gl.start("gw_hb1", "household_visit", VISIT)
    # a draft that calls the visit step record_household_visit
    folder = tmp_path / "processes" / "household_visit"
    shutil.copytree(Path(__file__).resolve().parent.parent / "processes" / "household_visit", folder)
    bpmn = folder / "household_visit.bpmn"
    bpmn.write_text(
        bpmn.read_text(encoding="utf-8")
        .replace('"record_visit"', '"record_household_visit"')
        .replace(">record_visit<", ">record_household_visit<"),
        encoding="utf-8",
    )
    draft = gl.deploy(folder)[0].id
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()

    page = browse.sign_in("designer", viewport=DESKTOP)
    page.goto("/designer/household_visit")
    expect(page.locator("#whatif-version")).to_have_value(str(draft))
    page.fill("#whatif-from", (today - timedelta(days=1)).isoformat())
    page.fill("#whatif-to", today.isoformat())
    page.get_by_role("button", name="回放", exact=True).click()
    cases = page.locator("#whatif-cases")
    code = gl.event_detail("gw_hb1", visited["id"])["code"]
    # the visit's record completes record_visit, which the draft calls otherwise: it takes another path
    expect(cases.locator("tr", has_text=code)).to_contain_text("路径不同")
    expect(cases.locator("tr", has_text=code)).to_contain_text("record_visit: record_household_visit")
    renamed = page.locator('#whatif-steps tr[data-step="record_household_visit"]')
    expect(renamed.locator("td.whatif-changed").first).to_be_visible()
    cases.get_by_role("link", name=code).click()
    expect(page).to_have_url(f"{live_server.url}/events/{visited['id']}")
    page.go_back()

    # the migration proposes the renamed step by its name, and moves the waiting visit by it
    page.select_option("#migration-from", str(active))
    page.select_option("#migration-to", str(draft))
    page.get_by_role("button", name="试运行").click()
    mapping = page.locator("#migration-mapping")
    expect(mapping).to_contain_text("入户走访 (record_visit)")
    expect(mapping.locator('select[data-step="record_visit"]')).to_have_value("record_household_visit")
    plan = page.locator(f'#migration-plans tr[data-event="{waiting["id"]}"]')
    expect(plan).to_contain_text("record_visit → record_household_visit")
    page.screenshot(path=str(tmp_path / "designer-whatif-desktop.png"), full_page=True)
    page.get_by_role("button", name="执行迁移").click()
    expect(plan).to_contain_text("已迁移")
    [moved] = [t for t in gl.event_detail("gw_hb1", waiting["id"])["tasks"] if t["status"] == "open"]
    assert moved["step"] == "record_household_visit"
    history = gl.event_detail("designer", waiting["id"])["history"]
    assert history[-1]["data"]["mapping"] == {"record_visit": "record_household_visit"}

    phone = browse.sign_in("designer", viewport=PHONE, is_mobile=True, has_touch=True)
    phone.goto("/designer/household_visit")
    phone.fill("#whatif-from", (today - timedelta(days=1)).isoformat())
    phone.fill("#whatif-to", today.isoformat())
    phone.get_by_role("button", name="回放", exact=True).click()
    expect(phone.locator("#whatif-result")).to_be_visible()
    phone.screenshot(path=str(tmp_path / "designer-whatif-phone.png"), full_page=True)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_designer_edits_a_form_beside_its_preview_at_desktop_and_phone_width(
    browse: Browse, live_server: LiveServer, tmp_path
):
    gl = live_server.app.extensions["gridloop"]
    page = browse.sign_in("designer", viewport=DESKTOP)

    # the grid loop's handling form: the fields of the chosen outcome appear in the preview as they do for staff
    page.goto("/designer/grid_event")
    page.select_option("#form-file", "handle.json")
    frame = page.frame_locator("#form-preview")
    expect(frame.locator("#field-action")).to_be_visible()
    expect(frame.locator("#field-extension_reason")).to_be_hidden()
    frame.locator("#field-action input[value='extension']").check()
    expect(frame.locator("#field-extension_reason")).to_be_visible()

    # the visit's record form: an edit redraws the preview, a try shows the submission's field errors
    page.goto("/designer/household_visit")
    page.select_option("#form-file", "visit_record.json")
    frame = page.frame_locator("#form-preview")
    expect(frame.locator("#field-findings")).to_contain_text("走访情况")
    text = page.locator("#form-text")
    text.fill(text.input_value().replace('"title": "走访情况"', '"title": "走访所见"'))
    expect(frame.locator("#field-findings")).to_contain_text("走访所见")
    expect(page.locator("#form-status")).to_contain_text("已修改")
    frame.get_by_role("button", name="试填检查").click()
    expect(frame.locator(".alert-error")).to_be_visible()
    frame.locator("#f-findings").fill("一切正常")
    frame.locator("#field-met input[value='true']").check()
    frame.get_by_role("button", name="试填检查").click()
    expect(frame.locator(".alert-success")).to_contain_text("填写有效")
    page.get_by_role("button", name="手机宽度").click()
    width = page.locator("#form-preview").evaluate("frame => frame.getBoundingClientRect().width")
    assert width <= 392
    page.screenshot(path=str(tmp_path / "designer-form-desktop.png"), full_page=True)

    # a broken form: the preview says what the deploy check says, and the diagram's problems list it too
    text.fill(text.input_value().replace('"minLength": 2', '"minLength": -2', 1))
    expect(frame.locator(".alert-error")).to_contain_text("visit_record.json")
    expect(page.locator("#designer-problem-list")).to_contain_text("visit_record.json")
    text.fill(text.input_value().replace('"minLength": -2', '"minLength": 2', 1))
    expect(page.locator("#designer-problem-list")).not_to_contain_text("visit_record.json")

    # deployed with the diagram as one draft
    page.get_by_role("button", name="部署为草稿").click()
    expect(page.locator("#designer-status")).to_contain_text("（草稿）")
    draft = max(v["id"] for m in _models(gl) if m["id"] == "household_visit" for v in m["versions"])
    with gl.db.reading() as session:
        files = gl.parts.versions.get(session, draft).bundle.files
    assert '"title": "走访所见"' in files["processes/household_visit/visit_record.json"]

    phone = browse.sign_in("designer", viewport=PHONE, is_mobile=True, has_touch=True)
    phone.goto("/designer/household_visit")
    phone.select_option("#form-file", "visit_record.json")
    expect(phone.frame_locator("#form-preview").locator("#field-findings")).to_be_visible()
    phone.screenshot(path=str(tmp_path / "designer-form-phone.png"), full_page=True)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_designer_edits_the_routing_table_in_dmn_js_and_deploys_it_with_the_diagram(
    browse: Browse, live_server: LiveServer, tmp_path
):
    gl = live_server.app.extensions["gridloop"]
    page = browse.sign_in("designer", viewport=DESKTOP)
    page.goto("/designer/grid_event")
    expect(page.locator("#table-editor")).to_contain_text("命中策略")
    cell = page.locator('#table-editor td[data-element-id="OutputEntry_0101_time_limit"]')
    expect(cell).to_have_text("4")
    cell.locator(".content-editable").click()
    page.keyboard.press("Control+A")
    page.keyboard.type("6")
    page.locator("#designer-tables h2").click()
    expect(page.locator("#table-status")).to_contain_text("已修改")
    page.screenshot(path=str(tmp_path / "designer-table.png"), full_page=True)
    page.get_by_role("button", name="部署为草稿").click()
    expect(page.locator("#designer-status")).to_contain_text("（草稿）")
    draft = max(v["id"] for m in _models(gl) if m["id"] == "grid_event" for v in m["versions"])
    with gl.db.reading() as session:
        table = gl.parts.versions.get(session, draft).bundle.files[
            "processes/grid_event/dispatch_routing.dmn"
        ]
    entry = table.split('id="OutputEntry_0101_time_limit"', 1)[1].split("</outputEntry>", 1)[0]
    assert "<text>6</text>" in entry, "the edited limit is in the draft's routing table"
    assert _active(gl, "grid_event") != draft, "a draft: new reports still start on the active version"
