"""A diagram (BPMNDI) for test processes written without one: deploy refuses a BPMN file that bpmn.io could not
show, so a generated fixture gets its flow nodes drawn in a row and its sequence flows as straight lines."""

from __future__ import annotations

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"


def with_diagram(text: str) -> str:
    """``text`` (a BPMN document without a diagram) with one: a shape per flow node, an edge per flow."""
    root = etree.fromstring(text.encode("utf-8"))
    plane_of = root.find(f"{{{BPMN}}}collaboration")
    if plane_of is None:
        plane_of = root.find(f"{{{BPMN}}}process")
    diagram = etree.SubElement(
        root, f"{{{BPMNDI}}}BPMNDiagram", id="diagram", nsmap={"bpmndi": BPMNDI, "dc": DC, "di": DI}
    )
    plane = etree.SubElement(diagram, f"{{{BPMNDI}}}BPMNPlane", id="plane", bpmnElement=plane_of.get("id"))
    centres: dict[str, tuple[int, int]] = {}
    for process in root.iter(f"{{{BPMN}}}process"):
        for element in process:
            tag = etree.QName(element).localname if isinstance(element.tag, str) else ""
            if not element.get("id") or tag in ("laneSet", "sequenceFlow", "extensionElements"):
                continue
            x = 100 + 150 * len(centres)
            centres[element.get("id")] = (x + 50, 140)
            shape = etree.SubElement(
                plane, f"{{{BPMNDI}}}BPMNShape", id=f"{element.get('id')}_di", bpmnElement=element.get("id")
            )
            etree.SubElement(shape, f"{{{DC}}}Bounds", x=str(x), y="100", width="100", height="80")
        for flow in process.iter(f"{{{BPMN}}}sequenceFlow"):
            edge = etree.SubElement(
                plane, f"{{{BPMNDI}}}BPMNEdge", id=f"{flow.get('id')}_di", bpmnElement=flow.get("id")
            )
            for end in ("sourceRef", "targetRef"):
                x, y = centres.get(flow.get(end), (0, 0))
                etree.SubElement(edge, f"{{{DI}}}waypoint", x=str(x), y=str(y))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")
