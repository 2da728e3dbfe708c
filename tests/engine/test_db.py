"""Connections and writers. On PostgreSQL a pooled connection that sat idle is checked before
use and replaced when the server dropped it, and one in steady use is handed out without a
ping. On SQLite the writers of a process take turns on a lock of their own, not in SQLite's
busy handler, while readers go on."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from engine import db as db_module
from engine.db import Database
from tests.conftest import TEST_DB
from tests.services import PostgresServer

postgresql_only = pytest.mark.skipif(TEST_DB != "postgresql",
                                     reason="PostgreSQL connection pool")
sqlite_only = pytest.mark.skipif(TEST_DB != "sqlite", reason="SQLite's single writer")


def _backend_pid(db: Database) -> int:
    with db.reading() as session:
        return int(session.scalar(text("SELECT pg_backend_pid()")))


def _statements(db: Database) -> list[str]:
    seen: list[str] = []
    event.listen(db.engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *args: seen.append(statement))
    return seen


@postgresql_only
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


@postgresql_only
def test_a_connection_in_steady_use_is_not_pinged(db: Database) -> None:
    _backend_pid(db)
    seen = _statements(db)
    # SQLAlchemy's pool_pre_ping would add a round trip to every checkout
    for _ in range(3):
        assert _backend_pid(db) > 0
    assert seen == ["SELECT pg_backend_pid()"] * 3


@sqlite_only
def test_writers_of_one_process_take_turns_and_readers_go_on(db: Database) -> None:
    # Given a unit of work that holds SQLite's write lock
    holding, release = threading.Event(), threading.Event()
    entered: list[str] = []

    def first(session: Session) -> None:
        session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock is taken
        holding.set()
        assert release.wait(10)

    def second(session: Session) -> int:
        entered.append("second")
        return int(session.scalar(text("SELECT 2")))

    results: list[int] = []
    one = threading.Thread(target=db.unit_of_work, args=(first,))
    one.start()
    assert holding.wait(10)
    two = threading.Thread(target=lambda: results.append(db.unit_of_work(second)))
    two.start()

    try:
        # When another writer comes, it waits for its turn before it starts (not inside
        # SQLite's busy handler, which polls with sleeps of up to 100 ms), and readers are not
        # held up
        two.join(0.3)
        assert entered == []
        with db.reading() as session:
            assert session.scalar(text("SELECT 3")) == 3
    finally:
        release.set()  # Then the first commit hands the turn on
    one.join(10)
    two.join(10)
    assert (entered, results) == (["second"], [2])
