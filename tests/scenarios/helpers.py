"""Helpers shared by the scenario tests: the platform clock in Helsinki time, a case's
history and messages, and the messages that no case took."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.conftest import Api

HKI = ZoneInfo("Europe/Helsinki")


def local(day: str, hh_mm_ss: str = "09:00:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{hh_mm_ss}").replace(tzinfo=HKI)


def at(clock: Any, day: str, hh_mm: str = "09:00") -> None:
    """Put the platform clock at `day` `hh_mm` Helsinki time."""
    clock.set_offset(local(day, hh_mm + ":00") - datetime.now(UTC))


def fire_at(clock: Any, drain: Any, day: str, hh_mm: str = "00:00") -> None:
    """Run what is due one minute before `day hh_mm`, then put the clock at it: the caller
    checks that nothing happened early and drains again."""
    h, m = map(int, hh_mm.split(":"))
    before = local(day, f"{h:02d}:{m:02d}:00") - timedelta(minutes=1)
    clock.set_offset(before - datetime.now(UTC))
    drain()
    clock.advance(timedelta(minutes=1))


def open_ids(api: Api, case_id: int) -> list[str]:
    """The element ids of a case's ready tasks, sorted."""
    return sorted(t["element_id"] for t in api.tasks(case_id))


def case(api: Api, case_id: int) -> dict[str, Any]:
    return api.get(f"/api/process-instances/{case_id}").json()


def history(api: Api, case_id: int) -> list[dict[str, Any]]:
    return api.get(f"/api/process-instances/{case_id}/history").json()["events"]


def sent(api: Api, case_id: int) -> dict[str, list[dict[str, Any]]]:
    """The messages the case threw, by name (history `message_sent` events)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for e in history(api, case_id):
        if e["type"] == "message_sent":
            out.setdefault(e["data"]["message"], []).append(e)
    return out


def to_p6(api: Api, name: str) -> list[dict[str, Any]]:
    """Payloads of `name` sent to P6 (jobseeker_service) that no case took, because the
    customer has no open P6 case in the test: each is kept as an unmatched-message incident."""
    return [i["details"]["payload"] for i in api.get("/api/incidents").json()
            if i["kind"] == "unmatched_message" and i["details"]["name"] == name]


def notes(user: Api, subject_start: str) -> list[dict[str, Any]]:
    return [n for n in user.get("/api/notifications").json()
            if n["subject"].startswith(subject_start)]


def ready(api: Api, case_id: int, element_id: str) -> dict[str, Any]:
    tasks = [t for t in api.tasks(case_id) if t["element_id"] == element_id]
    assert len(tasks) == 1, [t["element_id"] for t in api.tasks(case_id)]
    return tasks[0]


def fields(answer: Any) -> set[str]:
    """The fields a 422 answer names."""
    return {d["field"] for d in answer.json()["detail"]}
