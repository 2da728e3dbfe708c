"""The staff task list (`engine.worklist.task_page`): which ready tasks each list shows, in
which order, page by page, and the tab counts. The list is read in parts (one per team, the
further candidate teams, the user's own), so these tests check it against the plain definition
of the list. Runs on SQLite and on PostgreSQL (`VIRTA_TEST_DB=postgresql`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from engine import clock, deploy, runner, worklist
from engine.authorization import ADMIN, STAFF, SYSTEM, Principal
from engine.db import Database
from engine.models import HumanTask, TaskCandidate
from tests.conftest import DATA

NOW = clock.now()
ANNA = Principal(None, "anna", frozenset({STAFF}), frozenset({"alpha", "beta"}))
NOBODY = Principal(None, "nils", frozenset({STAFF}), frozenset())
BOSS = Principal(None, "boss", frozenset({ADMIN}), frozenset())
LOOP = "loop"


def _task(n: int, *, team: str | None, others: tuple[str, ...] = (), assignee: str | None = None,
          due: int | None = None, created: int | None = None, status: str = "ready",
          name: str = "Käsittele") -> dict[str, Any]:
    return {"id": f"00000000-0000-0000-0000-{n:012d}", "team": team, "others": others,
            "assignee": assignee, "status": status, "name": name,
            "due_at": None if due is None else NOW + timedelta(days=due),
            "created_at": NOW - timedelta(hours=created if created is not None else n)}


#: Tasks of every kind the list tells apart; several share a due date or a creation time,
#: and some have no due date, so the orders' later keys and the ids decide too.
TASKS = [
    _task(1, team="alpha", due=3),
    _task(2, team="alpha", due=None),
    _task(3, team="beta", due=-2, name="Arvioi"),  # overdue
    _task(4, team="gamma", due=1),  # another team: not Anna's
    _task(5, team="gamma", others=("beta",), due=None),  # only through a further team
    _task(6, team="gamma", assignee="anna", due=5),  # assigned to Anna, not her team
    _task(7, team="alpha", assignee="anna", due=3, created=1),  # hers and her team's
    _task(8, team="gamma", others=("alpha", "beta"), assignee="anna", due=3, created=1),
    _task(9, team=None, others=("alpha",), due=2),  # no primary team
    _task(10, team=None, assignee="anna", due=None),
    _task(11, team="alpha", due=3, created=1),  # the same due and creation time as 7
    _task(12, team="alpha", due=-1, status="completed"),  # finished: in no list
    _task(13, team="gamma", others=("alpha",), status="completed"),
    _task(14, team="beta", due=None, created=30, name="Arvioi"),
    _task(15, team="delta", assignee="bert", due=4),
    *[_task(20 + i, team=("alpha", "beta", "gamma")[i % 3], due=(i % 4) - 1 if i % 5 else None)
      for i in range(24)],
]


@pytest.fixture
def listed(db: Database) -> Database:
    """A case of the loop model, and the tasks above added to it."""
    db.unit_of_work(lambda s: deploy.deploy(
        s, [("loop.bpmn", (DATA / "loop.bpmn").read_bytes())], actor="tester"))
    case_id = db.unit_of_work(lambda s: runner.start_case(
        s, process_id=LOOP, principal=SYSTEM, data={"rounds": 0, "target": 1}).id)

    def add(session: Any) -> None:
        for spec in TASKS:
            row = {k: v for k, v in spec.items() if k != "others"}
            task = HumanTask(instance_id=case_id, element_id="prepare", **row)
            task.candidates = [TaskCandidate(team=t) for t in spec["others"]]
            session.add(task)
    db.unit_of_work(add)
    return db


def _expected(session: Any, principal: Principal, filters: worklist.Filters, sort: str
              ) -> list[str]:
    """The list by its definition: every ready task, filtered in Python, sorted in Python."""
    tasks = session.query(HumanTask).filter(HumanTask.status == "ready").all()

    def teams(t: HumanTask) -> set[str]:
        return set(t.candidate_teams)

    def shown(t: HumanTask) -> bool:
        if filters.scope == worklist.MINE:
            if t.assignee != principal.username:
                return False
        elif not principal.reads_everything and not (
                teams(t) & principal.teams or t.assignee == principal.username):
            return False
        if filters.team and filters.team not in teams(t):
            return False
        return not filters.overdue or (t.due_at is not None and t.due_at < clock.now())

    far = datetime.max.replace(tzinfo=NOW.tzinfo)
    keys = {
        "due": lambda t: (t.due_at is None, t.due_at or far, t.created_at, t.id),
        "created": lambda t: (t.created_at, t.id),
        "name": lambda t: (t.name, t.created_at, t.id),
        "process": lambda t: (t.created_at, t.id),
    }
    rows = [t for t in tasks if shown(t)]
    if sort == "-created":
        return [t.id for t in sorted(rows, key=lambda t: (t.created_at, t.id), reverse=True)]
    return [t.id for t in sorted(rows, key=keys[sort])]


def _all_pages(session: Any, principal: Principal, filters: worklist.Filters, sort: str
               ) -> tuple[list[str], worklist.Page]:
    ids: list[str] = []
    first = page = worklist.task_page(session, principal, filters, sort=sort, page=1, per_page=4)
    number = 1
    while page.rows:
        ids += [row.task.id for row in page.rows]
        number += 1
        page = worklist.task_page(session, principal, filters, sort=sort, page=number,
                                  per_page=4)
    return ids, first


@pytest.mark.parametrize("sort", sorted(worklist.SORTS))
def test_every_list_shows_its_tasks_once_in_order_page_by_page(listed: Database,
                                                               sort: str) -> None:
    lists = [worklist.Filters(), worklist.Filters(scope=worklist.MINE),
             worklist.Filters(team="beta"), worklist.Filters(team="gamma"),
             worklist.Filters(overdue=True), worklist.Filters(scope=worklist.MINE, team="alpha")]
    with listed.reading() as session:
        for principal in (ANNA, NOBODY, BOSS):
            mine = len(_expected(session, principal, worklist.Filters(scope=worklist.MINE), sort))
            team = len(_expected(session, principal, worklist.Filters(), sort))
            for filters in lists:
                # Given the list's definition
                expected = _expected(session, principal, filters, sort)
                # When every page of it is read
                ids, first = _all_pages(session, principal, filters, sort)
                # Then the pages hold exactly those tasks, in that order, each once
                assert ids == expected, (principal.username, filters, sort)
                assert (first.total, first.mine, first.team) == (len(expected), mine, team)


def test_the_team_list_has_tasks_of_further_teams_and_mine_from_other_teams(
        listed: Database) -> None:
    with listed.reading() as session:
        page = worklist.task_page(session, ANNA, worklist.Filters(), per_page=100)
        ids = {row.task.id for row in page.rows}
    number = {int(i[-12:]) for i in ids}
    # A task of another team that names one of Anna's as a further candidate team
    assert {5, 8, 9} <= number
    # A task assigned to her in a team she is not in, or in none
    assert {6, 10} <= number
    # Not another team's task, not a finished one
    assert not number & {4, 12, 13, 15}
    # Each task once, though task 8 is hers and has two of her teams as candidates
    assert len(page.rows) == len(ids) == page.total == page.team


def test_due_order_puts_tasks_without_a_due_date_last_and_breaks_ties_by_age_then_id(
        listed: Database) -> None:
    with listed.reading() as session:
        rows = worklist.task_page(session, ANNA, worklist.Filters(), per_page=100).rows
        dues = [row.task.due_at for row in rows]
        order = [int(row.task.id[-12:]) for row in rows]
    assert None in dues
    first_none = dues.index(None)
    assert all(d is not None for d in dues[:first_none])
    assert all(d is None for d in dues[first_none:])
    assert dues[:first_none] == sorted(dues[:first_none])
    # Tasks 7 and 11 share their due date and creation time: the id decides
    assert order.index(7) < order.index(11)


def test_a_team_filter_outside_my_teams_shows_only_what_i_may_see(listed: Database) -> None:
    with listed.reading() as session:
        page = worklist.task_page(session, ANNA, worklist.Filters(team="gamma"), per_page=100)
        seen = {int(r.task.id[-12:]) for r in page.rows}
        # An admin sees all of gamma's
        everything = worklist.task_page(session, BOSS, worklist.Filters(team="gamma"),
                                        per_page=100)
        all_of_gamma = {int(r.task.id[-12:]) for r in everything.rows}
    # gamma's tasks that Anna sees: through beta/alpha as further teams, or assigned to her
    assert seen >= {5, 6, 8}
    assert 4 not in seen
    assert 4 in all_of_gamma


def test_the_api_list_gives_the_tasks_of_its_filters_from_any_offset(listed: Database) -> None:
    """`task_rows` (GET /api/tasks): the caller's visible ready tasks oldest first, narrowed
    by team, lane, assignee and case, each with its candidate teams, from any offset."""
    with listed.reading() as session:
        case_id = session.query(HumanTask.instance_id).filter(
            HumanTask.status == "ready").limit(1).scalar()
        by_id = {t.id: t for t in session.query(HumanTask)}
        lists = [worklist.Filters(), worklist.Filters(team="gamma"),
                 worklist.Filters(assignee="anna"), worklist.Filters(instance_id=case_id),
                 worklist.Filters(instance_id=case_id + 1), worklist.Filters(lane="nowhere"),
                 worklist.Filters(team="alpha", assignee="anna")]
        for principal in (ANNA, NOBODY, BOSS):
            for filters in lists:
                expected = [i for i in _expected(session, principal,
                                                 worklist.Filters(team=filters.team), "created")
                            if filters.assignee in (None, by_id[i].assignee)
                            and filters.instance_id in (None, by_id[i].instance_id)
                            and filters.lane is None]
                for offset, limit in ((0, 500), (3, 4), (len(expected), 5)):
                    rows = worklist.task_rows(session, principal, filters, offset=offset,
                                              limit=limit)
                    assert [t.id for t in rows] == expected[offset:offset + limit], \
                        (principal.username, filters, offset)
                    assert [t.candidate_teams for t in rows] == \
                        [by_id[t.id].candidate_teams for t in rows]
        assert any(len(t.candidate_teams) > 1 for t in by_id.values() if t.status == "ready")
