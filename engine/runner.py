"""Running cases: start, complete tasks, deliver messages, cancel, retry.

Each public function takes a `Session`, changes the case, and leaves the commit to the caller's
unit of work (`engine.db.Database.unit_of_work`). A case is loaded (from the in-process cache when
its revision is current), advanced with SpiffWorkflow, and saved: its state (without the spec),
its ready tasks in the `tasks` table, its message subscriptions, its status and data, and an
audit event for every step, all in the caller's transaction.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.simple import NoneEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.specs.Join import Join
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from engine import (
    audit,
    candidates,
    case_context,
    case_keys,
    case_rows,
    clock,
    outbox,
    reference_data,
    timers,
    views,
)
from engine.authorization import Principal, require_start, require_task_work
from engine.case_rows import CaseRecord
from engine.db import after_commit
from engine.deploy import bundle_for_version, version_key
from engine.errors import (
    FormInvalid,
    InputInvalid,
    InvalidTransition,
    NotAllowed,
    NotFound,
    TaskNotReady,
)
from engine.forms import (
    FormDefinition,
    bound_expressions,
    check_rules,
    resolve_bounds,
    validate_form_data,
    validation_rules,
)
from engine.models import (
    HumanTask,
    Incident,
    MessageSubscription,
    TaskCandidate,
    User,
    UserTeam,
)
from engine.scripting import script_engine
from engine.service_tasks import DeferredServiceTask, schedule_calls
from engine.specs import SpecBundle, event_definitions, task_meta
from engine.state import dump_state, load_state, prune, to_jsonable
from engine.timers import force_fire, sync_case_timers

log = logging.getLogger(__name__)

RUNNING = "running"
WAITING = "waiting"
COMPLETED = "completed"
ERROR = "error"
CANCELLED = "cancelled"
#: Statuses in which nothing more happens.
FINAL = frozenset({COMPLETED, CANCELLED})
#: How deep a message thrown by one case may trigger throws in others, in one transaction.
MAX_MESSAGE_HOPS = 10
#: Outbox kind of a message to an external party (a message flow to a collapsed pool).
EXTERNAL_MESSAGE = "external_message"
#: Called with (case's process id, [(from element, to element), ...]) on every save: the
#: sequence flows the case has taken. Only tests listen (the flow-coverage tool).
flow_listeners: list[Callable[[str, list[tuple[str, str]]], None]] = []
#: Cases kept deserialized in memory per process.
WORKFLOW_CACHE_SIZE = 2000


class _WorkflowCache:
    """Deserialized workflows by case id, valid only for the revision they were saved at."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[int, tuple[int, BpmnWorkflow]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, instance_id: int, revision: int) -> BpmnWorkflow | None:
        # Taken out while in use: a failed unit of work must not leave a half-changed workflow.
        with self._lock:
            item = self._items.pop(instance_id, None)
        return item[1] if item is not None and item[0] == revision else None

    def put(self, instance_id: int, revision: int, wf: BpmnWorkflow) -> None:
        with self._lock:
            self._items[instance_id] = (revision, wf)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


workflow_cache = _WorkflowCache(WORKFLOW_CACHE_SIZE)


@dataclass(frozen=True)
class _Failure:
    """What went wrong in a case: becomes an incident and puts the case in `error`."""

    element_id: str | None
    message: str
    task_id: str | None
    kind: str = "error"


@dataclass
class _Case:
    """A loaded case during one unit of work."""

    session: Session
    row: CaseRecord
    bundle: SpecBundle
    wf: BpmnWorkflow
    actor: str
    thrown: list[Any] = field(default_factory=list)
    #: Data of the tasks completed in this unit of work, in completion order.
    completed_data: list[dict[str, Any]] = field(default_factory=list)
    #: Names of messages thrown to external parties in this unit of work (not routed inside).
    external_messages: set[str] = field(default_factory=set)
    #: Started in this unit of work and not saved yet: it has no task rows to read.
    new: bool = False


# ---------------------------------------------------------------- loading and saving


def open_case(session: Session, instance_id: int, actor: str) -> _Case:
    """Load a case for a change, locking its row; raises `NotFound`."""
    row = case_rows.load(session, instance_id)
    if row is None:
        raise NotFound(f"case {instance_id} not found")
    bundle = bundle_for_version(session, row.process_version_id)
    if bundle is None:
        raise NotFound(f"model version of case {instance_id} not found")
    wf = workflow_cache.take(row.id, row.revision)
    if wf is None:
        wf = load_state(row.state, bundle)
    wf.script_engine = script_engine
    _bind(session, row, actor)
    return _Case(session, row, bundle, wf, actor)


