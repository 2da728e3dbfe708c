"""The throwaway test servers of tests/services.py, started for real."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import psycopg
import pytest
import redis
import sqlalchemy as sa

from tests.services import (
    PostgresServer,
    RedisServer,
    ServiceUnavailable,
    find_postgres_binaries,
    find_redis_server,
    free_port,
    require,
)


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _start_postgres() -> PostgresServer:
    try:
        return PostgresServer().start()
    except ServiceUnavailable as exc:
        require("postgresql", str(exc))
        raise  # unreachable: require() raises or skips


def _start_redis() -> RedisServer:
    try:
        return RedisServer().start()
    except ServiceUnavailable as exc:
        require("redis-server", str(exc))
        raise  # unreachable: require() raises or skips


@pytest.fixture(scope="module")
def services_pg() -> Iterator[PostgresServer]:
    server = _start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def services_redis() -> Iterator[RedisServer]:
    server = _start_redis()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))


def test_require_raises_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(RuntimeError, match="redis-server missing in CI: not installed"):
        require("redis-server", "not installed")


def test_require_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium"):
        require("chromium", "not installed")


def test_missing_binaries_raise_service_unavailable(tmp_path: os.PathLike[str]) -> None:
    empty = str(tmp_path)
    with pytest.raises(ServiceUnavailable) as pg_exc:
        find_postgres_binaries(path=empty, lib_glob=os.path.join(empty, "*", "bin"))
    assert pg_exc.value.component == "postgresql"
    with pytest.raises(ServiceUnavailable) as redis_exc:
        find_redis_server(path=empty, fallbacks=())
    assert redis_exc.value.component == "redis-server"


# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------
@pytest.mark.postgres
def test_postgres_url_and_settings(services_pg: PostgresServer) -> None:
    assert services_pg.url == f"postgresql+psycopg://virta@127.0.0.1:{services_pg.port}/virta"
    with psycopg.connect(services_pg.dsn) as conn:
        row = conn.execute(
            "SELECT 1, current_user, current_database(), host(inet_server_addr()),"
            " inet_server_port(), current_setting('fsync'),"
            " current_setting('synchronous_commit'), current_setting('full_page_writes'),"
            " current_setting('max_connections'), pg_encoding_to_char(encoding)"
            " FROM pg_database WHERE datname = current_database()"
        ).fetchone()
    assert row == (
        1, "virta", "virta", "127.0.0.1", services_pg.port,
        "off", "off", "off", "200", "UTF8",
    )


@pytest.mark.postgres
def test_postgres_sqlalchemy_roundtrip(services_pg: PostgresServer) -> None:
    engine = sa.create_engine(services_pg.url)
    try:
        with engine.begin() as conn:
            assert conn.execute(sa.text("select 1")).scalar_one() == 1
            conn.execute(sa.text("CREATE TABLE items (id serial PRIMARY KEY, name text)"))
            conn.execute(
                sa.text("INSERT INTO items (name) VALUES (:a), (:b)"),
                {"a": "hakemus", "b": "päätös"},
            )
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, name FROM items ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [(1, "hakemus"), (2, "päätös")]
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_create_database(services_pg: PostgresServer) -> None:
    url = services_pg.create_database("virta_extra")
    assert url == f"postgresql+psycopg://virta@127.0.0.1:{services_pg.port}/virta_extra"
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            assert conn.execute(sa.text("select current_database()")).scalar_one() == (
                "virta_extra"
            )
            conn.execute(sa.text("CREATE TABLE only_here (x int)"))
            conn.execute(sa.text("INSERT INTO only_here VALUES (42)"))
            assert conn.execute(sa.text("SELECT x FROM only_here")).scalar_one() == 42
    finally:
        engine.dispose()
    # The table lives in the new database only.
    with psycopg.connect(services_pg.dsn) as conn:
        assert conn.execute("SELECT to_regclass('only_here')").fetchone() == (None,)
    services_pg.drop_database("virta_extra")
    with services_pg.connect() as conn:
        names = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
    assert "virta_extra" not in names
    assert "virta" in names


@pytest.mark.postgres
def test_postgres_stop_frees_port_and_removes_files() -> None:
    with _start_postgres() as server:
        port = server.port
        base_dir = server.base_dir
        assert port is not None and base_dir is not None
        assert base_dir.is_dir()
        assert _accepts(port)
    assert not base_dir.exists()
    assert not _accepts(port)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(f"postgresql://virta@127.0.0.1:{port}/virta", connect_timeout=2)
    server.stop()  # idempotent


# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------
def test_redis_set_get(services_redis: RedisServer) -> None:
    assert services_redis.url == f"redis://127.0.0.1:{services_redis.port}/0"
    client = redis.Redis.from_url(services_redis.url)
    try:
        assert client.ping() is True
        assert client.set("virta:greeting", "hei") is True
        assert client.get("virta:greeting") == b"hei"
        assert client.incr("virta:counter") == 1
        assert client.incr("virta:counter") == 2
    finally:
        client.close()


def test_redis_restart_keeps_port_and_serves_again(services_redis: RedisServer) -> None:
    port = services_redis.port
    assert services_redis.process is not None
    old_pid = services_redis.process.pid
    client = redis.Redis.from_url(services_redis.url, socket_timeout=5)
    try:
        client.set("before-crash", "1")

        services_redis.restart()

        assert services_redis.port == port
        assert services_redis.url == f"redis://127.0.0.1:{port}/0"
        assert services_redis.process is not None
        assert services_redis.process.pid != old_pid
        with pytest.raises(ProcessLookupError):
            os.kill(old_pid, 0)
        # Nothing is persisted: the crash lost the key; the same client
        # reconnects to the new process and works.
        assert client.get("before-crash") is None
        assert client.set("after-crash", "2") is True
        assert client.get("after-crash") == b"2"
    finally:
        client.close()


def test_redis_stop_frees_port_and_removes_files() -> None:
    with _start_redis() as server:
        port = server.port
        base_dir = server.base_dir
        assert port is not None and base_dir is not None
        assert (base_dir / "redis.pid").is_file()
        assert _accepts(port)
    assert not base_dir.exists()
    assert not _accepts(port)
    assert not server.running
