"""Who may do what on the pages: each forbidden action answers 403, or 404 where even the
existence of the task or case must not leak, and changes nothing (the same rules as the API)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.pages.conftest import Pages

CASE = {"businessId": "2042869-6", "employerName": "Pikes Oy"}
DETAILS = {"jobTitle": "Hitsaaja", "positionsCount": "2", "startDate": "2099-01-15",
           "workTime": "shift", "fullTime": "true", "businessId": "2042869-6"}


@pytest.fixture
def world(intake: Api) -> dict[str, Any]:
    """A case of page_intake waiting at `ut_details` (employer_services), held by nobody."""
    intake.user("eija", ["staff"], ["employer_services"])
    intake.user("ulla", ["staff"], ["tym"])
    intake.user("aino", ["auditor"], [])
    case = intake.start("page_intake", CASE)
    [task] = intake.tasks(case["id"])
    return {"api": intake, "case": case["id"], "task": task["id"]}


def _unchanged(world: dict[str, Any]) -> None:
    [task] = world["api"].tasks(world["case"])
    assert (task["id"], task["assignee"], task["status"]) == (world["task"], None, "ready")


@pytest.mark.parametrize("path", ["/tasks", "/tasks/{task}", "/start", "/start/page_intake",
                                  "/cases", "/cases/{case}", "/cases/{case}/diagram.bpmn",
                                  "/notifications"])
def test_nobody_logged_in_is_sent_to_the_login_page(world: dict[str, Any], browser: Any,
                                                    path: str) -> None:
    answer = browser().get(path.format(**world), expect=303)

    assert answer.headers["location"].startswith("/login?next=/")


@pytest.mark.parametrize(("action", "expect"), [
    ("/tasks/{task}/claim", 403), ("/tasks/{task}/unclaim", 403),
    ("/tasks/{task}/reassign", 403), ("/tasks/{task}", 404)])
def test_staff_of_another_team_cannot_act_on_the_task(world: dict[str, Any], browser: Any,
                                                      action: str, expect: int) -> None:
    pages: Pages = browser().login("ulla")
    pages.get("/tasks")

    pages.post(action.format(**world), {**DETAILS, "assignee": "ulla"}, expect=expect)

    _unchanged(world)


@pytest.mark.parametrize("path", ["/tasks/{task}", "/cases/{case}", "/cases/{case}/diagram.bpmn",
                                  "/cases/{case}/documents/1"])
def test_staff_of_another_team_cannot_see_the_task_or_case(world: dict[str, Any], browser: Any,
                                                           path: str) -> None:
    browser().login("ulla").get(path.format(**world), expect=404)


@pytest.mark.parametrize(("action", "expect"), [
    ("/tasks/{task}/claim", 403), ("/tasks/{task}", 403), ("/start/page_intake", 404)])
def test_an_auditor_reads_but_changes_nothing(world: dict[str, Any], browser: Any,
                                              action: str, expect: int) -> None:
    pages: Pages = browser().login("aino")
    assert "Pikes Oy" in pages.get(f"/cases/{world['case']}").text  # reads every case
    pages.get(f"/tasks/{world['task']}")

    pages.post(action.format(**world), {**DETAILS, **CASE}, expect=expect)

    _unchanged(world)
    assert len(world["api"].get("/api/process-instances").json()) == 1


def test_a_team_member_cannot_take_or_release_a_task_someone_else_holds(
        world: dict[str, Any], browser: Any) -> None:
    world["api"].user("erkki", ["staff"], ["employer_services"])
    holder = browser().login("eija")
    holder.get("/tasks")
    holder.post(f"/tasks/{world['task']}/claim", {"back": "list"})
    other = browser().login("erkki")
    other.get("/tasks")

    other.post(f"/tasks/{world['task']}/unclaim", {}, expect=409)
    other.post(f"/tasks/{world['task']}", DETAILS, expect=409)

    [task] = world["api"].tasks(world["case"])
    assert (task["assignee"], task["status"]) == ("eija", "ready")
