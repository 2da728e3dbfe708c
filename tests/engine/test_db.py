"""Pooled connections on PostgreSQL: one that sat idle is checked before use and replaced
when the server dropped it; one in steady use is handed out without a ping."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text

from engine import db as db_module
from engine.db import Database
from tests.conftest import TEST_DB
from tests.services import PostgresServer

pytestmark = pytest.mark.skipif(TEST_DB != "postgresql", reason="PostgreSQL connection pool")


def _backend_pid(db: Database) -> int:
    with db.reading() as session:
        return int(session.scalar(text("SELECT pg_backend_pid()")))


def _statements(db: Database) -> list[str]:
    seen: list[str] = []
    event.listen(db.engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *args: seen.append(statement))
    return seen


def test_a_dropped_idle_connection_is_replaced_before_use(
        db: Database, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a pooled connection that the server has since dropped
    pid = _backend_pid(db)
    with postgres.connect("virta_template") as other:
        assert other.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
    # When it is next needed after sitting idle
    monkeypatch.setattr(db_module, "IDLE_PING_SECONDS", 0.0)
    # Then the pool hands out a live connection instead of failing the request
    assert _backend_pid(db) != pid


def test_a_connection_in_steady_use_is_not_pinged(db: Database) -> None:
    _backend_pid(db)
    seen = _statements(db)
    # SQLAlchemy's pool_pre_ping would add a round trip to every checkout
    for _ in range(3):
        assert _backend_pid(db) > 0
    assert seen == ["SELECT pg_backend_pid()"] * 3
