"""BPMN 2.0 event semantics that SpiffWorkflow 3.2 leaves out, patched into its classes.

Imported by `engine.specs`, so every parsed model (either dialect) runs with them:

- An event-based gateway (or any multiple catch event) prepares its message arms as an
  intermediate catch event prepares its message: a `spiffworkflow:processVariableCorrelation`
  gives the case its correlation values when the gateway is reached. SpiffWorkflow moves the
  arms' event definitions into the gateway and never calls their `update_task`, so a case
  waiting at the gateway knew no values and caught a message meant for any case.
- Each timer arm of an event-based gateway is armed with its own due time. SpiffWorkflow keeps
  one `event_value` per task, so the first timer's due time was used for every timer arm (and
  all of them fired together). Here every arm has its own entry in the task's `timer_values`
  ({arm index: due}); of an exclusive gateway only one event wins: the event already caught,
  else the timer that was due first.
- A non-interrupting message or signal boundary event stays armed while its host activity is
  active: each time it catches, a new waiting boundary event is added next to it (a sibling
  under the host's boundary split), so the next occurrence starts its own token too. The
  boundary join cancels the waiting one when the host ends, as it does for the first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import (
    BoundaryEvent,
    EventBasedGateway,
)
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.util.task import TaskState

#: Internal data of a multiple-event task: {arm index (str): the timer arm's armed value}.
TIMER_VALUES = "timer_values"


# ---------------------------------------------------------------- multiple events / gateways


def _timer_arms(edef: MultipleEventDefinition) -> list[tuple[int, TimerEventDefinition]]:
    # A cycle arm keeps SpiffWorkflow's behaviour (it has no single due time).
    return [(i, d) for i, d in enumerate(edef.event_definitions)
            if isinstance(d, TimerEventDefinition)
            and not isinstance(d, CycleTimerEventDefinition)]


def _arm_timer(definition: TimerEventDefinition, task: Any, value: Any) -> tuple[Any, bool]:
    """Run SpiffWorkflow's own timer logic for one arm on the task: (armed value, fired)."""
    internal = task.internal_data
    saved = {k: internal.pop(k) for k in ("event_value", "event_fired") if k in internal}
    try:
        if value is not None:
            internal["event_value"] = value
        fired = bool(definition.has_fired(task))
        return internal.get("event_value"), fired
    finally:
        internal.pop("event_value", None)
        internal.pop("event_fired", None)
        internal.update(saved)


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        parsed = TimerEventDefinition.parse_time_or_duration(str(value))
    except Exception:  # noqa: BLE001 - not a date: it sorts last
        return None
    return parsed if isinstance(parsed, datetime) else None


def _multiple_has_fired(self: MultipleEventDefinition, my_task: Any) -> bool:
    seen = list(my_task.internal_data.get("seen_events", []))
    arms = _timer_arms(self)
    values: dict[str, Any] = dict(my_task.internal_data.get(TIMER_VALUES) or {})
    if arms and not values and "event_value" in my_task.internal_data:
        # A case armed before this rule kept one value, its first timer's: that arm keeps it.
        values[str(arms[0][0])] = my_task.internal_data.pop("event_value")
    fired: list[tuple[datetime | None, TimerEventDefinition]] = []
    for idx, definition in arms:
        if any(e.event_definition == definition for e in seen):
            continue
        if not self.parallel and seen:
            break  # an exclusive choice already has its event: the timers are withdrawn
        value, due = _arm_timer(definition, my_task, values.get(str(idx)))
        values[str(idx)] = value
        if due:
            fired.append((_as_datetime(value), definition))
    if fired:
        if not self.parallel:
            # Only one event wins: the timer that was due first.
            fired = [min(fired, key=lambda f: (f[0] is None, f[0] or datetime.max))]
        seen.extend(BpmnEvent(definition) for _, definition in fired)
    my_task.internal_data[TIMER_VALUES] = values
    my_task.internal_data["seen_events"] = seen
    if self.parallel:
        return all(any(e.event_definition == d for e in seen) for d in self.event_definitions)
    return len(seen) > 0


def _multiple_catch(self: MultipleEventDefinition, my_task: Any, event: Any = None) -> None:
    seen = my_task.internal_data.get("seen_events", [])
    if not self.parallel and seen:
        return  # an exclusive choice is made by its first event
    _spiff_multiple_catch(self, my_task, event)


def _multiple_update_task(self: MultipleEventDefinition, my_task: Any) -> None:
    # What each arm does when it starts waiting (a message arm's process correlations); timers
    # are armed by `has_fired`.
    for definition in self.event_definitions:
        if not isinstance(definition, TimerEventDefinition):
            definition.update_task(my_task)


def _multiple_reset(self: MultipleEventDefinition, my_task: Any) -> None:
    my_task.internal_data.pop(TIMER_VALUES, None)
    _spiff_multiple_reset(self, my_task)


_spiff_multiple_catch = MultipleEventDefinition.catch
_spiff_multiple_reset = MultipleEventDefinition.reset
MultipleEventDefinition.has_fired = _multiple_has_fired  # type: ignore[method-assign]
MultipleEventDefinition.catch = _multiple_catch  # type: ignore[method-assign]
MultipleEventDefinition.update_task = _multiple_update_task  # type: ignore[method-assign]
MultipleEventDefinition.reset = _multiple_reset  # type: ignore[method-assign]


def timer_arms(task: Any) -> list[tuple[str, Any]]:
    """[(element id, armed value)] of a waiting multiple-event task's timer arms.

    An event-based gateway's arm is the catch event after it; a multiple catch event's arms
    are its own.
    """
    edef = getattr(task.task_spec, "event_definition", None)
    if not isinstance(edef, MultipleEventDefinition):
        return []
    values = task.internal_data.get(TIMER_VALUES) or {}
    outputs = task.task_spec.outputs if isinstance(task.task_spec, EventBasedGateway) else []
    arms = []
    for idx, _definition in _timer_arms(edef):
        value = values.get(str(idx))
        if value is None:
            continue
        element = outputs[idx].bpmn_id if idx < len(outputs) else task.task_spec.bpmn_id
        arms.append((element, value))
    return arms


# ---------------------------------------------------------------- non-interrupting boundaries

#: Events after which a non-interrupting boundary event is armed again.
REARMING = (MessageEventDefinition, SignalEventDefinition)


def _boundary_catch(self: BoundaryEvent, my_task: Any, event: Any) -> None:
    CatchingEvent.catch(self, my_task, event)
    if not self.cancel_activity and isinstance(self.event_definition, REARMING):
        rearm_boundary(my_task)


def rearm_boundary(my_task: Any) -> Any:
    """Add a waiting copy of a non-interrupting boundary event that has just caught its event,
    while its host activity is active; returns it (None when the host is done)."""
    split = my_task.parent
    if split is None:
        return None
    host = next((t for t in split.children if not isinstance(t.task_spec, BoundaryEvent)), None)
    if host is None or host.has_state(TaskState.FINISHED_MASK):
        return None
    if any(t is not my_task and t.task_spec is my_task.task_spec and t.state == TaskState.WAITING
           for t in split.children):
        return None  # already armed again
    armed = split._add_child(my_task.task_spec, TaskState.WAITING)
    # Its outgoing flows are predicted as the first one's were when the host started.
    armed._sync_children(armed.task_spec.outputs, TaskState.MAYBE)
    for child in armed.children:
        child.task_spec._predict(child)
    armed.task_spec._update(armed)
    return armed


BoundaryEvent.catch = _boundary_catch  # type: ignore[method-assign]
