"""Shared fixtures: a fresh, migrated database per test (SQLite or a real PostgreSQL) and an
API client logged in as an admin.

`VIRTA_TEST_DB=postgresql` runs the suite on a throwaway PostgreSQL server; the default is
SQLite. `scripts/test` runs the suite once with each.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from engine import accounts, clock, migrate, reference_data, runner, specs, work
from engine.bootstrap import bootstrap
from engine.db import Database
from engine.settings import Settings
from tests.flow_coverage import FlowRecorder, model_flows, report, untaken
from tests.services import PostgresServer, ServiceUnavailable, require

TEST_DB = os.environ.get("VIRTA_TEST_DB", "sqlite")
DATA = Path(__file__).parent / "data"
CONFORMANCE = Path(__file__).resolve().parents[2] / "shared" / "conformance"
ADMIN = ("admin", "admin-password-1")



_flows = FlowRecorder()


def pytest_sessionstart(session: pytest.Session) -> None:
    runner.flow_listeners.append(_flows)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With VIRTA_FLOW_COVERAGE=1, fail the run when a model's sequence flow was never taken."""
    if os.environ.get("VIRTA_FLOW_COVERAGE") != "1":
        return
    left = untaken(_flows)
    if left:
        print("\n" + report(left))
        session.exitstatus = 1
    else:
        print(f"\nflow coverage: every sequence flow of {len(model_flows())} in processes/ "
              "was taken")


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Password hashing has its own tests; at full cost it would dominate the API tests."""
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                            parallelism=1))


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer | None]:
    """One PostgreSQL server for the whole run (only when the suite runs on PostgreSQL)."""
    if TEST_DB != "postgresql":
        yield None
        return
    try:
        server = PostgresServer().start()
    except ServiceUnavailable as exc:
        require("postgresql", str(exc))
        raise
    template = server.create_database("virta_template")
    migrate.upgrade(template)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies."""
    path = tmp_path_factory.mktemp("template") / "virta.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def database_url(postgres: PostgresServer | None, sqlite_template: Path,
                 tmp_path: Path) -> str:
    """The URL of a fresh database with the schema applied through Alembic."""
    if postgres is not None:
        # Emptying the tables is much faster than a new database per test.
        with postgres.connect("virta_template") as conn:
            tables = [r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'")]
            conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables)
                         + " RESTART IDENTITY CASCADE")
        return postgres.url_for("virta_template")
    path = tmp_path / "virta.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Explicit settings, independent of the developer's shell."""
    return Settings(admin_user=ADMIN[0], admin_password=ADMIN[1],
                    processes_dir=tmp_path / "no-processes", forms_dir=tmp_path / "no-forms")


@pytest.fixture
def db(database_url: str, settings: Settings) -> Iterator[Database]:
    """A bootstrapped database: reference teams and the admin exist."""
    runner.workflow_cache.clear()
    specs.spec_cache.clear()
    reference_data.clear_caches()
    accounts._forget_teams()
    database = Database(database_url)
    bootstrap(database, settings, deploy_models=False)
    try:
        yield database
    finally:
        database.dispose()
        runner.workflow_cache.clear()
        specs.spec_cache.clear()


