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
    #: Days a finished case keeps its personal data when its model names no `retentionDays`
    #: (unset: kept); see engine/retention.py.
    retention_days: int | None = None
    #: Seconds between the scheduler's retention purges.
    retention_interval: float = 3600.0
    #: Largest file attached to a form on the pages.
    max_upload_bytes: int = 10 * 1024 * 1024
    #: Named HTTP endpoints that the `http_call` service operation may call: {name: URL}.
    http_endpoints: dict[str, str] = {}
    #: Timeout of one `http_call`, in seconds.
    http_timeout: float = 10.0
    #: Base URL of the pages, for links in e-mail.
    public_url: str = "http://127.0.0.1:8000"
    #: Hours before a task's due time that its team is reminded.
    reminder_lead_hours: float = 24.0
    #: How often the scheduler looks for due timers and outbox rows, in seconds.
    scheduler_interval: float = 0.1
    #: Most due timers the scheduler hands to a worker in one message, fired in one
    #: transaction (engine.work.TIMER_BATCH); 1 = one timer per message.
    timer_batch: int = 50
    #: How long a timer or outbox row handed to a worker is left alone before it is handed out
    #: again (a worker that died, a broker that lost the message), in seconds.
    lease_seconds: float = 60.0
    #: Python modules imported at start by every process, e.g. to register service operations
    #: (`engine.operations.register_external`); comma-separated in `VIRTA_PLUGINS`.
    plugins: str = ""
    #: OpenID Connect login (api/pages/oidc.py): the provider's issuer, whose
    #: `/.well-known/openid-configuration` is read; unset = OIDC login off.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    #: Unset = a public client (PKCE only, no client authentication at the token endpoint).
    oidc_client_secret: str | None = None
    oidc_scopes: str = "openid profile email"
    #: The ID token claim that names the Virta user.
    oidc_username_claim: str = "preferred_username"
    #: The ID token claim whose values that are team ids make the user's teams.
    oidc_groups_claim: str = "groups"
    #: An ID token claim whose values that are Virta roles make the user's roles; unset = roles
    #: are kept as set in Virta (and `staff` follows team membership).
    oidc_role_claim: str | None = None

    def plugin_modules(self) -> list[str]:
        """The module names in `plugins`."""
        return [m.strip() for m in self.plugins.split(",") if m.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once."""
    return Settings()
