"""BPMN service tasks, run by the workers instead of inside the request that reaches them.

When a case reaches a service task, `DeferredServiceTask` evaluates the parameters and leaves the
task STARTED; the runner records a `service_call` in the outbox in the same transaction. A worker
calls the registered operation outside any case lock, then completes the task with the result
(`complete_service_call`). Failures are retried with exponential backoff from the outbox (the
durable copy); after the last retry the task is put in ERROR and the case gets an incident;
retrying the incident runs the task again, which schedules a new call.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from uuid import UUID

from SpiffWorkflow.spiff.specs.defaults import ServiceTask as SpiffServiceTask
from SpiffWorkflow.util.task import TaskState

from engine import outbox
from engine.models import OutboxMessage

SERVICE_CALL = "service_call"
#: Attempts before a failing service call becomes an incident (a model may set `retries`).
DEFAULT_RETRIES = 3
#: First retry delay; each next one doubles (a model may set `retryBackoffBase`).
DEFAULT_BACKOFF = timedelta(seconds=1)
_PENDING_KEY = "virta_service_call"


class DeferredServiceTask(SpiffServiceTask):
    """A spiff service task whose call is made later by a worker."""

    def _execute(self, task: Any) -> bool | None:
        task._set_internal_data(**{_PENDING_KEY: {
            "operation": self.operation_name,
            "params": {k: v["value"] for k, v in self.evaluate_params(task).items()},
            "result_variable": self.result_variable,
        }})
        return None  # SpiffWorkflow leaves the task STARTED


def schedule_calls(session: Any, *, instance_id: int, wf: Any) -> None:
    """Put every newly started service task of a case in the outbox."""
    for task in wf.get_tasks(state=TaskState.STARTED):
        call = task._get_internal_data(_PENDING_KEY)
        if not call or call.get("scheduled"):
            continue
        spec = task.task_spec
        retries = getattr(spec, "retries", None)
        backoff = getattr(spec, "retry_backoff_base", None)
        outbox.enqueue(session, kind=SERVICE_CALL, instance_id=instance_id, payload={
            "task_id": str(task.id), "element_id": spec.bpmn_id,
            "operation": call["operation"], "params": call["params"],
            "retries": int(retries) if retries not in (None, "") else DEFAULT_RETRIES,
            "backoff_seconds": float(backoff) if backoff not in (None, "")
            else DEFAULT_BACKOFF.total_seconds(),
        })
        call["scheduled"] = True


def complete_service_call(wf: Any, *, task_id: str, result: Any) -> bool:
    """Finish a started service task with the operation's result; False if it is gone."""
    task = wf.get_task_from_id(UUID(task_id))
    if task is None or task.state != TaskState.STARTED:
        return False  # cancelled meanwhile, e.g. by an interrupting boundary timer
    call = task._get_internal_data(_PENDING_KEY) or {}
    task.data[call.get("result_variable") or task.task_spec.result_variable] = \
        json.loads(json.dumps(result, default=str))
    task.internal_data.pop(_PENDING_KEY, None)
    task.complete()
    return True


def record_failure(row: OutboxMessage, *, error: str) -> bool:
    """Count a failed attempt; True when it was the last one (the caller opens an incident)."""
    payload = row.payload
    if row.attempts + 1 < int(payload.get("retries", DEFAULT_RETRIES)):
        delay = timedelta(seconds=float(payload.get("backoff_seconds", 1)) * 2 ** row.attempts)
        outbox.mark_retry(row, error=error, delay=delay)
        return False
    outbox.mark_failed(row, error=error)
    return True
