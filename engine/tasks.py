"""Reading a task with what a person needs to complete it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from engine.authorization import Principal, can_see_task
from engine.deploy import load_bundle
from engine.errors import NotFound
from engine.identifiers import is_valid_personal_id, mask_personal_id
from engine.models import HumanTask, ProcessInstance, ProcessVersion
from engine.specs import task_meta
from engine.views import task_to_dict


def mask_personal_ids(value: Any) -> Any:
    """A copy of data with every henkilötunnus masked (shown in full only on the case page)."""
    if isinstance(value, dict):
        return {k: mask_personal_ids(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_personal_ids(v) for v in value]
    if isinstance(value, str) and len(value) == 11 and is_valid_personal_id(value):
        return mask_personal_id(value)
    return value


def task_detail(session: Session, *, task_id: str, principal: Principal) -> dict[str, Any]:
    """A task with its form definition, instructions and the case's data.

    Raises `NotFound` also when the caller may not see it, so that its existence does not leak.
    """
    row = session.get(HumanTask, task_id)
    if row is None or not can_see_task(principal, row):
        raise NotFound(f"task {task_id} not found")
    instance = session.get(ProcessInstance, row.instance_id)
    pv = session.get(ProcessVersion, instance.process_version_id) if instance else None
    if instance is None or pv is None:
        raise NotFound(f"task {task_id} not found")
    bundle = load_bundle(session, pv)
    form = instructions = None
    for spec in bundle.all_specs():
        for ts in spec.task_specs.values():
            if getattr(ts, "bpmn_id", None) == row.element_id and ts.manual:
                form = bundle.form_for(ts)
                instructions = task_meta(ts).instructions
                break
    detail = task_to_dict(row)
    detail.update({
        "process_id": instance.process_id, "version": instance.version,
        "form": form.to_dict() if form else None, "instructions": instructions,
        "case_data": mask_personal_ids(instance.data),
    })
    return detail
