from datetime import timedelta
from typing import Any
from tests.workers.test_timers import *  # noqa
from tests.workers.test_timers import api  # noqa


def test_probe(api, db, drain, test_clock) -> None:
    api.deploy(TIMERS / "hourly_reminder.bpmn")
    case = api.start("hourly_reminder")
    for h in range(5):
        test_clock.advance(timedelta(hours=1, minutes=1))
        print("drain", drain())
        for r in timer_rows(db, instance_id=case["id"]):
            print(h, r.id, r.element_id, r.status, r.due_at, r.task_id)
    for e in history(api, case["id"]):
        print(e["type"], e["element_id"], e["at"])
    print(api.get(f"/api/process-instances/{case['id']}").json()["status"])