def _bind(session: Session, row: CaseRecord, actor: str) -> None:
    case_context.bind(case_context.CaseContext(
        session, row, reference_data.parameter_values(session, row.parameter_set), actor))


def advance(case: _Case, *, hops: int = 0, failure: _Failure | None = None) -> None:
    """Run engine steps until the case waits, then save everything that changed."""
    wf = case.wf
    if failure is None:
        try:
            if case.bundle.has_timer_events:
                cycles = _cycle_counts(wf) if case.bundle.has_cycle_timers else {}
                wf.refresh_timers()
                _record_cycle_firings(case, cycles)
            wf.do_engine_steps(did_complete_task=lambda t: _step_done(case, t))
        except SpiffWorkflowException as exc:
            task = getattr(exc, "task", None)
            element = getattr(getattr(task, "task_spec", None), "bpmn_id", None)
            failure = _Failure(element, _error_message(exc),
                               str(task.id) if task is not None else None)
    case.thrown.extend(e for e in wf.get_events()
                       if e.event_definition.name not in case.external_messages)
    _save(case, failure)
    if case.thrown and hops < MAX_MESSAGE_HOPS:
        from engine.messages import route_thrown  # messages builds on this module

        thrown, case.thrown = case.thrown, []
        route_thrown(case.session, thrown, source_id=case.row.id, actor=case.actor, hops=hops + 1)


def _cycle_counts(wf: BpmnWorkflow) -> dict[Any, int]:
    """Firings left of each waiting cycle timer (a cycle fires without completing its task)."""
    counts = {}
    for task in wf.get_tasks(state=TaskState.WAITING):
        value = task._get_internal_data("event_value")
        if isinstance(value, dict) and "cycles" in value:
            counts[task.id] = value["cycles"]
    return counts


def _record_cycle_firings(case: _Case, before: dict[Any, int]) -> None:
    for task_id, cycles in before.items():
        task = case.wf.get_task_from_id(task_id)
        value = task._get_internal_data("event_value") if task is not None else None
        if isinstance(value, dict) and value.get("cycles", cycles) != cycles:
            audit.record(case.session, type=audit.TIMER_FIRED, actor=case.actor,
                         instance=case.row, element_id=task.task_spec.bpmn_id,
                         task_id=str(task.id), data={"cycle": True, "left": value["cycles"]})


def _error_message(exc: Exception) -> str:
    message = str(exc.args[0]) if exc.args else exc.__class__.__name__
    # Spiff wraps expression errors (gateway conditions, timers, ...) without the original error
    # in its message: name it, e.g. "NameError: name 'x' is not defined".
    cause = exc.__cause__ or exc.__context__
    if cause is not None and not isinstance(cause, SpiffWorkflowException) \
            and str(cause) not in message:
        message = f"{message}: {cause.__class__.__name__}: {cause}"
    notes = [n for n in getattr(exc, "__notes__", None) or getattr(exc, "notes", None) or [] if n]
    return f"{message} ({' '.join(notes)})" if notes else message


def _step_done(case: _Case, task: Any) -> None:
    case.completed_data.append(task.data)
    spec = task.task_spec
    bpmn_id = getattr(spec, "bpmn_id", None)
    if bpmn_id is None or spec.manual:
        return
    edef = getattr(spec, "event_definition", None)
    kind = spec.__class__.__name__
    if isinstance(edef, CycleTimerEventDefinition):
        etype = audit.STEP_COMPLETED  # its firings were recorded as they happened
    elif isinstance(edef, TimerEventDefinition):
        etype = audit.TIMER_FIRED
    elif isinstance(edef, MessageEventDefinition):
        # Catching events (start, intermediate catch, boundary, receive task) have `catch`;
        # throwing ones (intermediate throw, end event, send task) do not.
        etype = audit.MESSAGE_RECEIVED if hasattr(spec, "catch") else audit.MESSAGE_SENT
    else:
        etype = audit.STEP_COMPLETED
    data: dict[str, Any] = {"kind": kind, "name": getattr(spec, "bpmn_name", None)}
    if isinstance(edef, MessageEventDefinition):
        data["message"] = edef.name
        data["correlation"] = flat_correlation(task.workflow.correlations or case.wf.correlations,
                                               edef.correlation_properties)
        party = case.bundle.external_targets.get(bpmn_id)
        if etype == audit.MESSAGE_SENT and party is not None:
            data["to"] = party
            case.external_messages.add(edef.name)
            outbox.enqueue(case.session, kind=EXTERNAL_MESSAGE, instance_id=case.row.id,
                           payload={"message": edef.name, "to": party, "element_id": bpmn_id,
                                    "correlation": data["correlation"],
                                    "payload": to_jsonable(_thrown_payload(case, edef.name))})
    audit.record(case.session, type=etype, actor=case.actor, instance=case.row,
                 element_id=bpmn_id, task_id=str(task.id), data=data)


