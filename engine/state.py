"""Workflow state (de)serialization without the spec.

The spec is parsed once per process version (`engine.specs`); a case's stored state holds only
its tasks, data and correlations, so the bytes written per step do not include the model.
"""

from __future__ import annotations

import json
import threading
from datetime import date
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnWorkflowConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from engine.specs import SpecBundle


class _SpeclessWorkflowConverter(BpmnWorkflowConverter):
    """Converts a top-level workflow, leaving out `spec` and `subprocess_specs`."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any], bundle: SpecBundle | None = None) -> BpmnWorkflow:
        if bundle is None:
            raise ValueError("a spec bundle is needed to restore a workflow")
        workflow = self.target_class(bundle.spec, bundle.subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _make_serializer(dialect: str) -> BpmnWorkflowSerializer:
    config = dict(CAMUNDA_CONFIG if dialect == "camunda" else SPIFF_CONFIG)
    config[BpmnWorkflow] = _SpeclessWorkflowConverter
    registry = BpmnWorkflowSerializer.configure(config)
    # Task data may hold dates (forms submit them); Spiff registers only datetime by default.
    registry.register(date, lambda v: {"value": v.isoformat()},
                      lambda v: date.fromisoformat(v["value"]))
    return BpmnWorkflowSerializer(registry)


# The serializer toggles shared state while it encodes, so each thread gets its own.
_local = threading.local()


def _serializer(dialect: str) -> BpmnWorkflowSerializer:
    cache: dict[str, BpmnWorkflowSerializer] | None = getattr(_local, "serializers", None)
    if cache is None:
        cache = _local.serializers = {}
    if dialect not in cache:
        cache[dialect] = _make_serializer(dialect)
    return cache[dialect]


def dump_state(workflow: BpmnWorkflow, dialect: str) -> str:
    """Serialize a workflow's state (not its spec) to a JSON string."""
    return _serializer(dialect).serialize_json(workflow)


def load_state(state: str, bundle: SpecBundle) -> BpmnWorkflow:
    """Restore a workflow from `dump_state` output and its version's spec bundle."""
    ser = _serializer(bundle.dialect)
    dct = json.loads(state)
    ser.migrate(dct)
    return ser.from_dict(dct, bundle=bundle)


def to_jsonable(value: Any) -> Any:
    """Return the JSON-able part of task data: dates become ISO strings, the rest is dropped."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, date):  # datetime is a date too
        return obj.isoformat()
    if isinstance(obj, UUID):
        return str(obj)
    if isinstance(obj, set | tuple):
        return list(obj)
    return None
