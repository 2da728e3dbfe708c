"""Process models: deploy and read versions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentPrincipal, DbDep, Version
from api.errors import answers
from engine import deploy
from engine.authorization import require_deploy
from engine.models import ProcessVersion
from engine.settings import get_settings

router = APIRouter(prefix="/process-models", tags=["process models"])


def version_to_dict(pv: ProcessVersion) -> dict[str, Any]:
    """The public shape of a process model version."""
    return {
        "process_id": pv.process_id, "version": pv.version, "name": pv.name,
        "dialect": pv.dialect, "content_hash": pv.content_hash,
        "deployed_at": pv.deployed_at.isoformat(), "deployed_by": pv.deployed_by,
        "start_messages": pv.start_messages,
    }


@router.post("", status_code=201, responses=answers(400, 403, 409, 422))
async def deploy_models(
    db: DbDep, principal: CurrentPrincipal,
    files: Annotated[list[UploadFile] | None,
                     File(description=".bpmn, .dmn and form .json files")] = None,
) -> dict[str, Any]:
    """Deploy BPMN, DMN and form files together: all or nothing."""
    require_deploy(principal)
    limit = get_settings().max_model_bytes
    payload = [(f.filename or "unnamed", await f.read(limit + 1)) for f in files or []]

    def work(session: Session) -> list[dict[str, Any]]:
        versions = deploy.deploy(session, payload, actor=principal.username)
        return [version_to_dict(pv) for pv in versions]

    return {"process_models": await run_in_threadpool(db.unit_of_work, work)}


@router.get("")
def list_models(db: DbDep, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    """The latest version of each process model."""
    with db.reading() as session:
        return [version_to_dict(pv) for pv in deploy.latest_versions(session)]


@router.get("/{process_id}/versions", responses=answers(404, 422))
def list_versions(process_id: str, db: DbDep, principal: CurrentPrincipal
                  ) -> list[dict[str, Any]]:
    """Every version of a process model, oldest first, with who deployed it and when."""
    with db.reading() as session:
        rows = session.scalars(select(ProcessVersion).where(
            ProcessVersion.process_id == process_id).order_by(ProcessVersion.version)).all()
        if not rows:
            deploy.get_version(session, process_id)  # raises NotFound
        return [version_to_dict(pv) for pv in rows]


@router.get("/{process_id}/versions/{version}/bpmn", response_class=Response,
            responses={200: {"content": {"application/xml": {}}}, **answers(404, 422)})
def version_bpmn(process_id: str, version: Version, db: DbDep, principal: CurrentPrincipal
                 ) -> Response:
    """The BPMN XML of a version."""
    with db.reading() as session:
        pv = deploy.get_version(session, process_id, version)
        return Response(deploy.version_bpmn(session, pv), media_type="application/xml")
