"""The runner's case row, read and written with Core (engine.case_rows): one object per case
and transaction, a revision check on every write, late changes written at the commit, and a
rolled-back savepoint taking its changes with it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from engine import audit, case_rows, deploy, runner
from engine.authorization import SYSTEM
from engine.db import Database
from engine.errors import Conflict
from engine.models import Event, ProcessInstance
from tests.conftest import DATA


def _start(db: Database) -> int:
    path = DATA / "parallel_pair.bpmn"
    db.unit_of_work(lambda s: deploy.deploy(s, [(path.name, path.read_bytes())], actor="test"))
    return db.unit_of_work(lambda s: runner.start_case(
        s, process_id="parallel_pair", principal=SYSTEM).id)


def _stored(db: Database, case_id: int) -> SimpleNamespace:
    with db.reading() as s:
        row = s.get(ProcessInstance, case_id)
        assert row is not None
        return SimpleNamespace(**{c: getattr(row, c) for c in ProcessInstance.__table__.c.keys()})


def test_a_case_opened_twice_in_one_transaction_is_one_object(db: Database) -> None:
    case_id = _start(db)

    def twice(session):
        first = case_rows.load(session, case_id)
        second = case_rows.load(session, case_id)
        return first is second, isinstance(first, case_rows.CaseRow)

    assert db.unit_of_work(twice) == (True, True)


def test_a_missing_case_loads_as_none(db: Database) -> None:
    assert db.unit_of_work(lambda s: case_rows.load(s, 987654)) is None


def test_a_write_updates_only_what_changed_and_bumps_the_revision(db: Database) -> None:
    case_id = _start(db)
    before = _stored(db, case_id)

    def change(session):
        row = case_rows.load(session, case_id)
        row.status = "waiting"
        row.status = "waiting"  # unchanged the second time: still one change
        assert row._changed == {"status"}
        case_rows.write(session, row)
        assert row._changed == set()

    db.unit_of_work(change)
    after = _stored(db, case_id)
    assert after.status == "waiting"
    assert after.revision == before.revision + 1
    assert after.state == before.state and after.data == before.data


def test_a_change_made_after_the_write_is_written_at_the_commit(db: Database) -> None:
    case_id = _start(db)

    def late_event(session):
        row = case_rows.load(session, case_id)
        audit.record(session, type=audit.CASE_ERROR, actor="test", instance=row)
        return row.last_event_hash

    head = db.unit_of_work(late_event)
    assert _stored(db, case_id).last_event_hash == head
    with db.reading() as s:
        assert audit.verify_chain(s) is None


def test_a_stale_revision_is_refused(db: Database) -> None:
    case_id = _start(db)
    with db.Session() as session:
        row = case_rows.load(session, case_id)
        # Another transaction saved the case after this one read it.
        session.connection().execute(ProcessInstance.__table__.update().where(
            ProcessInstance.__table__.c.id == case_id).values(revision=row.revision + 5))
        row.status = "waiting"
        with pytest.raises(StaleDataError):
            case_rows.write(session, row)
        session.rollback()


def test_a_unit_of_work_that_keeps_losing_gives_up_with_a_conflict(db: Database) -> None:
    case_id = _start(db)
    calls = []

    def always_stale(session):
        calls.append(1)
        row = case_rows.load(session, case_id)
        row.__dict__["revision"] = -1  # as if read before some other save
        row.status = "waiting"
        case_rows.write(session, row)

    with pytest.raises(Conflict):
        db.unit_of_work(always_stale, retries=2)
    assert len(calls) == 3
    assert _stored(db, case_id).status != "waiting"


def test_a_rolled_back_savepoint_restores_the_row_and_its_events(db: Database) -> None:
    case_id = _start(db)
    head_before = _stored(db, case_id).last_event_hash

    def failing_savepoint(session):
        row = case_rows.load(session, case_id)
        try:
            with session.begin_nested():
                audit.record(session, type=audit.CASE_ERROR, actor="test", instance=row)
                row.status = "error"
                raise RuntimeError("the operation failed")
        except RuntimeError:
            pass
        return row.last_event_hash, row.status

    head, status = db.unit_of_work(failing_savepoint)
    assert head == head_before and status != "error"
    stored = _stored(db, case_id)
    assert stored.last_event_hash == head_before and stored.status == status
    with db.reading() as s:
        assert not s.scalars(select(Event).where(Event.type == audit.CASE_ERROR)).all()
        assert audit.verify_chain(s) is None


def test_a_case_loaded_through_the_orm_first_stays_an_orm_object(db: Database) -> None:
    case_id = _start(db)

    def orm_first(session):
        orm = session.get(ProcessInstance, case_id)
        case = runner.open_case(session, case_id, "test")
        case.row.status = "waiting"
        case_rows.write(session, case.row)
        return case.row is orm

    assert db.unit_of_work(orm_first) is True
    assert _stored(db, case_id).status == "waiting"


def test_several_cases_load_in_one_statement_and_open_from_it(db: Database) -> None:
    first = _start(db)
    second = db.unit_of_work(lambda s: runner.start_case(
        s, process_id="parallel_pair", principal=SYSTEM).id)
    statements: list[str] = []

    def batch(session):
        from sqlalchemy import event

        conn = session.connection()
        event.listen(conn, "before_cursor_execute",
                     lambda *args: statements.append(args[2]))
        case_rows.load_many(session, [second, first, 987654])
        loaded = [case_rows.load(session, i) for i in (first, second)]
        return [row.id for row in loaded], case_rows.load(session, 987654)

    ids, missing = db.unit_of_work(batch)
    assert ids == [first, second] and missing is None
    # One statement for both cases; the missing one is asked for again by `load` alone
    assert sum("FROM process_instances" in s for s in statements) == 2


def _statements(session) -> list[str]:
    from sqlalchemy import event

    seen: list[str] = []
    event.listen(session.connection(), "before_cursor_execute",
                 lambda *args: seen.append(args[2]))
    return seen


def test_deferred_writes_go_at_the_commit_one_statement_per_set_of_changed_columns(
        db: Database) -> None:
    # Given three cases changed in one transaction after defer_writes, two of them alike
    ids = [_start(db) for _ in range(3)]
    before = {i: _stored(db, i) for i in ids}

    def batch(session):
        seen = _statements(session)
        case_rows.load_many(session, ids)
        case_rows.defer_writes(session)
        rows = [case_rows.load(session, i) for i in ids]
        for row in rows:
            row.status = "waiting"
            case_rows.write(session, row)  # left for the commit
        rows[2].data = {"more": 1}
        case_rows.write(session, rows[2])
        assert not any(s.startswith("UPDATE process_instances") for s in seen)
        assert all(row._changed for row in rows)
        return seen, rows

    seen, rows = db.unit_of_work(batch)

    # Then the commit wrote each once, in one UPDATE per set of changed columns
    assert sum(s.startswith("UPDATE process_instances") for s in seen) == 2
    for i, row in zip(ids, rows, strict=True):
        stored = _stored(db, i)
        assert stored.status == "waiting"
        assert stored.revision == before[i].revision + 1 == row.revision
        assert not row._changed
    assert _stored(db, ids[2]).data == {"more": 1}


def test_a_deferred_write_over_a_stale_revision_fails_the_whole_transaction(
        db: Database) -> None:
    # Given two cases changed after defer_writes, one of them saved by another transaction
    # after it was read
    ids = [_start(db) for _ in range(2)]
    before = {i: _stored(db, i) for i in ids}
    calls = []

    def batch(session):
        calls.append(1)
        case_rows.load_many(session, ids)
        case_rows.defer_writes(session)
        for i in ids:
            row = case_rows.load(session, i)
            row.status = "waiting"
            case_rows.write(session, row)
        case_rows.load(session, ids[1]).__dict__["revision"] = -1  # as if read before a save

    # When it commits, the revision check refuses it; the unit of work retries, then gives up
    with pytest.raises(Conflict):
        db.unit_of_work(batch, retries=1)
    assert len(calls) == 2
    # And neither case changed
    for i in ids:
        assert _stored(db, i).status == before[i].status
        assert _stored(db, i).revision == before[i].revision


def test_deferring_ends_with_the_transaction(db: Database) -> None:
    case_id = _start(db)

    def deferred(session):
        case_rows.defer_writes(session)

    db.unit_of_work(deferred)

    def immediate(session):
        seen = _statements(session)
        row = case_rows.load(session, case_id)
        row.status = "waiting"
        case_rows.write(session, row)
        return sum(s.startswith("UPDATE process_instances") for s in seen)

    assert db.unit_of_work(immediate) == 1


def test_rows_written_together_store_every_kind_of_value_as_one_write_does(
        db: Database) -> None:
    # Given cases changed alike in one transaction (one statement for all of them): times,
    # JSON, and NULLs in every row of a column; and one case changed the same way alone
    from datetime import UTC, datetime

    ids = [_start(db) for _ in range(3)]
    ended = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)

    def change(row):
        row.ended_at = ended
        row.data = {"list": [1, "kaksi", None], "nested": {"ä": True}}
        row.search_keys = {"businessId": ["1234567-8"]}
        row.last_event_hash = None
        row.business_key = None

    def together(session):
        case_rows.load_many(session, ids[:2])
        case_rows.defer_writes(session)
        for i in ids[:2]:
            row = case_rows.load(session, i)
            change(row)
            case_rows.write(session, row)

    def alone(session):
        row = case_rows.load(session, ids[2])
        change(row)
        case_rows.write(session, row)

    db.unit_of_work(together)
    db.unit_of_work(alone)

    # Then each stored row reads back the same, whichever way it was written
    stored = [_stored(db, i) for i in ids]
    for row in stored:
        assert row.ended_at == ended
        assert row.data == {"list": [1, "kaksi", None], "nested": {"ä": True}}
        assert row.search_keys == {"businessId": ["1234567-8"]}
        assert row.last_event_hash is None and row.business_key is None
    assert stored[0].revision == stored[1].revision == stored[2].revision
