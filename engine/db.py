"""Database engine, sessions and the unit of work.

Engine functions receive a `Session` and may flush, never commit. The caller (a request or a
worker message) runs them inside `unit_of_work`, which commits once, and retries the whole unit
when a concurrent change won the race (`Conflict`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from engine.errors import Conflict
from engine.settings import get_settings

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How often a unit of work is retried after losing a race.
MAX_CONFLICT_RETRIES = 8
#: How long a SQLite writer waits for the database's write lock before giving up.
SQLITE_BUSY_SECONDS = 30


def is_sqlite(url: str) -> bool:
    """Tell whether a database URL points at SQLite."""
    return url.startswith("sqlite")


def _configure_sqlite(engine: Engine, *, immediate: bool) -> None:
    # pysqlite's own transaction handling is switched off so that we can say BEGIN IMMEDIATE:
    # a writer then takes the write lock at the start and never fails half-way with
    # "database is locked" when it upgrades a read lock.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
        cur.close()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Straight to the driver: every transaction starts here, and nothing in SQLAlchemy's
        # statement machinery (events, result handling) is needed for a BEGIN.
        conn.connection.driver_connection.execute(begin)


def make_engine(url: str, *, writer: bool = True) -> Engine:
    """Create a SQLAlchemy engine for `url`, tuned for SQLite (WAL) or PostgreSQL."""
    if is_sqlite(url):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS},
            pool_size=10, max_overflow=20,
        )
        _configure_sqlite(engine, immediate=writer)
        return engine
    engine = create_engine(url, pool_size=10, max_overflow=20)
    _ping_when_idle(engine)
    return engine


#: A pooled connection idle longer than this is checked before it is handed out.
IDLE_PING_SECONDS = 5.0


def _ping_when_idle(engine: Engine) -> None:
    # SQLAlchemy's pool_pre_ping would cost a round trip on every checkout, i.e. every
    # request and every worker message; a connection in steady use has just proved alive.
    # One that sat idle (the server may have restarted or dropped it meanwhile) is pinged,
    # and a dead one is replaced: raising DisconnectionError makes the pool connect anew.
    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            dbapi_conn.execute("SELECT 1")
        except Exception as exc:  # whatever failed, the connection is not usable
            raise DisconnectionError(str(exc)) from exc


class Database:
    """The engines and session factories for one database URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url, writer=True)
        # On SQLite, readers use plain deferred transactions so that they never wait for the
        # write lock; PostgreSQL needs no such split.
        self.read_engine = make_engine(url, writer=False) if is_sqlite(url) else self.engine
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        self.ReadSession = sessionmaker(self.read_engine, expire_on_commit=False)
        # SQLite has one writer at a time, and a writer that finds the lock taken waits in
        # SQLite's busy handler, which sleeps in growing steps (up to 100 ms) and may miss its
        # turn again and again: with 8 concurrent clients some requests waited 0.3-0.4 s for
        # a lock held 2-3 ms at a time. The writers of this process (requests, the embedded
        # worker and scheduler) take turns on a lock of their own instead, which hands the
        # turn on at once. Other processes (`virta deploy`, `virta user add`) still meet the
        # busy handler.
        self._write_lock = threading.RLock() if is_sqlite(url) else None

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only session; whatever it changed is rolled back."""
        with self.ReadSession() as session:
            try:
                yield session
            finally:
                session.rollback()

    def unit_of_work(self, fn: Callable[[Session], T], *, retries: int = MAX_CONFLICT_RETRIES) -> T:
        """Run `fn(session)` in one transaction and commit it.

        A `Conflict` (or a serialization failure or deadlock from the database) rolls back and
        runs `fn` again from the start, so `fn` must not have side effects outside the session;
        work for after the commit goes through `after_commit`.
        """
        attempt = 0
        while True:
            attempt += 1
            session = self.Session()
            try:
                with self._write_turn(), session.begin():
                    result = fn(session)
                _run_after_commit(session)
                return result
            except (Conflict, StaleDataError, IntegrityError, DBAPIError) as exc:
                if not _is_retryable(exc):
                    raise
                if attempt > retries:
                    raise Conflict(f"gave up after {attempt} attempts: {exc}") from None
                log.debug("unit of work lost a race (attempt %d): %s", attempt, exc)
                time.sleep(min(0.002 * 2**attempt, 0.2))
            finally:
                session.info.pop("after_commit", None)
                session.close()


    @contextmanager
    def _write_turn(self) -> Iterator[None]:
        """This process's turn to write (SQLite; on PostgreSQL writers do not wait for each
        other as a whole). Waits as long as SQLite's busy timeout would."""
        if self._write_lock is None:
            yield
            return
        if not self._write_lock.acquire(timeout=SQLITE_BUSY_SECONDS):
            raise TimeoutError(f"another writer held the database for {SQLITE_BUSY_SECONDS} s")
        try:
            yield
        finally:
            self._write_lock.release()


def _is_retryable(exc: Exception) -> bool:
    if isinstance(exc, Conflict | StaleDataError):
        return True
    if isinstance(exc, IntegrityError):
        # A double submit or a concurrent insert of the same row: running again finds the row.
        return True
    orig = getattr(exc, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate in {"40001", "40P01"}:  # serialization failure, deadlock
        return True
    return "database is locked" in str(orig)


def after_commit(session: Session, fn: Callable[[], None]) -> None:
    """Run `fn` after the session's transaction commits; never after a rollback."""
    session.info.setdefault("after_commit", []).append(fn)


def _run_after_commit(session: Session) -> None:
    for fn in session.info.pop("after_commit", []):
        try:
            fn()
        except Exception:  # an after-commit hook must never undo or hide a committed change
            log.exception("after-commit hook failed")


@lru_cache(maxsize=4)
def _database_for(url: str) -> Database:
    return Database(url)


def get_database(url: str | None = None) -> Database:
    """Return the process-wide `Database` for `url` (default: the configured one)."""
    return _database_for(url or get_settings().database_url)
