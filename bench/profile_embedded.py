"""Where the time of one case goes in the embedded default, in-process, under cProfile.

The app of `virta serve` (api.main.create_app on SQLite, with the embedded worker and scheduler
threads of `workers.embedded`) runs in this process and is driven through the two-lane benchmark
model (bench/data/two_lane_bench.bpmn). It prints one JSON object with:

* `engine_only`: cases/s calling engine.runner (start_case, complete_task) in units of work:
  no HTTP, no FastAPI, no login check;
* `in_process_testclient`: cases/s through the ASGI app with FastAPI's TestClient (no sockets);
* `in_process_uvicorn`: cases/s through a uvicorn server in a thread of this process, driven
  with http.client over 127.0.0.1 (what `virta serve` does, minus the access log);
* `sql_per_request`: SQL statements per request (start, complete 1, complete 2), with the
  statements of one start and one complete;
* `profile`: cProfile of the uvicorn server threads (event loop and request thread pool; the
  scheduler thread and the client are not in it) over `--profile-cases` cases: top cumulative
  entries of engine/ and api/, of SpiffWorkflow, top own-time entries, own time by package.

    .venv/bin/python bench/profile_embedded.py [--quick]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from _common import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    DATA,
    ROOT,
    Client,
    deploy,
    emit,
    free_port,
    log,
    login,
    machine_info,
    versions,
)

MODEL = DATA / "two_lane_bench.bpmn"
PROCESS_ID = "two_lane_bench"
#: Own time in these is a thread waiting, not working.
IDLE = {"<method 'acquire' of '_thread.lock' objects>", "<method 'poll' of 'select.epoll' objects>",
        "<built-in method time.sleep>", "<method 'wait' of '_thread.lock' objects>"}


def _setup_env(tmp: Path) -> None:
    processes = tmp / "processes"
    processes.mkdir()
    if (ROOT / "processes" / "reference").is_dir():
        shutil.copytree(ROOT / "processes" / "reference", processes / "reference")
    (tmp / "forms").mkdir()
    for key in [k for k in os.environ if k.startswith("VIRTA_")]:
        del os.environ[key]
    os.environ.update({
        "VIRTA_DATABASE_URL": f"sqlite:///{tmp / 'virta.db'}",
        "VIRTA_ADMIN_USER": ADMIN_USER, "VIRTA_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "VIRTA_PROCESSES_DIR": str(processes), "VIRTA_FORMS_DIR": str(tmp / "forms"),
    })


def _group(filename: str, name: str) -> str:
    if name in IDLE:
        return "waiting (locks, epoll, sleep)"
    f = filename.replace("\\", "/")
    for marker, label in (("/SpiffWorkflow/", "SpiffWorkflow"), ("/sqlalchemy/", "SQLAlchemy"),
                          ("/fastapi/", "FastAPI"), ("/starlette/", "Starlette"),
                          ("/pydantic", "pydantic"), ("/anyio/", "anyio"),
                          ("/uvicorn/", "uvicorn"), ("/h11/", "uvicorn"),
                          ("/httptools/", "uvicorn"), ("/json/", "json"),
                          ("/sqlite3/", "sqlite3"), ("/RestrictedPython/", "RestrictedPython"),
                          ("/logging/", "logging"), ("/uuid.py", "uuid"), ("/copy.py", "copy"),
                          ("/threading.py", "threading"), ("/asyncio/", "asyncio"),
                          ("/concurrent/", "concurrent.futures")):
        if marker in f:
            return label
    for folder in ("engine", "api", "workers"):
        if f.startswith(str(ROOT / folder) + "/"):
            return f"virta {folder}/"
    if f == "~":
        return "C functions (sqlite3 execute, json, hashing, ...)"
    return "other"


def _short(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    if filename == "~":
        return name
    try:
        where = str(Path(filename).resolve().relative_to(ROOT))
    except ValueError:
        where = filename
    where = where.split("/site-packages/")[-1]
    return f"{where}:{line}({name})"


class InProcessServer:
    """uvicorn serving the app in a thread of this process."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, name="bench-uvicorn",
                                       daemon=True)

    def __enter__(self) -> InProcessServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("in-process uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def http_case(c: Client) -> None:
    case = c.post("/api/process-instances", {"process_id": PROCESS_ID})
    ready = case["ready_tasks"]
    for _ in range(2):
        done = c.post(f"/api/tasks/{ready[0]['id']}/complete", {"data": {}})
        ready = done["ready_tasks"]
    if done["status"] != "completed":
        raise RuntimeError(f"case ended {done['status']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cases", type=int, help="cases timed without the profiler, per path")
    parser.add_argument("--profile-cases", type=int, help="cases run under the profiler")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--no-embedded-worker", action="store_true",
                        help="do not run the embedded worker and scheduler threads")
    args = parser.parse_args()
    timed = args.cases or (50 if args.quick else 300)
    profiled = args.profile_cases or (50 if args.quick else 300)

    tmp = Path(tempfile.mkdtemp(prefix="virta-bench-prof-"))
    _setup_env(tmp)
    stop_embedded = None
    try:
        from fastapi.testclient import TestClient
        from sqlalchemy import event, select

        from api.main import create_app
        from engine import migrate, runner
        from engine.authorization import SYSTEM
        from engine.bootstrap import bootstrap
        from engine.db import get_database
        from engine.models import HumanTask, ProcessInstance
        from engine.settings import get_settings

        settings = get_settings()
        migrate.upgrade()
        db = get_database()
        bootstrap(db, settings)
        app = create_app(db)
        if not args.no_embedded_worker:
            from workers.embedded import start_embedded

            stop_embedded = start_embedded(db, settings)
        background = {t.ident for t in threading.enumerate()}

        # SQL statements, per thread that is not a background thread of the embedded default.
        statements: list[str] = []

        def on_execute(_conn: Any, _cur: Any, stmt: str, *_a: Any) -> None:
            if threading.get_ident() not in background:
                statements.append(" ".join(stmt.split()))

        for eng in {db.engine, db.read_engine}:
            event.listen(eng, "before_cursor_execute", on_execute)

        def engine_case() -> None:
            row_id = db.unit_of_work(lambda s: runner.start_case(
                s, process_id=PROCESS_ID, principal=SYSTEM).id)
            for _ in range(2):
                with db.reading() as s:
                    task_id = s.scalar(select(HumanTask.id).where(
                        HumanTask.instance_id == row_id, HumanTask.status == "ready"))
                db.unit_of_work(lambda s, t=task_id: runner.complete_task(
                    s, task_id=t, data={}, principal=SYSTEM))
            with db.reading() as s:
                assert s.get(ProcessInstance, row_id).status == "completed"

        result: dict[str, Any] = {
            "benchmark": "profile_embedded",
            "mode": "quick" if args.quick else "full",
            "machine": machine_info(),
            "versions": versions(),
            "embedded_worker_running": not args.no_embedded_worker,
        }

        with InProcessServer(app) as srv:
            token = login(srv.port)
            c = Client(srv.port, token)
            deploy(c, MODEL)
            for _ in range(20):
                http_case(c)
                engine_case()

            log(f"[profile] {timed} cases engine-only")
            t0, cpu0 = time.perf_counter(), time.process_time()
            for _ in range(timed):
                engine_case()
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            result["engine_only"] = {
                "cases": timed, "cases_per_s": round(timed / wall, 2),
                "ms_per_case": round(wall / timed * 1000, 3),
                "cpu_ms_per_case": round(cpu / timed * 1000, 3)}

            log(f"[profile] {timed} cases over in-process uvicorn")
            t0, cpu0 = time.perf_counter(), time.process_time()
            for _ in range(timed):
                http_case(c)
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            result["in_process_uvicorn"] = {
                "cases": timed, "cases_per_s": round(timed / wall, 2),
                "ms_per_case": round(wall / timed * 1000, 3),
                "cpu_ms_per_case_incl_client": round(cpu / timed * 1000, 3)}

            # SQL per request
            counts: dict[str, list[int]] = {"start": [], "complete_1": [], "complete_2": []}
            samples: dict[str, list[str]] = {}
            for _ in range(20):
                statements.clear()
                case = c.post("/api/process-instances", {"process_id": PROCESS_ID})
                counts["start"].append(len(statements))
                samples.setdefault("start", list(statements))
                ready = case["ready_tasks"]
                for key in ("complete_1", "complete_2"):
                    statements.clear()
                    done = c.post(f"/api/tasks/{ready[0]['id']}/complete", {"data": {}})
                    counts[key].append(len(statements))
                    samples.setdefault(key, list(statements))
                    ready = done["ready_tasks"]
            result["sql_per_request"] = {
                "median_statements": {k: sorted(v)[len(v) // 2] for k, v in counts.items()},
                "start_statements": [s[:140] for s in samples["start"]],
                "complete_1_statements": [s[:140] for s in samples["complete_1"]],
            }
            c.close()

        with TestClient(app) as client:
            headers = {"Authorization": f"Bearer {token}"}

            def tc_case() -> None:
                case = client.post("/api/process-instances", headers=headers,
                                   json={"process_id": PROCESS_ID}).json()
                ready = case["ready_tasks"]
                for _ in range(2):
                    done = client.post(f"/api/tasks/{ready[0]['id']}/complete",
                                       headers=headers, json={"data": {}}).json()
                    ready = done["ready_tasks"]
                assert done["status"] == "completed", done

            for _ in range(10):
                tc_case()
            log(f"[profile] {timed} cases over TestClient")
            t0 = time.perf_counter()
            for _ in range(timed):
                tc_case()
            wall = time.perf_counter() - t0
            result["in_process_testclient"] = {
                "cases": timed, "cases_per_s": round(timed / wall, 2),
                "ms_per_case": round(wall / timed * 1000, 3)}

        log(f"[profile] {profiled} cases over in-process uvicorn under cProfile")
        profiles: list[cProfile.Profile] = []
        lock = threading.Lock()

        def hook(*_a: Any) -> None:  # first event in a new thread: switch it to cProfile
            prof = cProfile.Profile()
            with lock:
                profiles.append(prof)
            prof.enable()

        threading.setprofile(hook)  # threads started from now on: uvicorn and its pool
        try:
            srv = InProcessServer(app)
            with srv:
                # The hook stays on: the request thread pool starts its threads lazily.
                c = Client(srv.port, token)
                for _ in range(5):
                    http_case(c)
                with lock:
                    for prof in profiles:  # drop the warm-up
                        prof.clear()
                t0 = time.perf_counter()
                for _ in range(profiled):
                    http_case(c)
                prof_wall = time.perf_counter() - t0
                c.close()
                with lock:
                    for prof in profiles:
                        prof.disable()  # only stops the calling thread; snapshot below
        finally:
            threading.setprofile(None)  # type: ignore[arg-type]

        stats: pstats.Stats | None = None
        with lock:
            for prof in profiles:
                try:
                    if stats is None:
                        stats = pstats.Stats(prof)
                    else:
                        stats.add(prof)
                except (TypeError, ValueError):  # a thread that recorded nothing
                    pass
        assert stats is not None
        entries = stats.stats  # type: ignore[attr-defined]
        busy = sum(v[2] for f, v in entries.items() if f[2] not in IDLE)

        def row(func: tuple[str, int, str], v: tuple) -> dict[str, Any]:
            _cc, nc, tt, ct, _callers = v
            return {"function": _short(func), "calls_per_case": round(nc / profiled, 2),
                    "cum_ms_per_case": round(ct / profiled * 1000, 3),
                    "own_ms_per_case": round(tt / profiled * 1000, 3)}

        ours = [(f, v) for f, v in entries.items()
                if f[0].startswith((str(ROOT / "engine") + "/", str(ROOT / "api") + "/"))]
        ours.sort(key=lambda fv: fv[1][3], reverse=True)
        spiff = [(f, v) for f, v in entries.items() if "/SpiffWorkflow/" in f[0]]
        spiff.sort(key=lambda fv: fv[1][3], reverse=True)
        by_own = sorted(((f, v) for f, v in entries.items() if f[2] not in IDLE),
                        key=lambda fv: fv[1][2], reverse=True)
        groups: dict[str, float] = defaultdict(float)
        for f, v in entries.items():
            groups[_group(f[0], f[2])] += v[2]
        result["profile"] = {
            "cases": profiled,
            "profiled": "uvicorn event loop thread and request thread pool of an in-process "
                        "server (not the client, not the embedded scheduler)",
            "profiled_threads": len(profiles),
            "wall_ms_per_case_under_profiler": round(prof_wall / profiled * 1000, 3),
            "busy_own_time_ms_per_case_under_profiler": round(busy / profiled * 1000, 3),
            "own_time_ms_per_case_by_package": {
                k: round(v / profiled * 1000, 3)
                for k, v in sorted(groups.items(), key=lambda kv: kv[1], reverse=True)},
            "top_cumulative_engine_api": [row(f, v) for f, v in ours[:args.top]],
            "top_cumulative_spiffworkflow": [row(f, v) for f, v in spiff[:12]],
            "top_own_time": [row(f, v) for f, v in by_own[:args.top]],
        }
    finally:
        if stop_embedded is not None:
            stop_embedded()
        shutil.rmtree(tmp, ignore_errors=True)
    emit(result)


if __name__ == "__main__":
    sys.exit(main())
