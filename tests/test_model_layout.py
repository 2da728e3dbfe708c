"""Every model in processes/ opens readably in bpmn-js: each flow node has a shape, each
sequence flow an edge, and no two shapes overlap (a boundary event sits on its host)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from engine.settings import PROJECT_ROOT

NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
      "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
      "dc": "http://www.omg.org/spec/DD/20100524/DC"}
MODELS = sorted((PROJECT_ROOT / "processes").glob("*.bpmn"))
#: Elements drawn as shapes.
NODE_TAGS = ("task", "userTask", "serviceTask", "scriptTask", "manualTask", "sendTask",
             "receiveTask", "businessRuleTask", "callActivity", "subProcess", "startEvent",
             "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
             "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway")


def _boxes(root: etree._Element) -> dict[str, tuple[float, float, float, float]]:
    boxes = {}
    for shape in root.xpath("//bpmndi:BPMNShape", namespaces=NS):
        b = shape.find("dc:Bounds", NS)
        if b is not None:
            boxes[shape.get("bpmnElement")] = (float(b.get("x")), float(b.get("y")),
                                               float(b.get("width")), float(b.get("height")))
    return boxes


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] \
        and b[1] < a[1] + a[3]


@pytest.mark.skipif(not MODELS, reason="no models in processes/ yet")
@pytest.mark.parametrize("path", MODELS, ids=[p.name for p in MODELS])
def test_a_model_has_a_complete_diagram_without_overlapping_shapes(path: Path) -> None:
    root = etree.parse(str(path)).getroot()
    boxes = _boxes(root)
    nodes = {}
    containers = set()
    for tag in NODE_TAGS:
        for node in root.xpath(f"//bpmn:{tag}", namespaces=NS):
            nodes[node.get("id")] = node
            if tag == "subProcess":
                containers.add(node.get("id"))
    missing = sorted(set(nodes) - set(boxes))
    assert not missing, f"elements without a shape: {missing}"
    edges = {e.get("bpmnElement") for e in root.xpath("//bpmndi:BPMNEdge", namespaces=NS)}
    flows = {f.get("id") for f in root.xpath("//bpmn:sequenceFlow", namespaces=NS)}
    assert not flows - edges, f"flows without an edge: {sorted(flows - edges)}"

    def allowed(a: str, b: str) -> bool:
        na, nb = nodes[a], nodes[b]
        if na.get("attachedToRef") == b or nb.get("attachedToRef") == a:
            return True
        if a in containers or b in containers:  # an expanded sub-process holds its nodes
            return True
        return False

    ids = sorted(nodes)
    clashes = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:]
               if _overlap(boxes[a], boxes[b]) and not allowed(a, b)]
    assert not clashes, f"overlapping shapes: {clashes}"
