"""Separate OS processes (API, worker, scheduler) over a real redis-server, with a real SMTP
server counting the mail: the work survives a worker killed with SIGKILL mid-call, a Redis
restart and a scheduler restart, with every timer fired once and every mail sent once."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import DATA
from tests.processes import VirtaProcess, login, virta_env, wait_healthy
from tests.services import RedisServer, ServiceUnavailable, free_port, require
from tests.smtp import SmtpServer

CASES = 4
MEMBERS = 2  # of employer_services, each with an e-mail address
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    try:
        server = RedisServer().start()
    except ServiceUnavailable as exc:
        require("redis-server", str(exc))
        raise
    try:
        yield server
    finally:
        server.stop()


def _wait(predicate: Callable[[], bool], timeout: float, what: str,
          logs: list[VirtaProcess]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n" +
                         "\n".join(f"--- {p.log_path.name}\n{p.log()[-3000:]}" for p in logs))


def test_work_survives_a_killed_worker_and_restarted_redis_and_scheduler(
        tmp_path: Path, database_url: str, redis_server: RedisServer) -> None:
    with SmtpServer() as smtp:
        markers = tmp_path / "calls.txt"
        port = free_port()
        env = virta_env(
            VIRTA_DATABASE_URL=database_url, VIRTA_REDIS_URL=redis_server.url,
            VIRTA_SMTP_URL=smtp.url, VIRTA_ADMIN_USER="root", VIRTA_ADMIN_PASSWORD="root-pw-1",
            VIRTA_PROCESSES_DIR=tmp_path, VIRTA_FORMS_DIR=tmp_path,
            VIRTA_PLUGINS="tests.plugins.fault_ops", VIRTA_TEST_MARKERS=markers,
            VIRTA_LEASE_SECONDS=4, PYTHONPATH=REPO)
        api = VirtaProcess(["serve", "--port", str(port)], env=env, cwd=tmp_path, name="api")
        worker = VirtaProcess(["worker", "--processes", "1", "--threads", "4"], env=env,
                              cwd=tmp_path, name="worker")
        scheduler = VirtaProcess(["scheduler"], env=env, cwd=tmp_path, name="scheduler")
        # Two schedulers at once: neither may hand out a timer or a mail twice.
        scheduler2 = VirtaProcess(["scheduler"], env=env, cwd=tmp_path, name="scheduler2")
        processes = [api, worker, scheduler, scheduler2]
        url = f"http://127.0.0.1:{port}"
        try:
            api.start()
            wait_healthy(url, api)
            worker.start()
            scheduler.start()
            scheduler2.start()
            with login(url, "root", "root-pw-1") as http:
                model = (DATA / "services" / "fault.bpmn").read_bytes()
                assert http.post("/api/process-models",
                                 files=[("files", ("fault.bpmn", model))]).status_code == 201
                for i in range(MEMBERS):
                    assert http.post("/api/users", json={
                        "username": f"member{i}", "password": "member-password",
                        "roles": ["staff"], "teams": ["employer_services"],
                        "email": f"member{i}@example.test",
                        "language": "fi" if i == 0 else "en"}).status_code == 201
                cases = [http.post("/api/process-instances", json={
                    "process_id": "fault_case",
                    "data": {"customer": f"C-00010{i}", "seconds": 3}}).json()["id"]
                    for i in range(CASES)]

                # When the worker is in the middle of the slow calls, kill it
                _wait(lambda: markers.exists() and markers.read_text().count("start") >= 2,
                      30, "the slow calls to start", processes)
                worker.kill9()
                # ... restart Redis (its queues are lost) and the scheduler
                redis_server.restart()
                scheduler.kill9()
                scheduler.start()
                worker.start()

                def all_done() -> bool:
                    states = [http.get(f"/api/process-instances/{c}").json()["status"]
                              for c in cases]
                    return all(s == "completed" for s in states)

                _wait(all_done, 90, "every case to complete", processes)
                histories = [http.get(f"/api/process-instances/{c}/history").json()["events"]
                             for c in cases]
            # Then every timer fired exactly once
            for events in histories:
                fired = [e for e in events if e["type"] == "timer_fired"]
                assert [e["element_id"] for e in fired] == ["wait"]
            # ... and every mail arrived exactly once: two notices per case, to each member
            expected = CASES * 2 * MEMBERS
            _wait(lambda: len(smtp.messages) >= expected, 30, "the mail", processes)
            time.sleep(1.0)  # a duplicate would come now
            mails = smtp.messages
            assert len(mails) == expected
            ids = Counter(m["Message-ID"] for m in mails)
            assert max(ids.values()) == 1
            per_recipient = Counter(str(m["To"]) for m in mails)
            assert per_recipient == {f"member{i}@example.test": CASES * 2
                                     for i in range(MEMBERS)}
            subjects = {str(m["Subject"]) for m in mails}
            assert "Registered C-000100" in subjects and "Follow-up C-000103" in subjects
            # ... and the calls the killed worker had in flight were made again
            calls = Counter(line.split()[1] for line in markers.read_text().splitlines())
            assert set(calls) == {f"C-00010{i}" for i in range(CASES)}
        finally:
            for process in processes:
                process.stop()