class Api:
    """A TestClient that logs in and raises on unexpected status codes."""

    def __init__(self, client: TestClient, username: str, password: str) -> None:
        self.client = client
        self.username = username
        self.password = password
        self.login()

    def login(self) -> None:
        answer = self.client.post("/api/auth/token", json={"username": self.username,
                                                           "password": self.password})
        assert answer.status_code == 200, answer.text
        self.headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def call(self, method: str, path: str, expect: int | None = None, **kwargs: Any) -> Any:
        answer = self.client.request(method, path, headers=self.headers, **kwargs)
        if answer.status_code == 401 and expect != 401:
            self.login()  # tests that move the clock by days outlive a token
            answer = self.client.request(method, path, headers=self.headers, **kwargs)
        if expect is not None:
            assert answer.status_code == expect, f"{method} {path}: {answer.status_code} " \
                                                 f"{answer.text}"
        return answer

    def get(self, path: str, expect: int | None = 200, **kw: Any) -> Any:
        return self.call("GET", path, expect, **kw)

    def post(self, path: str, expect: int | None = 200, **kw: Any) -> Any:
        return self.call("POST", path, expect, **kw)

    def deploy(self, *paths: Path, expect: int = 201) -> Any:
        files = [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in paths]
        return self.post("/api/process-models", expect, files=files)

    def start(self, process_id: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        return self.post("/api/process-instances", 201,
                         json={"process_id": process_id, "data": data or {}, **kw}).json()

    def tasks(self, instance_id: int) -> list[dict[str, Any]]:
        return self.get("/api/tasks", params={"instance_id": instance_id}).json()

    def complete(self, task_id: str, data: dict[str, Any], expect: int | None = 200) -> Any:
        return self.post(f"/api/tasks/{task_id}/complete", expect, json={"data": data})

    def user(self, username: str, roles: list[str], teams: list[str]) -> Api:
        password = f"{username}-password"
        self.post("/api/users", 201, json={"username": username, "password": password,
                                           "roles": roles, "teams": teams})
        return Api(self.client, username, password)


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One app for the run (building FastAPI's routes is slow); each test gives it its db."""
    from api.main import create_app

    return create_app(Database(f"sqlite:///{tmp_path_factory.mktemp('app') / 'unused.db'}"))


@pytest.fixture(scope="session")
def catalogue_template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
                       ) -> Path | None:
    """On SQLite: a migrated file with the reference data and every model of processes/ and
    forms/ deployed, made once per run (deploying the catalogue takes seconds)."""
    if TEST_DB != "sqlite":
        return None
    path = tmp_path_factory.mktemp("catalogue") / "virta.db"
    shutil.copy(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    try:
        bootstrap(database, _catalogue_settings(Settings(admin_user=ADMIN[0],
                                                         admin_password=ADMIN[1])))
    finally:
        database.dispose()
        specs.spec_cache.clear()
    return path


def _catalogue_settings(settings: Settings) -> Settings:
    from engine.settings import PROJECT_ROOT

    return settings.model_copy(update={"processes_dir": PROJECT_ROOT / "processes",
                                       "forms_dir": PROJECT_ROOT / "forms"})


@pytest.fixture
def catalogue(db: Database, settings: Settings, database_url: str,
              catalogue_template: Path | None) -> Database:
    """The database with the real reference data and every model of processes/ and forms/."""
    if catalogue_template is None:
        bootstrap(db, _catalogue_settings(settings))
        return db
    db.dispose()
    target = database_url.removeprefix("sqlite:///")
    for journal in ("-wal", "-shm"):
        Path(target + journal).unlink(missing_ok=True)
    shutil.copy(catalogue_template, target)
    reference_data.clear_caches()
    accounts._forget_teams()
    return db


@pytest.fixture
def app_client(app: Any, db: Database) -> Iterator[TestClient]:
    app.state.db = db
    with TestClient(app) as client:
        yield client


@pytest.fixture
def api(app_client: TestClient) -> Api:
    """An API client logged in as the bootstrap admin."""
    return Api(app_client, *ADMIN)


def at_once(fns: list[Callable[[], Any]], *, timeout: float = 60) -> list[Any]:
    """Run the functions in threads that start together (a barrier); return their results in
    order, or raise the first exception one of them raised."""
    barrier = threading.Barrier(len(fns))
    results: list[Any] = [None] * len(fns)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = fns[i]()
        except BaseException as exc:  # raised again in the calling thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    if errors:
        raise errors[0]
    return results


class Drain:
    """Does what the scheduler and the workers would, in this thread, until nothing moves.

    The same engine functions as the Dramatiq actors run (`engine.work`); tests of the real
    broker, processes and Redis are in tests/workers/.
    """

    def __init__(self, db: Database, mailer: Any = None) -> None:
        self.db = db
        self.mailer = mailer

    def _fire(self, timer_id: int) -> None:
        self.db.unit_of_work(lambda s: work.fire_timer(s, timer_id=timer_id))

    def _fire_batch(self, timer_ids: list[int]) -> None:
        work.fire_timer_batch(self.db, timer_ids)

    def _handle(self, outbox_id: int) -> None:
        work.handle_outbox(self.db, outbox_id, mailer=self.mailer)

    def __call__(self, max_rounds: int = 100) -> int:
        moved = 0
        for _ in range(max_rounds):
            step = work.scheduler_round(self.db, send_timer=self._fire,
                                        send_timers=self._fire_batch, send_outbox=self._handle)
            if not step:
                return moved
            moved += step
        raise AssertionError(f"work still moving after {max_rounds} rounds")


@pytest.fixture
def drain(db: Database) -> Drain:
    """Run due timers, service calls and mail now (see `Drain`)."""
    return Drain(db)


@pytest.fixture
def test_clock() -> Iterator[Any]:
    """The platform clock with its test hook on; reset afterwards."""
    clock.enable_test_hook(True)
    clock.reset()
    try:
        yield clock
    finally:
        clock.reset()
        clock.enable_test_hook(False)
