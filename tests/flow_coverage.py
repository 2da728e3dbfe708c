"""The flow-coverage tool: which sequence flows of the models in `processes/` no test took.

The runner reports the flows each case has taken (`engine.runner.flow_listeners`); at the end of
a run this lists, per model, the sequence flows never taken. A flow that cannot be taken says
so in its documentation (`<bpmn:documentation>unreachable: why</bpmn:documentation>`).

    VIRTA_FLOW_COVERAGE=1 pytest     # fails the run when a flow is left
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from engine.settings import PROJECT_ROOT

BPMN_NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}
MODELS = PROJECT_ROOT / "processes"


@dataclass(frozen=True)
class Flow:
    """A sequence flow of a model."""

    file: str
    process_id: str
    flow_id: str
    source: str
    target: str


class FlowRecorder:
    """Collects the (from, to) element pairs cases have taken, per process id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.taken: dict[str, set[tuple[str, str]]] = defaultdict(set)

    def __call__(self, process_id: str, pairs: list[tuple[str, str]]) -> None:
        with self._lock:
            self.taken[process_id].update(pairs)


def model_flows(folder: Path = MODELS) -> list[Flow]:
    """Every sequence flow of every model in `folder`, except documented unreachable ones."""
    flows = []
    for path in sorted(folder.glob("*.bpmn")):
        root = etree.parse(str(path))
        for process in root.xpath("//bpmn:process", namespaces=BPMN_NS):
            for flow in process.xpath(".//bpmn:sequenceFlow", namespaces=BPMN_NS):
                doc = " ".join(flow.xpath("./bpmn:documentation/text()", namespaces=BPMN_NS))
                if doc.strip().lower().startswith("unreachable:"):
                    continue
                flows.append(Flow(path.name, process.get("id"), flow.get("id"),
                                  flow.get("sourceRef"), flow.get("targetRef")))
    return flows


def untaken(recorder: FlowRecorder, folder: Path = MODELS) -> list[Flow]:
    """The flows of `folder`'s models that no recorded case took."""
    taken = {(pid, pair) for pid, pairs in recorder.taken.items() for pair in pairs}
    # A flow inside an embedded subprocess is recorded under the top process id.
    all_pairs = {pair for _pid, pair in taken}
    return [f for f in model_flows(folder) if (f.source, f.target) not in all_pairs]


def report(flows: list[Flow]) -> str:
    """A readable list of untaken flows, by model."""
    by_file: dict[str, list[Flow]] = defaultdict(list)
    for f in flows:
        by_file[f.file].append(f)
    lines = []
    for file, items in by_file.items():
        lines.append(f"{file}: {len(items)} sequence flows no test took")
        lines += [f"  {f.flow_id}: {f.source} -> {f.target}" for f in items]
    return "\n".join(lines)
