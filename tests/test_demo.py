"""`virta serve --demo`: a demo user per team, role users and sample cases; every process that
is started by hand is offered to the demo user of its start lane's team."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine import starting
from engine.accounts import principal_for
from engine.authorization import Principal
from engine.db import Database
from engine.demo import DEMO_PASSWORD, demo_username, load_demo
from engine.models import ProcessInstance, Team, User


def _principal(session: Any, username: str) -> Principal:
    return principal_for(session, session.scalar(select(User).where(User.username == username)))


def test_the_demo_adds_users_and_sample_cases_once(catalogue: Database) -> None:
    text = load_demo(catalogue)

    with catalogue.reading() as session:
        teams = list(session.scalars(select(Team.id)))
        users = set(session.scalars(select(User.username)))
        cases = sorted(session.scalars(select(ProcessInstance.process_id)))
    assert all(demo_username(t) in users for t in teams)
    assert {"demo_admin", "demo_owner", "demo_auditor"} <= users
    assert cases == ["change_security", "jobseeker_service", "startup_grant", "vacancy_notice"]
    assert "sample refused" not in text and DEMO_PASSWORD in text

    again = load_demo(catalogue)

    assert "(0 users created now; 0 sample cases started)" in again
    with catalogue.reading() as session:
        assert len(list(session.scalars(select(ProcessInstance.id)))) == 4


def test_every_manual_start_is_offered_to_its_lane_teams_demo_user(catalogue: Database) -> None:
    load_demo(catalogue)
    with catalogue.reading() as session:
        offered = starting.startable(session, _principal(session, "demo_owner"))
        assert {o.process_id for o in offered} >= {"vacancy_notice", "employer_contact"}
        for option in offered:
            if option.team is not None:
                member = _principal(session, demo_username(option.team))
                assert option.process_id in {
                    o.process_id for o in starting.startable(session, member)}
        assert starting.startable(session, _principal(session, "demo_auditor")) == []
        tym = {o.process_id for o in starting.startable(session, _principal(session, "demo_tym"))}
        assert "vacancy_notice" not in tym
