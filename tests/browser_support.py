"""Browser-test support: a real gridloop server in a thread, Debian's chromium through Playwright, staff who
sign in, and a screenshot of every open page when a test fails.

Loaded by tests/test_browser.py as a pytest plugin (``pytest_plugins``), so that its report hook sees the
``browse`` fixture of a failing test and saves ``test-artifacts/<test>-<n>-<user>.png``.
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from werkzeug.serving import make_server

from engine.demo.district import create_demo_district
from engine.org import people
from webui import create_app

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VENDOR_SCRIPT = REPO / "webui" / "static" / "vendor" / "bpmn-navigated-viewer.production.min.js"
PASSWORD = "browser-test-password"
STAFF = (
    "gw_hb1",
    "intake",
    "dispatcher",
    "h_dh_hw",
    "leader",
    "supervisor",
    "auditor",
    "designer",
    "admin",
    "evaluator",
)


def make_png(width: int = 4, height: int = 3) -> bytes:
    """A small valid PNG (a red rectangle), made without an imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xd0\x30\x30" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


class LiveServer:
    """The Flask app served by werkzeug on 127.0.0.1 and a free port, in a background thread."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> LiveServer:
        """Start answering requests."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the server and wait for its thread."""
        self._server.shutdown()
        self._thread.join(timeout=10)


def instructed_case(gl: Any, description: str = "小区门口垃圾堆放多日") -> tuple[dict, dict]:
    """A case reported in 湖滨's first grid, accepted and dispatched to 环卫所, with a leader's instruction (领导批示)
    on it: the event and the sheet."""
    event = gl.report("gw_hb1", {"category": "0101", "description": description, "grid": "330199001001001"})
    for username, data in (("intake", {"decision": "accept"}), ("dispatcher", {"department": "DH-HW"})):
        task = next(t for t in gl.event_detail("admin", event["id"])["tasks"] if t["status"] == "open")
        gl.complete(username, task["id"], data)
    sheet = gl.issue_sheet("supervisor", event["id"], "DH-HW", "领导批示：群众反映强烈，请今日处置完毕")
    return event, sheet


def demo_app(database: Path) -> Any:
    """The web app on a fresh SQLite file with the demo district, the repo's processes deployed and
    real passwords for the staff the browser tests sign in as."""
    app = create_app({"DATABASE_URL": f"sqlite:///{database}", "SECRET_KEY": "browser-tests"})
    gl = app.extensions["gridloop"]
    gl.init_schema()
    with gl.db.unit_of_work() as session:
        create_demo_district(session, password=None)
        for username in STAFF:
            people.add_user(session, username, password=PASSWORD)
    gl.deploy(REPO, activate=True)
    return app


class Browse:
    """Staff at their browsers: one browser context (own cookies) per user, all remembered for screenshots."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.opened: list[tuple[str, BrowserContext, Page]] = []

    def sign_in(self, username: str, **context_options: Any) -> Page:
        """A new browser context signed in as ``username``, on their inbox."""
        context = self.browser.new_context(base_url=self.base_url, locale="zh-CN", **context_options)
        context.set_default_timeout(15_000)
        page = context.new_page()
        self.opened.append((username, context, page))
        page.goto("/login")
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit].primary")
        expect(page).to_have_url(f"{self.base_url}/inbox")
        return page

    def screenshots(self, name: str) -> list[Path]:
        """Save a full-page screenshot of every open page under test-artifacts/."""
        ARTIFACTS.mkdir(exist_ok=True)
        saved = []
        for n, (username, _context, page) in enumerate(self.opened):
            if page.is_closed():
                continue
            path = ARTIFACTS / f"{name}-{n}-{username}.png"
            page.screenshot(path=str(path), full_page=True)
            saved.append(path)
        return saved

    def close(self) -> None:
        """Close every context."""
        for _username, context, _page in self.opened:
            context.close()


@pytest.fixture
def tiny_png() -> Any:
    """:func:`make_png`, for tests that upload a photo."""
    return make_png


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A running server on its own database for the module's tests."""
    if not VENDOR_SCRIPT.exists():
        pytest.fail(f"{VENDOR_SCRIPT.relative_to(REPO)} is missing: run `make vendor` (npm installs bpmn-js)")
    app = demo_app(tmp_path_factory.mktemp("browser") / "browser.sqlite3")
    server = LiveServer(app).start()
    yield server
    server.stop()
    app.extensions["gridloop"].db.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def browse(browser: Browser, live_server: LiveServer) -> Iterator[Browse]:
    """Staff at their browsers against the live server; every page is closed after the test."""
    staff = Browse(browser, live_server.url)
    yield staff
    staff.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """On a failing browser test, save a screenshot of every page it had open."""
    outcome = yield
    report = outcome.get_result()
    staff = getattr(item, "funcargs", {}).get("browse")
    if report.when == "call" and report.failed and isinstance(staff, Browse):
        saved = staff.screenshots(item.name)
        report.sections.append(("screenshots", "\n".join(str(p) for p in saved)))