def _thrown_payload(case: _Case, name: str) -> Any:
    """The payload of the newest event of this name that the case has thrown so far."""
    for event in reversed(case.wf.bpmn_events):
        if event.event_definition.name == name:
            return event.payload
    return None


def _status(wf: BpmnWorkflow, ready: list[Any]) -> str:
    if wf.is_completed():
        return COMPLETED
    if wf.get_tasks(state=TaskState.ERROR):
        return ERROR
    if ready or wf.get_tasks(state=TaskState.STARTED, spec_class=DeferredServiceTask):
        return RUNNING  # a person's task is ready, or a worker is running a service call
    return WAITING


def _current_data(case: _Case) -> dict[str, Any]:
    """What scripts and completed tasks have set so far, as JSON.

    Parallel branches each carry their own data in SpiffWorkflow, so the case's data is the
    previous snapshot, updated with every task completed since, then with the open tasks' data.
    A completed case's data is the workflow's final data.
    """
    wf = case.wf
    if wf.is_completed():
        return to_jsonable(wf.data)
    merged: dict[str, Any] = dict(case.row.data or {})
    for data in case.completed_data:
        merged.update(to_jsonable(data))
    open_tasks = wf.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED
                              | TaskState.ERROR)
    for task in open_tasks:
        merged.update(to_jsonable(task.data))
    return merged


def _save(case: _Case, failure: _Failure | None) -> None:
    session, row, wf = case.session, case.row, case.wf
    ready = wf.get_tasks(state=TaskState.READY, manual=True)
    # A model without user tasks has no task rows to keep in step (a timer or service flow).
    failed = _sync_tasks(case, ready) if case.bundle.has_manual_tasks else None
    if failed is not None and failure is None:
        failure = failed
        ready = wf.get_tasks(state=TaskState.READY, manual=True)
    if case.bundle.has_message_events:
        _sync_subscriptions(case)
    if case.bundle.has_task_kind(DeferredServiceTask):
        schedule_calls(session, instance_id=row.id, wf=wf)
    previous = row.status
    status = _status(wf, ready)
    if failure is not None:
        status = ERROR
        session.add(Incident(instance_id=row.id, kind=failure.kind, element_id=failure.element_id,
                             task_id=failure.task_id, message=failure.message, status="open",
                             created_at=clock.now()))
        audit.record(session, type=audit.INCIDENT, actor=case.actor, instance=row,
                     element_id=failure.element_id, task_id=failure.task_id,
                     data={"message": failure.message, "kind": failure.kind})
    if case.bundle.has_timer_events:
        sync_case_timers(session, row.id, None if status in FINAL else wf)
    row.status = status
    row.data = _current_data(case)
    case_keys.sync(session, row, case.bundle.key_fields)
    case.completed_data.clear()
    if flow_listeners:
        _report_flows(case)
    prune(wf)
    row.state = dump_state(wf, case.bundle.dialect)
    row.updated_at = clock.now()
    if status == COMPLETED and previous != COMPLETED:
        row.ended_at = row.updated_at
        audit.record(session, type=audit.CASE_COMPLETED, actor=case.actor, instance=row)
    case_rows.write(session, row)  # checks the revision: a lost race raises StaleDataError
    if status not in FINAL:  # a finished case is rarely opened again: not worth its memory
        after_commit(session, _cache_after_commit(row, wf))


