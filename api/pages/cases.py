"""Cases: the list, and a case's status, data, timeline, documents and diagram."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import or_, select

from api.deps import DbDep
from api.i18n import gettext_noop
from api.pages.presenting import field_schemas, readable
from api.pages.routing import page_router
from api.pages.session import PagePrincipal
from api.pages.templating import render
from engine import attachments, audit, case_access
from engine.authorization import can_see_task
from engine.deploy import load_bundle, version_bpmn
from engine.models import HumanTask, ProcessInstance, ProcessVersion

router = page_router()

PER_PAGE = 50
STATUSES = {
    "running": gettext_noop("In progress"),
    "waiting": gettext_noop("Waiting"),
    "completed": gettext_noop("Completed"),
    "error": gettext_noop("Error"),
    "cancelled": gettext_noop("Cancelled"),
}
#: Every event type a case's history can hold, in people's words (tests check none is missing).
EVENTS = {
    audit.CASE_STARTED: gettext_noop("Case started"),
    audit.CASE_COMPLETED: gettext_noop("Case completed"),
    audit.CASE_CANCELLED: gettext_noop("Case cancelled"),
    audit.CASE_ERROR: gettext_noop("Case stopped on an error"),
    audit.TASK_READY: gettext_noop("Task waiting"),
    audit.TASK_CLAIMED: gettext_noop("Task taken"),
    audit.TASK_UNCLAIMED: gettext_noop("Task given back"),
    audit.TASK_REASSIGNED: gettext_noop("Task given to another person"),
    audit.TASK_CANDIDATE_ADDED: gettext_noop("Another team may also do the task"),
    audit.CASE_PURGED: gettext_noop("Personal data removed after the retention period"),
    audit.TASK_COMPLETED: gettext_noop("Task done"),
    audit.TASK_CANCELLED: gettext_noop("Task cancelled"),
    audit.STEP_COMPLETED: gettext_noop("Step done"),
    audit.TIMER_FIRED: gettext_noop("Deadline reached"),
    audit.MESSAGE_RECEIVED: gettext_noop("Message received"),
    audit.MESSAGE_SENT: gettext_noop("Message sent"),
    audit.INCIDENT: gettext_noop("Incident"),
    audit.INCIDENT_RESOLVED: gettext_noop("Incident resolved"),
}


@router.get("/cases")
def case_list(request: Request, principal: PagePrincipal, db: DbDep, status: str | None = None,
              process: str | None = None, q: str | None = None, page: int = 1) -> Response:
    """The cases the user may see, newest first."""
    page = max(page, 1)
    query = select(ProcessInstance).where(case_access.visible(principal))
    if status in STATUSES:
        query = query.where(ProcessInstance.status == status)
    if process:
        query = query.where(ProcessInstance.process_id == process)
    if q:
        query = query.where(or_(ProcessInstance.business_key == q.strip(),
                                ProcessInstance.id == (int(q) if q.strip().isdigit() else -1)))
    with db.reading() as session:
        rows = session.scalars(query.order_by(ProcessInstance.id.desc())
                               .limit(PER_PAGE + 1).offset((page - 1) * PER_PAGE)).all()
        processes = sorted({p for (p,) in session.query(ProcessInstance.process_id).distinct()})
        return render(request, "cases.html", {
            "rows": rows[:PER_PAGE], "more": len(rows) > PER_PAGE, "page": page,
            "statuses": STATUSES, "status": status or "", "process": process or "",
            "processes": processes, "q": q or "", "query": dict(request.query_params),
        }, principal=principal)


def _names(session: Any, row: ProcessInstance) -> dict[str, str]:
    pv = session.get(ProcessVersion, row.process_version_id)
    names: dict[str, str] = {}
    if pv is not None:
        bundle = load_bundle(session, pv)
        for spec in bundle.all_specs():
            for ts in spec.task_specs.values():
                if getattr(ts, "bpmn_id", None) and getattr(ts, "bpmn_name", None):
                    names[ts.bpmn_id] = ts.bpmn_name
    return names


@router.get("/cases/{case_id}")
def case_page(case_id: int, request: Request, principal: PagePrincipal, db: DbDep,
              notice: str | None = None) -> Response:
    """One case: status, data, waiting tasks, timeline and diagram."""
    with db.reading() as session:
        row = case_access.get_visible(session, principal, case_id)
        pv = session.get(ProcessVersion, row.process_version_id)
        names = _names(session, row)
        timeline = [
            {"at": e.at, "type": EVENTS.get(e.type, e.type), "actor": e.actor,
             "element": names.get(e.element_id or "", e.element_id)}
            for e in audit.history(session, row.id)
            if e.type not in (audit.STEP_COMPLETED,) or e.element_id in names
        ]
        tasks = [t for t in session.scalars(select(HumanTask).where(
            HumanTask.instance_id == row.id, HumanTask.status == "ready"))
            if can_see_task(principal, t)]
        path = case_access.path_taken(session, row, version_bpmn(session, pv)) if pv else {}
        data = readable(row.data or {}, field_schemas(session, row), mask=False)
        return render(request, "case.html", {
            "case": row, "process_name": (pv.name if pv else None) or row.process_id,
            "status_label": STATUSES.get(row.status, row.status), "data": data,
            "timeline": timeline, "tasks": tasks,
            "done": json.dumps(path.get("done", [])),
            "active": json.dumps(path.get("active", [])),
            "flows": json.dumps(path.get("flows", [])),
            "notice": gettext_noop("The case was started.") if notice == "started" else None,
        }, principal=principal)


@router.get("/cases/{case_id}/diagram.bpmn")
def case_diagram(case_id: int, principal: PagePrincipal, db: DbDep) -> Response:
    """The BPMN XML of the case's model version, for the diagram."""
    with db.reading() as session:
        row = case_access.get_visible(session, principal, case_id)
        xml = version_bpmn(session, session.get(ProcessVersion, row.process_version_id))
    return Response(xml, media_type="application/xml",
                    headers={"Cache-Control": "private, max-age=300"})


@router.get("/cases/{case_id}/documents/{document_id}")
def case_document(case_id: int, document_id: int, principal: PagePrincipal,
                  db: DbDep) -> Response:
    """A file attached to the case, always as a download (never rendered inline)."""
    with db.reading() as session:
        case_access.get_visible(session, principal, case_id)
        name, media_type, content = attachments.load(session, instance_id=case_id,
                                                     document_id=document_id)
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "")
    return Response(content, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{ascii_name}"',
        "Cache-Control": "private, no-store"})
