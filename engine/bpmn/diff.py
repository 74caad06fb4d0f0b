"""What changed between two versions of a diagram: the elements added, removed and changed, by id.

The workbench colours them on the canvas before a draft goes live (added green, changed yellow, removed listed
and drawn on the old version), so that a designer — and whoever approves the change — sees what a deploy would
change. Elements are compared by what the engine runs: their kind, name, the attributes and the texts inside
them (conditions, scripts, timers, properties, form references), not by their position on the canvas — moving a
shape is not a change of the process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree
from lxml.etree import _Element as Element

from engine.bpmn.definitions import BPMN_NS, FLOW_NODE_TAGS

# the elements a diff names: flow nodes, sequence flows, lanes, processes and participants
_COMPARED = FLOW_NODE_TAGS | {"process", "participant", "lane", "sequenceFlow"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)


@dataclass(frozen=True)
class DiagramDiff:
    """The ids of the elements added, removed and changed, each list in document order; ``names`` gives an
    element's name (as in the newer diagram, else the older) for the list beside the canvas."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)


def diagram_diff(old_xml: str, new_xml: str) -> DiagramDiff:
    """Compare two BPMN documents element by element (see the module's docstring); DiagramUnreadable when
    either is not well-formed XML."""
    old, new = _elements(old_xml), _elements(new_xml)
    names = {element_id: _name(element) for element_id, element in {**old, **new}.items()}
    return DiagramDiff(
        added=[i for i in new if i not in old],
        removed=[i for i in old if i not in new],
        changed=[i for i in new if i in old and _signature(old[i]) != _signature(new[i])],
        names=names,
    )


class DiagramUnreadable(ValueError):
    """A diagram to compare is not well-formed XML (the message says where)."""


def _elements(xml: str) -> dict[str, Element]:
    try:
        root = etree.fromstring(xml.encode("utf-8"), _PARSER)
    except etree.XMLSyntaxError as err:
        raise DiagramUnreadable(f"line {err.lineno}: {err.msg}") from err
    return {
        element.get("id"): element
        for element in root.iter(etree.Element)
        if etree.QName(element).namespace == BPMN_NS
        and etree.QName(element).localname in _COMPARED
        and element.get("id")
    }


def _name(element: Element) -> str:
    return element.get("name") or element.get("id") or ""


def _signature(element: Element) -> tuple:
    """What the engine runs of an element: its kind and attributes, and every descendant's that is not another
    compared element (whose own changes are its own), with texts stripped."""
    parts: list[tuple] = []

    def walk(node: Element, depth: int) -> None:
        qname = etree.QName(node)
        if depth and qname.namespace == BPMN_NS and qname.localname in _COMPARED:
            return
        if qname.localname in ("incoming", "outgoing", "flowNodeRef") and qname.namespace == BPMN_NS:
            parts.append((qname.localname, (node.text or "").strip()))
            return
        parts.append((node.tag, tuple(sorted(node.attrib.items())), (node.text or "").strip()))
        for child in node:
            if isinstance(child.tag, str):
                walk(child, depth + 1)

    walk(element, 0)
    return tuple(parts)
