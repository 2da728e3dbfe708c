"""What `virta serve` does before it answers: reference data, the admin, the shipped models."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.orm import Session

from engine import accounts, deploy, reference_data
from engine.db import Database
from engine.settings import Settings

log = logging.getLogger(__name__)


def model_files(*folders: Path) -> list[tuple[str, bytes]]:
    """Every .bpmn, .dmn and form .json file in the folders, by file name."""
    files: list[tuple[str, bytes]] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.is_file() and deploy.file_kind(path.name) is not None:
                files.append((path.name, path.read_bytes()))
    return files


def bootstrap(db: Database, settings: Settings, *, deploy_models: bool = True) -> None:
    """Create reference teams and the `VIRTA_ADMIN_*` admin; deploy `processes/` and `forms/`."""
    def work(session: Session) -> None:
        reference_data.load_folder(session, settings.processes_dir / "reference")
        session.flush()
        accounts.ensure_reference_teams(session, reference_data.reviewer_groups(session))
        accounts.purge_expired_tokens(session)
        accounts.secret_key(session, settings.secret_key)
        if settings.admin_user and settings.admin_password:
            accounts.ensure_admin(session, settings.admin_user, settings.admin_password)

    db.unit_of_work(work)
    if deploy_models:
        files = model_files(settings.processes_dir, settings.forms_dir)
        if files:
            versions = db.unit_of_work(lambda s: [
                (pv.process_id, pv.version) for pv in deploy.deploy(s, files, actor="bootstrap")])
            log.info("deployed models: %s", versions)
