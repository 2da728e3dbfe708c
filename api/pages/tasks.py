"""The task list and the task page (complete a task through its form)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from api.deps import DbDep
from api.i18n import gettext_noop
from api.pages.form_fields import (
    add_row,
    read_row_action,
    read_submission,
    remove_row,
    set_path,
)
from api.pages.presenting import field_schemas, form_view, problem_text, readable
from api.pages.routing import page_router
from api.pages.session import CheckedForm, PagePrincipal
from api.pages.templating import redirect, render
from engine import assignment, attachments, runner, tasks, worklist
from engine.authorization import Principal
from engine.errors import InputInvalid, NotFound, TaskNotReady
from engine.models import ProcessInstance
from engine.settings import get_settings

router = page_router()

PER_PAGE = 50
NOTICES = {
    "completed": gettext_noop("The task is completed."),
    "claimed": gettext_noop("The task has been assigned to you."),
    "unclaimed": gettext_noop("The task has been released to the team."),
    "reassigned": gettext_noop("The task has been reassigned."),
}
TAKEN = gettext_noop("Someone else has already claimed this task.")


def _date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@router.get("/tasks")
def task_list(request: Request, principal: PagePrincipal, db: DbDep, scope: str = "team",
              team: str | None = None, process: str | None = None,
              municipality: str | None = None, due_by: str | None = None,
              overdue: bool = False, sort: str = "due", page: int = 1,
              notice: str | None = None) -> Response:
    """My tasks and my teams' tasks, with filters, sorting and pages."""
    filters = worklist.Filters(
        scope=worklist.MINE if scope == "mine" else worklist.TEAM, team=team or None,
        process_id=process or None, municipality=municipality or None,
        due_by=_date(due_by), overdue=overdue)
    page = max(page, 1)
    with db.reading() as session:
        result = worklist.task_page(session, principal, filters, sort=sort, page=page,
                                    per_page=PER_PAGE)
        processes = sorted({pid for (pid,) in session.query(ProcessInstance.process_id)
                            .distinct()})
        pages = max(1, -(-result.total // PER_PAGE))
        return render(request, "tasks.html", {
            "result": result, "filters": filters, "scope": filters.scope, "sort": sort,
            "page": page, "pages": pages, "processes": processes,
            "municipalities": worklist.municipalities(session),
            "teams": sorted(principal.teams), "query": dict(request.query_params),
            "notice": NOTICES.get(notice or ""), "due_by": due_by or "",
        }, principal=principal)


def _task_context(session: Session, task_id: str, principal: Principal) -> dict[str, Any]:
    detail = tasks.task_detail(session, task_id=task_id, principal=principal)
    instance = session.get(ProcessInstance, detail["instance_id"])
    if instance is None:
        raise NotFound(f"task {task_id} not found")
    schemas = field_schemas(session, instance)
    return {
        "task": detail, "instance": {"id": instance.id, "business_key": instance.business_key},
        "facts": readable(instance.data or {}, schemas)[:12],
        "members": worklist.team_members(session, detail["candidate_teams"])
        if detail["candidate_teams"] else [],
        "prefill": dict(instance.data or {}),
    }


def _task_page(request: Request, context: dict[str, Any], principal: Principal, *,
               values: dict[str, Any] | None = None, problems: list[dict[str, Any]] = (),
               status_code: int = 200, message: str | None = None) -> Response:
    form = context["task"]["form"] or {}
    view = form_view(form.get("schema"), form.get("ui_schema"),
                     context["prefill"] if values is None else values, problems)
    return render(request, "task.html", {**context, **view, "message": message},
                  principal=principal, status_code=status_code)


@router.get("/tasks/{task_id}")
def task_page(task_id: str, request: Request, principal: PagePrincipal, db: DbDep) -> Response:
    """A task: its instructions, the case's key facts and the form."""
    with db.reading() as session:
        context = _task_context(session, task_id, principal)
    return _task_page(request, context, principal)


def _read_files(uploads: dict[str, UploadFile]) -> dict[str, tuple[str, str, bytes]]:
    limit = get_settings().max_upload_bytes
    return {path: (upload.filename or "", upload.content_type or "",
                   upload.file.read(limit + 1)) for path, upload in uploads.items()}


def _accept(schema: dict[str, Any], path: str) -> list[str] | None:
    sub: Any = schema
    for part in path.split("."):
        if part.isdigit():
            sub = sub.get("items") or {}
        else:
            sub = (sub.get("properties") or {}).get(part) or {}
    accept = sub.get("x-accept") if isinstance(sub, dict) else None
    return accept if isinstance(accept, list) else None


@router.post("/tasks/{task_id}")
def complete(task_id: str, request: Request, principal: PagePrincipal, form: CheckedForm,
             db: DbDep) -> Response:
    """Complete the task with the posted form; errors come back next to their fields."""
    with db.reading() as session:
        context = _task_context(session, task_id, principal)
    definition = context["task"]["form"]
    schema = definition["schema"] if definition else {}
    data, uploads = read_submission(schema, form)
    row_action = read_row_action(form)
    if row_action is not None:
        (add_row if row_action[0] == "add" else remove_row)(data, row_action[1])
        return _task_page(request, context, principal, values=data)
    files = _read_files(uploads)

    def work(session: Session) -> None:
        for path, (name, media_type, content) in files.items():
            set_path(data, path, attachments.store(
                session, instance_id=context["instance"]["id"], field=path, name=name,
                media_type=media_type, content=content,
                max_bytes=get_settings().max_upload_bytes, accept=_accept(schema, path)))
        runner.complete_task(session, task_id=task_id, data=data, principal=principal)

    try:
        db.unit_of_work(work)
    except InputInvalid as invalid:
        return _task_page(request, context, principal, values=data, problems=invalid.problems,
                          status_code=422)
    except TaskNotReady:
        return _task_page(request, context, principal, values=data, message=TAKEN,
                          status_code=409)
    return redirect("/tasks?notice=completed")


def _back(form: FormData, task_id: str) -> str:
    return "/tasks" if form.get("back") == "list" else f"/tasks/{task_id}"


@router.post("/tasks/{task_id}/claim")
def claim(task_id: str, principal: PagePrincipal, form: CheckedForm, db: DbDep) -> Response:
    """Take the task."""
    try:
        db.unit_of_work(lambda s: runner.claim_task(s, task_id=task_id, principal=principal))
    except TaskNotReady:
        return redirect(f"/tasks/{task_id}")
    target = _back(form, task_id)
    return redirect(target + ("?notice=claimed" if target == "/tasks" else ""))


@router.post("/tasks/{task_id}/unclaim")
def unclaim(task_id: str, principal: PagePrincipal, form: CheckedForm, db: DbDep) -> Response:
    """Give the task back to the team."""
    db.unit_of_work(lambda s: runner.unclaim_task(s, task_id=task_id, principal=principal))
    return redirect("/tasks?notice=unclaimed")


@router.post("/tasks/{task_id}/reassign")
def reassign(task_id: str, request: Request, principal: PagePrincipal, form: CheckedForm,
             db: DbDep) -> Response:
    """Give the task to another member of its team."""
    username = str(form.get("assignee") or "")
    try:
        db.unit_of_work(lambda s: assignment.reassign_task(
            s, task_id=task_id, username=username, principal=principal))
    except InputInvalid as invalid:
        with db.reading() as session:
            context = _task_context(session, task_id, principal)
        return _task_page(request, context, principal, message=problem_text(invalid.problems[0]),
                          status_code=422)
    return redirect("/tasks?notice=reassigned")

