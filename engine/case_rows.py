"""A case's row, read and written with Core statements on the runner's path.

Every start, completion, timer and message loads and saves one `process_instances` row. Through
the ORM that costs a query and a unit-of-work flush each time; here the row is read with one
Core SELECT (locked on PostgreSQL), changes are tracked per attribute, and a save is one
UPDATE of the changed columns that checks the revision it read, like the ORM's
`version_id_col` does: a lost race raises `StaleDataError`, and the unit of work runs again.

Rows are kept per session, so a case opened twice in one transaction is the same object. Changes
made after the runner's save (an audit event moves `last_event_hash`, a script sets the
business key) are written before the commit, before any ORM query, and before a savepoint, the
same points at which `engine.audit` writes its events; a rolled-back savepoint restores the
rows' attributes. A case already loaded through the ORM in the transaction (by a page, say) is
used as it is and saved by a flush.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, bindparam, event, select
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.orm.util import identity_key

from engine.models import ProcessInstance

_table = ProcessInstance.__table__
_COLUMNS = tuple(_table.c.keys())
_SELECT = select(_table).where(_table.c.id == bindparam("row_id"))
_SELECT_MANY = select(_table).where(_table.c.id.in_(bindparam("row_ids", expanding=True))) \
    .order_by(_table.c.id)
#: The same statements with FOR UPDATE (PostgreSQL), built once.
_LOCKED = {query: query.with_for_update() for query in (_SELECT, _SELECT_MANY)}
_INSERT = _table.insert().returning(_table.c.id)
#: session.info keys: the rows of this transaction by id, and savepoint snapshots.
_ROWS = "virta_case_rows"
_SNAPSHOTS = "virta_case_row_snapshots"
#: session.info key: `write` leaves CaseRow changes to the write of all rows (`defer_writes`).
_DEFERRED = "virta_case_rows_deferred"


class CaseRow:
    """The columns of one `process_instances` row, with the names of those changed since the
    last write. It stands in for a `ProcessInstance` wherever the runner's case row goes."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
        self.__dict__["_changed"] = set()

    def __setattr__(self, name: str, value: Any) -> None:
        # A JSON value may be the very object that was changed in place: always written.
        if name in _JSON or (name in _COLUMNS and self.__dict__.get(name, _MISSING) != value):
            self._changed.add(name)
        self.__dict__[name] = value

    def __repr__(self) -> str:
        return f"<CaseRow {self.id} {self.process_id} v{self.version} {self.status}>"


_MISSING = object()
_JSON = frozenset({"data", "search_keys"})
CaseRecord = CaseRow | ProcessInstance


def _rows(session: Session) -> dict[int, CaseRow]:
    return session.info.setdefault(_ROWS, {})


def load(session: Session, instance_id: int) -> CaseRecord | None:
    """The case's row for a change (locked on PostgreSQL), or None if there is no such case."""
    rows = _rows(session)
    if instance_id not in rows:
        if _in_orm(session, instance_id):
            # Loaded through the ORM in this transaction: stay with that object.
            return session.get(ProcessInstance, instance_id, with_for_update=True)
        _read(session, _SELECT, {"row_id": instance_id}, rows)
    return rows.get(instance_id)


def load_many(session: Session, instance_ids: list[int]) -> None:
    """Load (and on PostgreSQL lock) several cases' rows in one statement, in id order, so
    that `load` finds them: a worker firing a batch of timers opens many cases at once."""
    rows = _rows(session)
    wanted = sorted({i for i in instance_ids if i not in rows and not _in_orm(session, i)})
    if wanted:
        _read(session, _SELECT_MANY, {"row_ids": wanted}, rows)


def _in_orm(session: Session, instance_id: int) -> bool:
    return session.identity_map.get(identity_key(ProcessInstance, instance_id)) is not None


def _read(session: Session, query: Any, params: dict[str, Any], rows: dict[int, CaseRow]
          ) -> None:
    """Read rows not read yet in this transaction; on PostgreSQL locked (a SQLite writer holds
    the database's lock already)."""
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        query = _LOCKED[query]
    for found in conn.execute(query, params):
        rows.setdefault(found.id, CaseRow(found._asdict()))


def insert(session: Session, **values: Any) -> CaseRow:
    """Insert a new case row and return it (its id set, revision 1)."""
    full = {c: None for c in _COLUMNS if c != "id"}
    full.update(values, revision=1)
    full["data"] = full["data"] if full["data"] is not None else {}
    row_id = session.connection().execute(_INSERT, full).scalar_one()
    row = CaseRow({**full, "id": row_id})
    _rows(session)[row_id] = row
    return row