def _cache_after_commit(row: CaseRecord, wf: BpmnWorkflow) -> Callable[[], None]:
    """What keeps `wf` in the cache once its save commits, under the revision that holds its
    state: a `CaseRow` may be written only at the commit (`case_rows.defer_writes`), and then
    its revision is known only then; a state saved again since is not this workflow's."""
    instance_id, revision, state = row.id, row.revision, row.state
    if not isinstance(row, case_rows.CaseRow):
        return lambda: workflow_cache.put(instance_id, revision, wf)

    def put() -> None:
        if row.state is state and not row._changed:
            workflow_cache.put(instance_id, row.revision, wf)
    return put


def _report_flows(case: _Case) -> None:
    reached = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.COMPLETED \
        | TaskState.ERROR
    pairs = []
    for task in case.wf.get_tasks(state=reached | TaskState.CANCELLED):
        if task.state == TaskState.CANCELLED and not isinstance(task.task_spec, Join):
            continue  # a cancelled join token is a branch that arrived; other cancels are not
        target = getattr(task.task_spec, "bpmn_id", None)
        parent = task.parent
        while parent is not None and getattr(parent.task_spec, "bpmn_id", None) is None:
            parent = parent.parent
        if target and parent is not None:
            pairs.append((parent.task_spec.bpmn_id, target))
    for listener in flow_listeners:
        listener(case.row.process_id, pairs)


def _sync_tasks(case: _Case, ready: list[Any]) -> _Failure | None:
    """Mirror the ready user tasks into the `tasks` table.

    Returns an incident when a task's team or due date expression fails; that task is then put
    in SpiffWorkflow's ERROR state (a retry evaluates it again) and gets no row.
    """
    session, row = case.session, case.row
    failure = None
    ready_by_id = {str(t.id): t for t in ready}
    _flush_task_changes(session)
    conn = session.connection()
    existing = [] if case.new else views.read_ready_tasks(session, row.id)
    case.new = False
    known = set()
    still_ready = []
    for existing_task in existing:
        known.add(existing_task.id)
        if existing_task.id in ready_by_id:
            still_ready.append(existing_task)
            continue
        _end_task(session, existing_task.id, "cancelled",
                  candidates=bool(existing_task.candidates))
        audit.record(session, type=audit.TASK_CANCELLED, actor=case.actor, instance=row,
                     element_id=existing_task.element_id, task_id=existing_task.id)
    new_rows: list[dict[str, Any]] = []
    new_candidates: list[dict[str, Any]] = []
    for task_id, task in ready_by_id.items():
        if task_id in known:
            continue
        spec = task.task_spec
        meta = task_meta(spec)
        try:
            teams = _teams_for(case, task, meta)
            team = teams[0] if teams else None
            due = _due_for(case, task, meta)
            assignee = _assignee_for(case, task, meta, teams)
        except Exception as exc:  # a model's expression: the case stops with an incident
            task._set_state(TaskState.ERROR)
            failure = _Failure(spec.bpmn_id, f"team, due date or assignee of the task failed: "
                               f"{exc.__class__.__name__}: {_error_message(exc)}", task_id)
            continue
        form = case.bundle.form_for(spec)
        new_rows.append(dict(
            _TASK_DEFAULTS, id=task_id, instance_id=row.id, element_id=spec.bpmn_id,
            name=spec.bpmn_name, lane=spec.lane, team=team,
            form_key=meta.form_key if form else None, assignee=assignee, due_at=due,
            created_at=clock.now()))
        further = [c.team for c in candidates.rows_for(team, teams)]
        new_candidates.extend({"task_id": task_id, "team": t} for t in further)
        still_ready.append(views.TaskRow.of(new_rows[-1], further))
        audit.record(session, type=audit.TASK_READY, actor=case.actor, instance=row,
                     element_id=spec.bpmn_id, task_id=task_id,
                     data={"name": spec.bpmn_name, "lane": spec.lane, "team": team,
                           "assignee": assignee, "due_at": due.isoformat() if due else None,
                           **({"candidates": teams} if len(teams) > 1 else {})})
    if new_rows:
        conn.execute(_INSERT_TASKS, new_rows)
    if new_candidates:
        conn.execute(_INSERT_CANDIDATES, new_candidates)
    views.remember_ready_tasks(session, row.id, still_ready)
    return failure


_TASKS = HumanTask.__table__
#: Task rows are written with Core statements, not the ORM, since a save is on the path of
#: every request (see `_flush_task_changes`).
_END_TASK = _TASKS.update().where(_TASKS.c.id == bindparam("task")).values(
    status=bindparam("status"), completed_at=bindparam("at"), completed_by=bindparam("by"))
