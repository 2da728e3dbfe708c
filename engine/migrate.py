"""Schema migrations: Alembic, driven from code so that `virta db upgrade` works anywhere."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from engine.settings import PROJECT_ROOT, get_settings


def alembic_config(url: str | None = None) -> Config:
    """Return the Alembic config for `url` (default: the configured database)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", (url or get_settings().database_url).replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None) -> None:
    """Apply every migration up to the newest."""
    command.upgrade(alembic_config(url), "head")
