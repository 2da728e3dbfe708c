"""Where the time of one case goes in the embedded default, in-process, under cProfile.

The app of `virta serve` (api.main.create_app on SQLite, with the embedded worker and scheduler
running) is driven with FastAPI's TestClient through the two-lane benchmark model. Three
figures, and a profile:

* `engine_only`: cases/s calling engine.runner (start_case, complete_task) in units of work,
  no HTTP, no FastAPI;
* `in_process_http`: cases/s through the ASGI app with TestClient (no sockets, no uvicorn);
* `profile`: cProfile of `--profile-cases` cases through TestClient, every thread that serves
  requests included (the threads of the request thread pool are profiled via
  threading.setprofile), with the top cumulative entries of engine/ and api/, the top own-time
  entries, and own time grouped by package.

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

from _common import ADMIN_PASSWORD, ADMIN_USER, DATA, ROOT, emit, log, machine_info, versions

MODEL = DATA / "two_lane_bench.bpmn"
PROCESS_ID = "two_lane_bench"


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


def _group(filename: str) -> str:
    f = filename.replace("\\", "/")
    for marker, name in (("/SpiffWorkflow/", "SpiffWorkflow"), ("/sqlalchemy/", "SQLAlchemy"),
                         ("/fastapi/", "FastAPI"), ("/starlette/", "Starlette"),
                         ("/pydantic", "pydantic"), ("/anyio/", "anyio"), ("/httpx/", "httpx"),
                         ("/httpcore/", "httpx"), ("/json/", "json"), ("/sqlite3/", "sqlite3"),
                         ("/RestrictedPython/", "RestrictedPython"), ("/lxml/", "lxml"),
                         ("/uuid.py", "uuid"), ("/copy.py", "copy"), ("/threading.py", "threading"),
                         ("/asyncio/", "asyncio"), ("/concurrent/", "concurrent")):
        if marker in f:
            return name
    if f.startswith(str(ROOT / "engine")):
        return "virta engine/"
    if f.startswith(str(ROOT / "api")):
        return "virta api/"
    if f.startswith(str(ROOT / "workers")):
        return "virta workers/"
    if f == "~":
        return "builtins (C)"
    return "other"


def _short(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    try:
        rel = Path(filename).resolve().relative_to(ROOT)
        where = str(rel)
    except ValueError:
        parts = filename.replace("\\", "/").split("/site-packages/")
        where = parts[-1] if len(parts) > 1 else filename
    return f"{where}:{line}({name})" if filename != "~" else name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cases", type=int, help="cases timed without the profiler")
    parser.add_argument("--profile-cases", type=int, help="cases run under the profiler")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--no-embedded-worker", action="store_true",
                        help="do not run the embedded worker and scheduler threads")
    args = parser.parse_args()
    timed = args.cases or (50 if args.quick else 300)
    profiled = args.profile_cases or (50 if args.quick else 200)

    tmp = Path(tempfile.mkdtemp(prefix="virta-bench-prof-"))
    _setup_env(tmp)
    stop_embedded = None
    try:
        from fastapi.testclient import TestClient

        from api.main import create_app
        from engine import migrate, runner
        from engine.authorization import SYSTEM
        from engine.bootstrap import bootstrap
        from engine.db import get_database
        from engine.settings import get_settings

        settings = get_settings()
        migrate.upgrade()
        db = get_database()
        bootstrap(db, settings)
        app = create_app(db)
        if not args.no_embedded_worker:
            from workers.embedded import start_embedded

            stop_embedded = start_embedded(db, settings)

        def engine_case() -> None:
            row_id = db.unit_of_work(lambda s: runner.start_case(
                s, process_id=PROCESS_ID, principal=SYSTEM).id)
            for _ in range(2):
                with db.reading() as s:
                    from sqlalchemy import select

                    from engine.models import HumanTask
                    task_id = s.scalar(select(HumanTask.id).where(
                        HumanTask.instance_id == row_id, HumanTask.status == "ready"))
                db.unit_of_work(lambda s, t=task_id: runner.complete_task(
                    s, task_id=t, data={}, principal=SYSTEM))
            with db.reading() as s:
                from engine.models import ProcessInstance
                assert s.get(ProcessInstance, row_id).status == "completed"

        with TestClient(app) as client:
            token = client.post("/api/auth/token", json={
                "username": ADMIN_USER, "password": ADMIN_PASSWORD}).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            answer = client.post("/api/process-models", headers=headers, files=[
                ("files", (MODEL.name, MODEL.read_bytes(), "application/octet-stream"))])
            assert answer.status_code == 201, answer.text

            def http_case() -> None:
                case = client.post("/api/process-instances", headers=headers,
                                   json={"process_id": PROCESS_ID}).json()
                ready = case["ready_tasks"]
                for _ in range(2):
                    done = client.post(f"/api/tasks/{ready[0]['id']}/complete",
                                       headers=headers, json={"data": {}}).json()
                    ready = done["ready_tasks"]
                assert done["status"] == "completed", done

            log(f"[profile] warm-up, then {timed} cases engine-only and {timed} over TestClient")
            for _ in range(20):
                http_case()
                engine_case()
            t0 = time.perf_counter()
            for _ in range(timed):
                engine_case()
            engine_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            for _ in range(timed):
                http_case()
            http_s = time.perf_counter() - t0

            log(f"[profile] {profiled} cases under cProfile")
            profiles: list[cProfile.Profile] = []
            lock = threading.Lock()

            def hook(*_a: Any) -> None:  # first call in a new thread: switch to cProfile
                prof = cProfile.Profile()
                with lock:
                    profiles.append(prof)
                prof.enable()

            threading.setprofile(hook)
            # Fresh pool threads, so that they start under the hook.
            main_prof = cProfile.Profile()
            main_prof.enable()
            t0 = time.perf_counter()
            with TestClient(app) as pclient:
                for _ in range(profiled):
                    case = pclient.post("/api/process-instances", headers=headers,
                                        json={"process_id": PROCESS_ID}).json()
                    ready = case["ready_tasks"]
                    for _ in range(2):
                        done = pclient.post(f"/api/tasks/{ready[0]['id']}/complete",
                                            headers=headers, json={"data": {}}).json()
                        ready = done["ready_tasks"]
                    assert done["status"] == "completed", done
            prof_s = time.perf_counter() - t0
            main_prof.disable()
            threading.setprofile(None)  # type: ignore[arg-type]

        stats = pstats.Stats(main_prof)
        with lock:
            for prof in profiles:
                try:
                    stats.add(prof)
                except (TypeError, ValueError):
                    pass
        entries = stats.stats  # type: ignore[attr-defined]
        total_tt = sum(v[2] for v in entries.values())

        def row(func: tuple[str, int, str], v: tuple) -> dict[str, Any]:
            cc, nc, tt, ct, _callers = v
            return {"function": _short(func), "calls": nc,
                    "cum_ms_per_case": round(ct / profiled * 1000, 3),
                    "own_ms_per_case": round(tt / profiled * 1000, 3)}

        ours = [(f, v) for f, v in entries.items()
                if f[0].startswith(str(ROOT / "engine")) or f[0].startswith(str(ROOT / "api"))]
        ours.sort(key=lambda fv: fv[1][3], reverse=True)
        by_own = sorted(entries.items(), key=lambda fv: fv[1][2], reverse=True)
        groups: dict[str, float] = defaultdict(float)
        for f, v in entries.items():
            groups[_group(f[0])] += v[2]
        # Spiff entries (cumulative) worth naming: serializer, engine steps, task lookups.
        spiff = [(f, v) for f, v in entries.items() if "/SpiffWorkflow/" in f[0]]
        spiff.sort(key=lambda fv: fv[1][3], reverse=True)

        result = {
            "benchmark": "profile_embedded",
            "mode": "quick" if args.quick else "full",
            "machine": machine_info(),
            "versions": versions(),
            "embedded_worker_running": not args.no_embedded_worker,
            "engine_only": {"cases": timed, "seconds": round(engine_s, 3),
                            "cases_per_s": round(timed / engine_s, 2),
                            "ms_per_case": round(engine_s / timed * 1000, 3)},
            "in_process_http": {"cases": timed, "seconds": round(http_s, 3),
                                "cases_per_s": round(timed / http_s, 2),
                                "ms_per_case": round(http_s / timed * 1000, 3)},
            "profile": {
                "cases": profiled,
                "wall_ms_per_case_under_profiler": round(prof_s / profiled * 1000, 3),
                "profiled_threads": 1 + len(profiles),
                "own_time_ms_per_case_by_package": {
                    k: round(v / profiled * 1000, 3)
                    for k, v in sorted(groups.items(), key=lambda kv: kv[1], reverse=True)},
                "own_time_total_ms_per_case": round(total_tt / profiled * 1000, 3),
                "top_cumulative_engine_api": [row(f, v) for f, v in ours[:args.top]],
                "top_cumulative_spiffworkflow": [row(f, v) for f, v in spiff[:15]],
                "top_own_time": [row(f, v) for f, v in by_own[:args.top]],
            },
        }
    finally:
        if stop_embedded is not None:
            stop_embedded()
        shutil.rmtree(tmp, ignore_errors=True)
    emit(result)


if __name__ == "__main__":
    sys.exit(main())
