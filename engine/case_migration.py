"""Moving a running case to another version of its process model.

A case can move when every task its state refers to exists, by BPMN id, in the target version
(tasks that SpiffWorkflow created for the case so far, finished or not). Ready tasks keep their
ids; their lane, team and form follow the target version.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit, runner
from engine.authorization import Principal, require_deploy
from engine.deploy import get_version, load_bundle
from engine.errors import NotMigratable
from engine.models import HumanTask
from engine.specs import SpecBundle, task_meta
from engine.state import dump_state, load_state


def _spec_names(bundle: SpecBundle) -> dict[str, set[str]]:
    names = {bundle.spec.name: set(bundle.spec.task_specs)}
    for name, spec in bundle.subprocess_specs.items():
        names[name] = set(spec.task_specs)
    return names


def _bpmn_ids(bundle: SpecBundle) -> set[str]:
    return {ts.bpmn_id for spec in bundle.all_specs() for ts in spec.task_specs.values()
            if getattr(ts, "bpmn_id", None)}


def _used_specs(state: dict[str, Any], top: str) -> dict[str, set[str]]:
    used: dict[str, set[str]] = {top: {t["task_spec"] for t in state["tasks"].values()}}
    for sub in state.get("subprocesses", {}).values():
        used.setdefault(sub["spec"], set()).update(t["task_spec"] for t in sub["tasks"].values())
    return used


def migrate_case(session: Session, *, instance_id: int, version: int, dry_run: bool,
                 principal: Principal) -> dict[str, Any]:
    """Move a case to `version` of its process; with `dry_run`, only tell whether it could.

    Returns `{"migratable": True, "changes": [...]}`; raises `NotMigratable` with the reason,
    leaving the case untouched.
    """
    require_deploy(principal)
    case = runner.open_case(session, instance_id, principal.username)
    if case.row.status in runner.FINAL:
        raise NotMigratable(f"case {instance_id} is {case.row.status}")
    source = case.bundle
    target_pv = get_version(session, case.row.process_id, version)
    target = load_bundle(session, target_pv)
    state = json.loads(case.row.state)
    available = _spec_names(target)
    missing = sorted(
        f"{spec}:{name}" for spec, names in _used_specs(state, source.spec.name).items()
        for name in names - available.get(spec, set())
    )
    if missing:
        raise NotMigratable(f"the target version lacks elements this case uses: "
                            f"{', '.join(missing)}")
    before, after = _bpmn_ids(source), _bpmn_ids(target)
    changes = ([{"element_id": e, "change": "added"} for e in sorted(after - before)]
               + [{"element_id": e, "change": "removed"} for e in sorted(before - after)])
    if dry_run or target_pv.id == case.row.process_version_id:
        return {"migratable": True, "changes": changes, "dry_run": dry_run}
    wf = load_state(case.row.state, target)
    case.wf, case.bundle = wf, target
    old_version = case.row.version
    case.row.process_version_id, case.row.version = target_pv.id, target_pv.version
    for task_row in session.scalars(select(HumanTask).where(
            HumanTask.instance_id == instance_id, HumanTask.status == "ready")):
        task = wf.get_task_from_id(runner.UUID(task_row.id))
        if task is not None:
            meta = task_meta(task.task_spec)
            task_row.lane = task.task_spec.lane
            task_row.form_key = meta.form_key if target.form_for(task.task_spec) else None
    audit.record(session, type="case_migrated", actor=principal.username, instance=case.row,
                 data={"from_version": old_version, "to_version": target_pv.version,
                       "changes": changes})
    case.row.state = dump_state(wf, target.dialect)
    runner.advance(case)
    return {"migratable": True, "changes": changes, "dry_run": False}
