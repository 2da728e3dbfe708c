"""Virta's configuration: the one place that reads the environment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

#: The project root: `processes/` and `forms/` are deployed from here on start.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Typed settings, read from `VIRTA_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="VIRTA_", env_ignore_empty=True, extra="ignore")

    database_url: str = "sqlite:///./virta.db"
    redis_url: str | None = None
    smtp_url: str | None = None
    admin_user: str | None = None
    admin_password: str | None = None
    secret_key: str | None = None
    timezone: str = "Europe/Helsinki"
    #: Lets tests move the platform clock; never on in production.
    clock_test_hook: bool = False
    #: Bearer token lifetime.
    token_ttl_minutes: int = 12 * 60
    processes_dir: Path = PROJECT_ROOT / "processes"
    forms_dir: Path = PROJECT_ROOT / "forms"
    #: Largest BPMN/DMN/form file accepted at deploy.
    max_model_bytes: int = 5 * 1024 * 1024


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once."""
    return Settings()