def write(session: Session, row: CaseRecord) -> None:
    """Write the row's changes now, checking its revision; raises `StaleDataError` when another
    transaction saved the case since it was read.

    After `defer_writes` a `CaseRow`'s changes wait instead for the session's next write of
    all rows (the commit, an ORM query, a savepoint), which checks every revision the same way.
    """
    if isinstance(row, CaseRow):
        if not session.info.get(_DEFERRED):
            _update(session.connection(), row)
    else:
        session.flush()


def defer_writes(session: Session) -> None:
    """Until this transaction ends, leave the rows' changes to the write of all changed rows,
    which sends the rows changed alike in one statement: a worker firing a batch of timers
    saves many cases in one transaction, and a round trip per case cost more than the UPDATE.
    """
    session.info[_DEFERRED] = True


@lru_cache(maxsize=256)
def _update_statement(columns: frozenset[str]) -> Any:
    """UPDATE of these columns and the revision, if the row still has the revision read."""
    return _table.update().where(
        _table.c.id == bindparam("row_id"), _table.c.revision == bindparam("read_revision")
    ).values({name: bindparam(name) for name in (*sorted(columns), "revision")})


def _params(row: CaseRow) -> dict[str, Any]:
    params = {name: row.__dict__[name] for name in row._changed}
    params.update(revision=row.revision + 1, row_id=row.id, read_revision=row.revision)
    return params


def _update(conn: Connection, row: CaseRow) -> None:
    if not row._changed:
        return
    params = _params(row)
    result = conn.execute(_update_statement(frozenset(row._changed)), params)
    if result.rowcount != 1:
        raise StaleDataError(f"case {row.id} was saved by another transaction meanwhile")
    row.__dict__["revision"] = params["revision"]
    row._changed.clear()


def _write_all(session: Session, transaction: SessionTransaction | None = None) -> None:
    """Write every changed row of the session (before a savepoint: in its parent).

    Rows with the same changed columns go in one executemany; its summed row count tells
    whether every row still had the revision read (an id matches at most one row).
    """
    rows = session.info.get(_ROWS)
    changed = [row for row in rows.values() if row._changed] if rows else []
    if not changed:
        return
    conn = transaction.connection(None) if transaction is not None else session.connection()
    if len(changed) == 1:
        _update(conn, changed[0])
        return
    alike: dict[frozenset[str], list[CaseRow]] = {}
    for row in changed:
        alike.setdefault(frozenset(row._changed), []).append(row)
    for columns, group in alike.items():
        params = [_params(row) for row in group]
        result = conn.execute(_update_statement(columns), params)
        if result.rowcount != len(group):
            raise StaleDataError(f"{len(group) - result.rowcount} of cases "
                                 f"{sorted(row.id for row in group)} were saved by another "
                                 "transaction meanwhile")
        for row, values in zip(group, params, strict=True):
            row.__dict__["revision"] = values["revision"]
            row._changed.clear()


@event.listens_for(Session, "before_commit")
def _write_before_commit(session: Session) -> None:
    _write_all(session)


@event.listens_for(Session, "do_orm_execute")
def _write_before_query(state: Any) -> None:
    if state.session.info.get(_ROWS):
        _write_all(state.session)


@event.listens_for(Session, "after_transaction_create")
def _snapshot_at_savepoint(session: Session, transaction: SessionTransaction) -> None:
    rows = session.info.get(_ROWS)
    if not (transaction.nested and transaction.parent is not None and rows):
        return
    _write_all(session, transaction.parent)
    session.info.setdefault(_SNAPSHOTS, {})[transaction] = {
        row_id: dict(row.__dict__, _changed=set()) for row_id, row in rows.items()}


@event.listens_for(Session, "after_soft_rollback")
def _restore_after_savepoint(session: Session, previous: SessionTransaction) -> None:
    snapshot = session.info.get(_SNAPSHOTS, {}).pop(previous, None)
    if snapshot is None:
        return
    rows = session.info.get(_ROWS, {})
    for row_id, values in snapshot.items():
        if row_id in rows:
            rows[row_id].__dict__.update(values)


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    # A savepoint's snapshot stays until the outermost transaction ends: SQLAlchemy reports a
    # savepoint's end before its rollback (`after_soft_rollback`), which still needs it.
    if transaction.parent is None:  # the outermost transaction ended: committed or rolled back
        session.info.pop(_ROWS, None)
        session.info.pop(_SNAPSHOTS, None)
        session.info.pop(_DEFERRED, None)
