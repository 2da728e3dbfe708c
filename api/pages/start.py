"""Starting a case by hand, with the process's start form."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import DbDep
from api.pages.form_fields import (
    add_row,
    read_row_action,
    read_submission,
    remove_row,
)
from api.pages.presenting import form_view
from api.pages.routing import page_router
from api.pages.session import CheckedForm, PagePrincipal
from api.pages.templating import redirect, render
from engine import runner, starting
from engine.authorization import Principal, can_work_on_task
from engine.errors import InputInvalid
from engine.models import HumanTask

router = page_router()


@router.get("/start")
def start_list(request: Request, principal: PagePrincipal, db: DbDep) -> Response:
    """The processes the user may start."""
    with db.reading() as session:
        options = starting.startable(session, principal)
    return render(request, "start.html", {"options": options}, principal=principal)


def _start_page(request: Request, option: starting.StartOption, principal: Principal, *,
                values: dict[str, Any] | None = None, problems: list[dict[str, Any]] = (),
                status_code: int = 200) -> Response:
    form = option.form
    view = form_view(form.schema if form else None, form.ui_schema if form else None,
                     values or {}, problems)
    return render(request, "start_form.html", {"option": option, **view},
                  principal=principal, status_code=status_code)


@router.get("/start/{process_id}")
def start_form(process_id: str, request: Request, principal: PagePrincipal,
               db: DbDep) -> Response:
    """The start form of one process."""
    with db.reading() as session:
        option = starting.start_option(session, principal, process_id)
    return _start_page(request, option, principal)


@router.post("/start/{process_id}")
def start(process_id: str, request: Request, principal: PagePrincipal, form: CheckedForm,
          db: DbDep) -> Response:
    """Start the case; a refused start form comes back with its errors and creates nothing."""
    with db.reading() as session:
        option = starting.start_option(session, principal, process_id)
    schema = option.form.schema if option.form else {}
    data, _files = read_submission(schema, form)
    row_action = read_row_action(form)
    if row_action is not None:
        (add_row if row_action[0] == "add" else remove_row)(data, row_action[1])
        return _start_page(request, option, principal, values=data)

    def work(session: Session) -> tuple[int, str | None]:
        row = runner.start_case(session, process_id=process_id, version=option.version,
                                data=data, principal=principal)
        ready = session.scalars(select(HumanTask).where(
            HumanTask.instance_id == row.id, HumanTask.status == "ready")
            .order_by(HumanTask.created_at))
        mine = [t.id for t in ready if can_work_on_task(principal, t)]
        return row.id, mine[0] if mine else None

    try:
        case_id, next_task = db.unit_of_work(work)
    except InputInvalid as invalid:
        return _start_page(request, option, principal, values=data, problems=invalid.problems,
                           status_code=422)
    return redirect(f"/tasks/{next_task}" if next_task else f"/cases/{case_id}?notice=started")
