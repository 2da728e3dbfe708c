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
from SpiffWorkflow.specs.Join import Join
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

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


def prune(workflow: BpmnWorkflow) -> int:
    """Cut finished history out of the task tree; return how many tasks went.

    SpiffWorkflow keeps every task a case ever ran, so a case that loops for months grows a
    deep tree, and every lookup and save walks it (notes/spiffworkflow.md §1a). The history is
    in Virta's own event table, so the engine keeps only what decides the future: unfinished
    tasks, the children of running containers (multi-instance, subprocesses), branching points
    that still have live branches, and what a waiting join still looks at (the last task of each
    branch, and the cancelled join tokens whose data it has yet to merge). Other finished tasks
    go: a finished leaf under a finished parent is dropped, and a finished task with one child
    under a finished parent is cut out of the chain if that child is finished too. A finished
    case is left as it is. The price: SpiffWorkflow's `reset_from_task_id` cannot go back to a
    dropped task.

    Pruning must never change the data a task goes on with. SpiffWorkflow merges the parent's
    data into a task each time the task is updated until it has run: a predicted task when it
    becomes ready, a waiting timer, message or event-based gateway on every refresh and when it
    fires, a sub-process task when it starts. Cutting the task above an unfinished one would
    re-hang it on an older ancestor, and it would then take that ancestor's (older) values. So
    only a finished task ever gets a new parent; an unfinished one keeps its finished parent
    (one extra task per open task, so the tree stays flat).
    """
    if workflow.is_completed():
        return 0
    dropped = 0
    workflows = [workflow, *workflow.subprocesses.values()]
    for wf in workflows:
        protected = _join_inputs(wf)
        changed = True
        while changed:
            changed = False
            for task in list(wf.tasks.values()):
                if task.id in protected or not _prunable(wf, task):
                    continue
                parent = task.parent
                if task._children:
                    child_id = task._children[0]
                    parent._children[parent._children.index(task.id)] = child_id
                    wf.tasks[child_id]._parent = parent.id
                else:
                    parent._children.remove(task.id)
                del wf.tasks[task.id]
                if wf.last_task is task:
                    wf.last_task = None
                dropped += 1
                changed = True
    live = {tid for wf in workflows for tid in wf.tasks}
    for sub_id in [k for k in workflow.subprocesses if k not in live]:
        del workflow.subprocesses[sub_id]
    return dropped


_DONE = TaskState.COMPLETED | TaskState.CANCELLED


def _prunable(wf: Any, task: Any) -> bool:
    parent = task.parent
    if task is wf.task_tree or parent is None or parent is wf.task_tree:
        return False
    if len(task._children) > 1:
        return False
    # Cutting the task re-hangs its child on `parent`: only a finished child no longer reads its
    # parent's data (see `prune`).
    if task._children and not wf.tasks[task._children[0]].has_state(_DONE):
        return False
    # COMPLETED or CANCELLED only: a task in ERROR is "finished" to SpiffWorkflow, but a retry
    # runs it again, so it must stay.
    return task.has_state(_DONE) and parent.has_state(_DONE)


def _join_inputs(wf: Any) -> set[Any]:
    """Join tasks and the tasks a join still reads.

    Kept: unfinished join tokens and the last task of their branch (the join checks which
    inputs have completed), cancelled tokens whose data the join has yet to merge, per join the
    token that fired last (a join inside a loop tells rounds apart by it), and the newest task of
    each spec that feeds a join (a parallel join in a loop looks for them among its ancestors).
    """
    joins = [t for t in wf.tasks.values() if isinstance(t.task_spec, Join)]
    input_specs = {i for ts in wf.spec.task_specs.values() if isinstance(ts, Join)
                   for i in ts.inputs}
    newest_input: dict[Any, Any] = {}
    for t in wf.tasks.values():
        if t.task_spec in input_specs and t.has_state(TaskState.FINISHED_MASK):
            best = newest_input.get(t.task_spec)
            if best is None or t.last_state_change >= best.last_state_change:
                newest_input[t.task_spec] = t
    last_fired: dict[Any, Any] = {}
    for t in joins:
        if t.state == TaskState.COMPLETED:
            best = last_fired.get(t.task_spec)
            if best is None or t.last_state_change >= best.last_state_change:
                last_fired[t.task_spec] = t
    keep: set[Any] = {t.id for t in last_fired.values()}
    keep.update(t.id for t in newest_input.values())
    for t in joins:
        fired = last_fired.get(t.task_spec)
        pending = (not t.has_state(TaskState.FINISHED_MASK)
                   or (t.state == TaskState.CANCELLED
                       and (fired is None or t.last_state_change > fired.last_state_change)))
        if pending:
            keep.add(t.id)
            if t._parent is not None:
                keep.add(t._parent)
    return keep


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
