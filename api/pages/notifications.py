"""The notifications page."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import select, update

from api.deps import DbDep
from api.pages.routing import page_router
from api.pages.session import CheckedForm, PagePrincipal
from api.pages.templating import redirect, render
from engine import clock, notifications
from engine.models import Notification

router = page_router()


@router.get("/notifications")
def notification_page(request: Request, principal: PagePrincipal, db: DbDep) -> Response:
    """The user's and their teams' notifications, newest first."""
    with db.reading() as session:
        rows = session.scalars(select(Notification).where(notifications.addressed_to(principal))
                               .order_by(Notification.id.desc()).limit(200)).all()
        return render(request, "notifications.html", {"rows": rows}, principal=principal)


@router.post("/notifications/read")
def mark_read(principal: PagePrincipal, _form: CheckedForm, db: DbDep) -> Response:
    """Mark every notification on the page read."""
    db.unit_of_work(lambda s: s.execute(
        update(Notification)
        .where(notifications.addressed_to(principal), Notification.read_at.is_(None))
        .values(read_at=clock.now())))
    return redirect("/notifications")
