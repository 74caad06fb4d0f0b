"""The shipped diagrams' layout, as bpmn-js draws it in a real browser: no label is drawn over another label,
and none over another element's shape (a sub-process's contents lie inside it by design and are not counted).

Each shipped BPMN file is drawn at scale 1 with the vendored viewer; every line of every label is measured as
the browser lays it out (so the font's real widths count, not the widths the file claims).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from engine.bpmn.labels import SOURCE_LANGUAGE, TRANSLATED_LANGUAGES, localize_bpmn

pytest_plugins = ["browser_support"]

REPO = Path(__file__).resolve().parents[1]
VENDOR_SCRIPT = REPO / "webui" / "static" / "vendor" / "bpmn-navigated-viewer.production.min.js"

SHIPPED = sorted(REPO.glob("processes/**/*.bpmn"))
CONTAINERS = {"bpmn:Process", "bpmn:Collaboration", "bpmn:Participant", "bpmn:Lane", "bpmn:SubProcess"}
SLACK = 1.0  # px of touching that does not count as overlapping (anti-aliased edges)

MEASURE = """
async (xml) => {
  const viewer = new BpmnJS({container: '#canvas'});
  await viewer.importXML(xml);
  const canvas = viewer.get('canvas');
  canvas.zoom(1);
  const inner = canvas.viewbox().inner;
  canvas.viewbox({x: inner.x - 10, y: inner.y - 10, width: inner.width + 20, height: inner.height + 20});
  const registry = viewer.get('elementRegistry');
  const lines = [];
  for (const text of document.querySelectorAll('#canvas .djs-element text')) {
    const owner = text.closest('.djs-element').getAttribute('data-element-id').replace(/_label$/, '');
    for (const span of text.querySelectorAll('tspan')) {
      const r = span.getBoundingClientRect();
      if (r.width > 0 && span.textContent.trim()) {
        lines.push({owner, text: span.textContent, x: r.x, y: r.y, w: r.width, h: r.height});
      }
    }
  }
  const shapes = registry.getAll()
    .filter(e => !e.labelTarget && e.waypoints === undefined)
    .map(e => {
      const r = registry.getGraphics(e).querySelector('.djs-visual').getBoundingClientRect();
      return {id: e.id, type: e.type, x: r.x, y: r.y, w: r.width, h: r.height};
    });
  return {lines, shapes};
}
"""


def overlaps(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two boxes share more than :data:`SLACK` pixels both across and down."""
    across = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
    down = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
    return across > SLACK and down > SLACK


def collisions(lines: list[dict[str, Any]], shapes: list[dict[str, Any]]) -> list[str]:
    """Every label line drawn over another element's label line or shape, said the way a designer finds it."""
    found = []
    for i, line in enumerate(lines):
        for other in lines[i + 1 :]:
            if other["owner"] != line["owner"] and overlaps(line, other):
                found.append(
                    f"label {line['text']!r} of {line['owner']} over label {other['text']!r} of {other['owner']}"
                )
        for shape in shapes:
            if shape["type"] not in CONTAINERS and shape["id"] != line["owner"] and overlaps(line, shape):
                found.append(f"label {line['text']!r} of {line['owner']} over {shape['type']} {shape['id']}")
    return found


def test_diagrams_are_shipped() -> None:
    assert SHIPPED, "no BPMN file under processes/"


def draw(browser: Browser, xml: str) -> dict[str, list[dict[str, Any]]]:
    """The diagram drawn at scale 1 in a fresh page: its label lines and shapes, as laid out on screen."""
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    try:
        page.set_content('<div id="canvas" style="width: 1600px; height: 1000px"></div>')
        page.add_script_tag(path=str(VENDOR_SCRIPT))
        drawn: dict[str, list[dict[str, Any]]] = page.evaluate(MEASURE, xml)
    finally:
        page.close()
    return drawn


@pytest.mark.parametrize("language", [SOURCE_LANGUAGE, *TRANSLATED_LANGUAGES])
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_no_label_of_a_shipped_diagram_overlaps_another_label_or_shape(
    browser: Browser, path: Path, language: str
) -> None:
    """In every interface language: the diagram as a reader of that language is served it (its names replaced
    by their labels; English labels run wider than the Chinese names)."""
    drawn = draw(browser, localize_bpmn(path.read_text(encoding="utf-8"), language))
    assert (
        len(drawn["lines"]) >= 5 and len(drawn["shapes"]) > 5
    )  # the diagram was drawn and measured (a patrol: 7 labels)
    found = collisions(drawn["lines"], drawn["shapes"])
    assert not found, (
        f"{path.relative_to(REPO)} ({language}): move these labels (their BPMNLabel bounds):\n"
        + "\n".join(found)
    )


TASK_SHAPE = re.compile(
    r'<bpmndi:BPMNShape [^>]*bpmnElement="(\w+)"[^>]*>\s*<dc:Bounds x="(\d+)" y="(\d+)" width="100"'
)
EDGE_LABEL = re.compile(
    r'(<bpmndi:BPMNEdge [^>]*>(?:(?!</bpmndi:BPMNEdge>).)*?<bpmndi:BPMNLabel>\s*<dc:Bounds )x="\d+" y="\d+"',
    re.S,
)


def test_the_check_finds_a_label_moved_over_a_task(browser: Browser) -> None:
    """The check itself: a sequence flow's label moved onto a task's box is found."""
    source = SHIPPED[0].read_text(encoding="utf-8")
    task, label = TASK_SHAPE.search(source), EDGE_LABEL.search(source)
    assert task is not None and label is not None
    onto_task = f'x="{int(task.group(2)) + 10}" y="{int(task.group(3)) + 10}"'
    moved = source[: label.start()] + label.group(1) + onto_task + source[label.end() :]
    found = collisions(**draw(browser, moved))
    assert any(c.endswith(f" {task.group(1)}") for c in found), found