#: A task's further candidate teams follow it out of the open task lists (`engine.worklist`).
_END_CANDIDATES = TaskCandidate.__table__.update().where(
    TaskCandidate.__table__.c.task_id == bindparam("task")).values(status=bindparam("status"))
_INSERT_TASKS = _TASKS.insert()
_INSERT_CANDIDATES = TaskCandidate.__table__.insert()


def _end_task(session: Session, task_id: str, status: str, *, by: str | None = None,
              candidates: bool = True) -> None:
    """End a ready task's row and its further candidate rows with it (`candidates=False`: it
    has none), in Core statements: every completion and cancel comes here."""
    conn = session.connection()
    views.forget_ready_tasks(session)
    conn.execute(_END_TASK, {"task": task_id, "status": status, "at": clock.now(), "by": by})
    if candidates:
        conn.execute(_END_CANDIDATES, {"task": task_id, "status": status})
    stale = session.identity_map.get(identity_key(HumanTask, task_id))
    if stale is not None:  # loaded through the ORM earlier in this transaction
        session.expire(stale)

#: The columns of a new task row that the runner does not set.
_TASK_DEFAULTS = {"status": "ready", "completed_at": None, "completed_by": None,
                  "reminded_at": None, "overdue_alerted_at": None}


_TASK_STATUS = select(_TASKS.c.status).where(_TASKS.c.id == bindparam("task"))
_flush_task_changes = views.flush_task_changes


def _teams_for(case: _Case, task: Any, meta: Any) -> list[str]:
    """The task's candidate teams, its primary team first: candidateTeam (a name, a list or
    comma-separated names) or candidateGroups, else the lane's team."""
    names: list[str] = []
    if meta.team_expr:
        names = candidates.team_names(case.wf.script_engine.evaluate(task, meta.team_expr))
    elif meta.team_literal:
        names = candidates.team_names(meta.team_literal)
    if not names and task.task_spec.lane is not None:
        names = [task.task_spec.lane]
    return candidates.team_ids(case.session, names)





def _assignee_for(case: _Case, task: Any, meta: Any, teams: list[str]) -> str | None:
    """The user an assignee expression names, when that user may work on the task's teams.

    An empty value, an unknown user, or a user outside the teams leaves the task to the team.
    """
    if not meta.assignee_expr:
        return None
    value = case.wf.script_engine.evaluate(task, meta.assignee_expr)
    if not value:
        return None
    user = case.session.scalar(select(User).where(User.username == str(value), User.active))
    if user is None:
        return None
    if teams and not any(case.session.get(UserTeam, (user.id, t)) is not None for t in teams):
        return None
    return user.username


def _require_not_excluded(case: _Case, task: Any, principal: Principal) -> None:
    """Separation of duties (four eyes): the user task's spiff property `excludedCompleters`,
    an expression over the case data giving a username or a list of them (e.g. `preparer`),
    names who may not complete it, whatever their teams; `NotAllowed` for them. Like a form
    rule, an expression over data the case does not have yet excludes nobody."""
    expression = task_meta(task.task_spec).excluded_expr
    if not expression:
        return
    try:
        excluded = case.wf.script_engine.evaluate(task, expression)
    except SpiffWorkflowException:
        return
    names = excluded if isinstance(excluded, list | tuple | set) else [excluded]
    if principal.username in {str(n) for n in names if n}:
        raise NotAllowed(f"{principal.username} may not complete this task "
                         f"({task.task_spec.bpmn_id}): separation of duties")


def _due_for(case: _Case, task: Any, meta: Any) -> datetime | None:
    if not meta.due_expr:
        return None
    value = case.wf.script_engine.evaluate(task, meta.due_expr)
    return to_due_at(value)


def to_due_at(value: Any) -> datetime | None:
    """A due date as an aware datetime: a plain date is due at its 23:59:59 in Helsinki."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=clock.TIMEZONE)
    if isinstance(value, date):
        return datetime.combine(value, time(23, 59, 59), tzinfo=clock.TIMEZONE)
    if isinstance(value, timedelta):
        return clock.now() + value
    raise ValueError(f"not a due date: {value!r}")


def _sync_subscriptions(case: _Case) -> None:
    session, row, wf = case.session, case.row, case.wf
    wanted: dict[tuple[str, str], dict[str, Any]] = {}
    for task in wf.get_tasks(state=TaskState.WAITING):
        for edef in event_definitions(getattr(task.task_spec, "event_definition", None)):
            if isinstance(edef, MessageEventDefinition):
                corr = flat_correlation(task.workflow.correlations or wf.correlations,
                                        edef.correlation_properties)
                wanted[(edef.name, task.task_spec.bpmn_id)] = corr
    existing = session.scalars(select(MessageSubscription).where(
        MessageSubscription.instance_id == row.id)).all()
    for sub in existing:
        key = (sub.message_name, sub.element_id or "")
        if key in wanted and wanted[key] == sub.correlation:
            del wanted[key]
        else:
            session.delete(sub)
    for (name, element_id), corr in wanted.items():
        session.add(MessageSubscription(instance_id=row.id, message_name=name,
                                        element_id=element_id, correlation=corr))


def flat_correlation(correlations: dict[str, dict[str, Any]], props: list[Any]) -> dict[str, Any]:
    """The case's known values of a message's correlation properties: {property id: value}."""
    flat: dict[str, Any] = {}
    for prop in props:
        for key in prop.correlation_keys:
            values = correlations.get(key) or {}
            if prop.name in values:
                flat[prop.name] = to_jsonable(values[prop.name])
    return flat


# ---------------------------------------------------------------- public operations


def start_case(
    session: Session, *, process_id: str, principal: Principal, version: int | None = None,
    data: dict[str, Any] | None = None, start_event: Any = None,
    fire_start_timer: str | None = None, hops: int = 0,
) -> CaseRecord:
    """Start a case of a process version (default: the latest) with initial data.

    `start_event` is a message that starts the case (a message start event catches it);
    `fire_start_timer` names a timer start event that is due (the scheduler starts the case).
    """
    require_start(principal)
    if data is not None and not isinstance(data, dict):
        raise InputInvalid([{"field": "data", "message": "must be an object"}])
    version_id, number = version_key(session, process_id, version)
    bundle = bundle_for_version(session, version_id)
    if bundle is None:
        raise NotFound(f"process model {process_id!r} version {number} not found")
    wf = BpmnWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=script_engine)
    wf.task_tree.data.update(copy.deepcopy(data or {}))
    now = clock.now()
    row = case_rows.insert(session, process_version_id=version_id, process_id=bundle.process_id,
                           version=number, status=RUNNING, state="",
                           data=to_jsonable(data or {}), started_by=principal.username,
                           created_at=now, updated_at=now,
                           parameter_set=reference_data.active_parameter_set(session))
    _bind(session, row, principal.username)
    start_form = bundle.start_form() if start_event is None and fire_start_timer is None \
        else None
    if start_form is not None:  # a refused start leaves nothing: the unit of work rolls back
        check_form(start_form, data or {}, context={})
    audit.record(session, type=audit.CASE_STARTED, actor=principal.username, instance=row,
                 element_id=process_id, data={"version": number, "data": row.data})
    case = _Case(session, row, bundle, wf, principal.username, new=True)
    _choose_start_event(wf, start_event, fire_start_timer)
    if start_event is not None or fire_start_timer is not None:
        try:
            wf.do_engine_steps(did_complete_task=lambda t: _step_done(case, t))
        except SpiffWorkflowException:
            pass  # reported by advance below, which runs the steps again
        if start_event is not None:
            wf.catch(start_event)
        if fire_start_timer is not None:
            for task in wf.get_tasks(state=TaskState.WAITING, spec_name=fire_start_timer):
                force_fire(task)
    advance(case, hops=hops)
    return row


def _choose_start_event(wf: BpmnWorkflow, message: Any, timer_element: str | None) -> None:
    """A case starts through one start event: the message's, the due timer's, or (started by
    a person) the plain ones. The process's other start events are cancelled, so that a plain
    start does not also fire for a message, and a manual case does not wait for a message.
    A process with no plain start event keeps its start events for a manual start."""
    starts = [t for t in wf.get_tasks(state=TaskState.PREDICTED_MASK | TaskState.FUTURE)
              if t.workflow is wf and isinstance(t.task_spec, StartEvent)]

    def plain(task: Any) -> bool:
        return isinstance(task.task_spec.event_definition, NoneEventDefinition)

    if message is not None:
        keep = [t for t in starts if t.task_spec.event_definition == message.event_definition]
    elif timer_element is not None:
        keep = [t for t in starts if t.task_spec.bpmn_id == timer_element]
    else:
        keep = [t for t in starts if plain(t)] or starts
    for task in starts:
        if task not in keep:
            task.cancel()


def _task_row(session: Session, task_id: str, *, lock: bool = False) -> HumanTask:
    row = session.get(HumanTask, task_id, with_for_update=lock)
    if row is None:
        raise NotFound(f"task {task_id} not found")
    return row


def complete_task(session: Session, *, task_id: str, data: dict[str, Any],
                  principal: Principal) -> CaseRecord:
    """Complete a ready user task with form data, then run the case until it waits.

    Raises `NotFound`, `NotAllowed` (another team's task), `TaskNotReady` (already done, or held
    by someone else) and `FormInvalid` (per-field problems; nothing changes).
    """
    if not isinstance(data, dict):
        raise InputInvalid([{"field": "data", "message": "must be an object"}])
    task_row = views.task_row(session, task_id)  # Core: this is every completion's path
    if task_row is None:
        raise NotFound(f"task {task_id} not found")
    require_task_work(principal, task_row)
    if task_row.status != "ready":
        raise TaskNotReady(f"task {task_id} is {task_row.status}")
    if task_row.assignee not in (None, principal.username) and not principal.is_admin:
        raise TaskNotReady(f"task {task_id} is held by {task_row.assignee}")
    case = open_case(session, task_row.instance_id, principal.username)
    if session.get_bind().dialect.name != "sqlite":
        # Read again under the case's lock: another request may have completed it meanwhile.
        # (A SQLite writer holds the database's write lock from its first statement on.)
        task_row.status = session.connection().execute(
            _TASK_STATUS, {"task": task_id}).scalar()
    if task_row.status != "ready":
        raise TaskNotReady(f"task {task_id} is {task_row.status}")
    task = case.wf.get_task_from_id(UUID(task_id))
    if task is None or task.state != TaskState.READY:
        raise TaskNotReady(f"task {task_id} is not ready")
    _require_not_excluded(case, task, principal)
    form = case.bundle.form_for(task.task_spec)
    before = to_jsonable(task.data)
    if form is not None:
        check_form(form, data, context=task.data, previous=before)
    submitted = to_jsonable(data)
    task.data.update(copy.deepcopy(data))
    changed = {k: v for k, v in submitted.items() if before.get(k) != v}
    try:
        task.run()
    except SpiffWorkflowException as exc:
        raise InvalidTransition(_error_message(exc)) from exc
    case.completed_data.append(task.data)
    _flush_task_changes(session)
    _end_task(session, task_id, "completed", by=principal.username,
              candidates=bool(task_row.candidates))
    audit.record(session, type=audit.TASK_COMPLETED, actor=principal.username, instance=case.row,
                 element_id=task_row.element_id, task_id=task_id,
                 data={"changed": changed, "submitted": submitted})
    advance(case)
    return case.row


def check_form(form: FormDefinition, data: dict[str, Any], *, context: dict[str, Any],
               previous: dict[str, Any] | None = None) -> None:
    """Validate submitted data against a form; raises `FormInvalid` with per-field problems.

    Date bounds that are expressions (e.g. `"x-min": "today()"`) are evaluated first, and the
    form's `x-validate` rules last, in the sandbox, over the case's data overlaid with the
    submitted data. A rule's error carries its author's message, and `message_en` when the
    rule has an English one.
    """
    has_bounds = next(bound_expressions(form.schema), None) is not None
    has_rules = next(validation_rules(form.schema), None) is not None
    # A copy: an expression must not change the case's data, even by a method call.
    scope = copy.deepcopy({**context, **data}) if has_bounds or has_rules else {}

    def evaluate(expression: str, names: dict[str, Any] | None = None) -> Any:
        return script_engine.environment.evaluate(expression, {**scope, **(names or {})})

    if has_bounds:
        form = FormDefinition(resolve_bounds(form.schema, evaluate), form.ui_schema, form.source)
    errors = validate_form_data(form, data, previous=previous)
    if has_rules and isinstance(data, dict):
        errors = sorted([*errors, *check_rules(form.schema, data, evaluate, skip=errors)],
                        key=lambda e: e.field)
    if errors:
        raise FormInvalid([e.problem() for e in errors])


def claim_task(session: Session, *, task_id: str, principal: Principal) -> HumanTask:
    """Take a ready task for oneself; `TaskNotReady` if someone else holds it."""
    row = _task_row(session, task_id, lock=True)
    require_task_work(principal, row)
    if row.status != "ready":
        raise TaskNotReady(f"task {task_id} is {row.status}")
    if row.assignee not in (None, principal.username):
        raise TaskNotReady(f"task {task_id} is held by {row.assignee}")
    if row.assignee is None:
        row.assignee = principal.username
        instance = case_rows.load(session, row.instance_id)
        audit.record(session, type=audit.TASK_CLAIMED, actor=principal.username,
                     instance=instance, element_id=row.element_id, task_id=task_id)
    return row


def unclaim_task(session: Session, *, task_id: str, principal: Principal) -> HumanTask:
    """Give a claimed task back to its team; `TaskNotReady` if someone else holds it."""
    row = _task_row(session, task_id, lock=True)
    require_task_work(principal, row)
    if row.status != "ready":
        raise TaskNotReady(f"task {task_id} is {row.status}")
    if row.assignee not in (None, principal.username) and not principal.is_admin:
        raise TaskNotReady(f"task {task_id} is held by {row.assignee}")
    if row.assignee is not None:
        row.assignee = None
        instance = case_rows.load(session, row.instance_id)
        audit.record(session, type=audit.TASK_UNCLAIMED, actor=principal.username,
                     instance=instance, element_id=row.element_id, task_id=task_id)
    return row


def cancel_case(session: Session, *, instance_id: int, principal: Principal) -> CaseRecord:
    """Cancel a case: its open tasks are cancelled and nothing more happens."""
    case = open_case(session, instance_id, principal.username)
    if case.row.status in FINAL:
        raise InvalidTransition(f"case {instance_id} is already {case.row.status}")
    case.wf.cancel()
    for task in views.read_ready_tasks(session, instance_id):
        _end_task(session, task.id, "cancelled", candidates=bool(task.candidates))
    for sub in session.scalars(select(MessageSubscription).where(
            MessageSubscription.instance_id == instance_id)):
        session.delete(sub)
    sync_case_timers(session, instance_id, None)
    row = case.row
    row.status = CANCELLED
    row.ended_at = row.updated_at = clock.now()
    row.state = dump_state(case.wf, case.bundle.dialect)
    audit.record(session, type=audit.CASE_CANCELLED, actor=principal.username, instance=row)
    case_rows.write(session, row)
    return row


def fail_service_task(case: _Case, *, task_id: str, element_id: str | None,
                      message: str) -> None:
    """A service call failed for the last time: the task goes to ERROR, the case to `error`."""
    task = case.wf.get_task_from_id(UUID(task_id))
    if task is None or task.state != TaskState.STARTED:
        return  # the task was cancelled meanwhile: nothing is waiting for the result
    task._set_state(TaskState.ERROR)
    advance(case, failure=_Failure(element_id, message, task_id, kind="service"))


def retry_incident(session: Session, *, incident_id: int, principal: Principal) -> Incident:
    """Run a failed step again and mark the incident resolved when the case moves on."""
    incident = session.get(Incident, incident_id, with_for_update=True)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    if incident.status != "open":
        raise InvalidTransition(f"incident {incident_id} is {incident.status}")
    if incident.kind == "unmatched_message":
        from engine.messages import redeliver  # messages builds on this module

        return redeliver(session, incident=incident, principal=principal)
    if incident.kind == timers.TIMER_INCIDENT:
        # The timer goes back in the schedule; the case moves when a worker fires it.
        timers.reschedule_failed(session, incident)
        row = case_rows.load(session, incident.instance_id) \
            if incident.instance_id is not None else None
        _resolve(session, incident, principal, row)
        return incident
    if incident.instance_id is None:
        raise InvalidTransition("this incident has no case to retry")
    case = open_case(session, incident.instance_id, principal.username)
    for task in case.wf.get_tasks(state=TaskState.ERROR):
        task._set_state(TaskState.READY)
    _resolve(session, incident, principal, case.row)
    advance(case)
    return incident


def _resolve(session: Session, incident: Incident, principal: Principal,
             row: CaseRecord | None) -> None:
    incident.status = "resolved"
    incident.resolved_at = clock.now()
    incident.resolved_by = principal.username
    audit.record(session, type=audit.INCIDENT_RESOLVED, actor=principal.username,
                 instance=row, element_id=incident.element_id, data={"incident": incident.id})
