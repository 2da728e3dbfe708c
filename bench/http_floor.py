"""The floor of the HTTP goal: what the stack alone gives, with no workflow engine (issue 7).

`throughput.py` compares Virta over HTTP with bare SpiffWorkflow in memory. This script asks
how much of that ratio the stack itself leaves, so that the gap can be split between the stack
and Virta's own work. In one run it measures:

* `bare`: bare SpiffWorkflow on the throughput model (the same function as `throughput.py`);
* `skeleton`: a FastAPI app served by uvicorn exactly as `virta serve` serves Virta (a separate
  process, uvloop and httptools, the access log on), driven by the same client over 127.0.0.1.
  A "case" is the same three requests: POST a start, then POST a completion twice. Each request
  is what every Virta request needs at the least and nothing more: a bearer token looked up in
  a dict, the JSON body validated by a pydantic model, one hop to the thread pool, one SQLAlchemy
  session on SQLite (Virta's own `engine.db.make_engine`: WAL, `BEGIN IMMEDIATE`) that
  inserts or updates one row holding a state of the size a case's state has (6 KB of JSON), a
  commit, and a JSON answer of a case's shape. No engine steps, no audit trail, no task rows.

    .venv/bin/python bench/http_floor.py [--seconds 10] [--variants orm,core]

Two variants of the skeleton's database work: `orm` (ORM objects, `session.add` and
`session.get`) and `core` (prebuilt Core statements on the session's connection, as Virta's hot
path does). Prints one JSON object with the rates and each variant's `ratio_to_bare`: the best
ratio that a design of Virta on this stack could reach in this run, before doing any of its
own work.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import (
    BENCH,
    Client,
    CpuMeter,
    emit,
    free_port,
    latency_summary,
    log,
    machine_info,
    versions,
)
from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import (
    JSON,
    Integer,
    String,
    Text,
    bindparam,
    select,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from starlette.concurrency import run_in_threadpool

from engine.db import make_engine

#: The size of the throughput model's serialized state at its first wait state.
STATE_BYTES = 6000
TOKEN = "floor-token"


class Base(DeclarativeBase):
    pass


class Case(Base):
    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(Integer)


class StartRequest(BaseModel):
    process_id: str = Field(min_length=1, max_length=255)
    data: dict[str, Any] | None = None


class CompleteRequest(BaseModel):
    data: dict[str, Any] = Field(default_factory=dict)


#: The skeleton's statements when it writes with SQLAlchemy Core (variant "core").
_INSERT = Case.__table__.insert().returning(Case.id)
_SELECT = select(Case.id, Case.process_id, Case.status, Case.data, Case.revision) \
    .where(Case.id == bindparam("case_id"))
_UPDATE = update(Case).where(Case.id == bindparam("case_id"))


def _orm_work(state: str) -> tuple[Callable[..., dict[str, Any]], Callable[..., dict[str, Any]]]:
    """Start and completion with ORM objects (`session.add`, `session.get`)."""
    def answer(case: Case) -> dict[str, Any]:
        return {"id": case.id, "process_id": case.process_id, "status": case.status,
                "data": case.data, "ready_tasks": [{"id": f"{case.id}-{case.revision}"}]}

    def start(session: Session, body: StartRequest) -> dict[str, Any]:
        case = Case(process_id=body.process_id, status="running", state=state,
                    data=body.data or {}, revision=1)
        session.add(case)
        session.flush()
        return answer(case)

    def complete(session: Session, case_id: int, body: CompleteRequest) -> dict[str, Any]:
        case = session.get(Case, case_id)
        if case is None:
            raise HTTPException(404)
        case.revision += 1
        case.state = state
        case.data = {**case.data, **body.data}
        if case.revision == 3:
            case.status = "completed"
        session.flush()
        return answer(case)

    return start, complete


def _core_work(state: str) -> tuple[Callable[..., dict[str, Any]], Callable[..., dict[str, Any]]]:
    """Start and completion with prebuilt Core statements on the session's connection."""
    def start(session: Session, body: StartRequest) -> dict[str, Any]:
        data = body.data or {}
        case_id = session.connection().execute(_INSERT, {
            "process_id": body.process_id, "status": "running", "state": state, "data": data,
            "revision": 1}).scalar_one()
        return {"id": case_id, "process_id": body.process_id, "status": "running",
                "data": data, "ready_tasks": [{"id": f"{case_id}-1"}]}

    def complete(session: Session, case_id: int, body: CompleteRequest) -> dict[str, Any]:
        conn = session.connection()
        row = conn.execute(_SELECT, {"case_id": case_id}).first()
        if row is None:
            raise HTTPException(404)
        revision, data = row.revision + 1, {**row.data, **body.data}
        status = "completed" if revision == 3 else row.status
        conn.execute(_UPDATE, {"case_id": case_id, "state": state, "data": data,
                               "revision": revision, "status": status})
        return {"id": case_id, "process_id": row.process_id, "status": status, "data": data,
                "ready_tasks": [{"id": f"{case_id}-{revision}"}]}

    return start, complete


VARIANTS = {"orm": _orm_work, "core": _core_work}


def create_app(db_path: str, variant: str) -> FastAPI:
    """The skeleton app (runs in the server process)."""
    # Virta's own engine: the same pragmas, pool and BEGIN IMMEDIATE as `virta serve`.
    engine = make_engine(f"sqlite:///{db_path}", writer=True)
    Base.metadata.create_all(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    start_work, complete_work = VARIANTS[variant](json.dumps({"tasks": "x" * (STATE_BYTES - 20)}))

    def principal(authorization: str = Header("")) -> str:
        if authorization != f"Bearer {TOKEN}":
            raise HTTPException(401)
        return "bench"

    def unit_of_work(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
        with sessions() as session, session.begin():
            return fn(session, *args)

    app = FastAPI(docs_url=None, redoc_url=None)

    @app.post("/start", status_code=201)
    async def start(body: StartRequest, who: str = Depends(principal)) -> dict[str, Any]:
        return await run_in_threadpool(unit_of_work, start_work, body)

    @app.post("/complete/{case_id}")
    async def complete(case_id: int, body: CompleteRequest, who: str = Depends(principal)
                       ) -> dict[str, Any]:
        return await run_in_threadpool(unit_of_work, complete_work, case_id, body)

    return app


def serve(port: int, db_path: str, variant: str) -> None:
    """Run the skeleton as `virta serve` runs Virta (virta/cli.py)."""
    import uvicorn
    uvicorn.run(create_app(db_path, variant), host="127.0.0.1", port=port, log_level="info")


def measure(port: int, seconds: float) -> dict[str, Any]:
    client = Client(port, TOKEN)
    starts: list[float] = []
    completes: list[float] = []

    def one_case() -> None:
        t0 = time.perf_counter()
        case = client.post("/start", {"process_id": "two_lane_bench"})
        starts.append(time.perf_counter() - t0)
        for _ in range(2):
            t0 = time.perf_counter()
            case = client.post(f"/complete/{case['id']}", {"data": {}})
            completes.append(time.perf_counter() - t0)
        if case["status"] != "completed":
            raise RuntimeError(f"skeleton case {case['id']} ended {case['status']}")

    for _ in range(30):
        one_case()
    starts.clear()
    completes.clear()
    meter = CpuMeter()
    cases, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        one_case()
        cases += 1
    elapsed = time.perf_counter() - t0
    client.close()
    return {"cases": cases, "seconds": round(elapsed, 3),
            "cases_per_s": round(cases / elapsed, 1),
            "machine_cpu_busy_percent": meter.busy_percent(),
            "latency": {"start": latency_summary(starts), "complete": latency_summary(completes)}}


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the skeleton server exited with {proc.returncode}")
        try:
            Client(port, TOKEN, timeout=1).post("/start", {"process_id": "warm-up"})
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the skeleton server did not start")


def run_variant(variant: str, seconds: float, bare_rate: float) -> dict[str, Any]:
    """Serve the skeleton of `variant` in its own process and drive it for `seconds`."""
    with tempfile.TemporaryDirectory(prefix="virta-floor-") as tmp:
        port = free_port()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(BENCH.parent), str(BENCH)])}
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve",
                                 str(port), str(Path(tmp) / "floor.db"), variant], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_listening(port, proc)
            log(f"[floor] measuring the {variant} skeleton for {seconds:.0f} s")
            run = measure(port, seconds)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    run["ratio_to_bare"] = round(run["cases_per_s"] / bare_rate, 4)
    run["ms_per_case"] = round(1000 / run["cases_per_s"], 3)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--variants", default="orm,core",
                        help="comma-separated: orm (ORM objects), core (Core statements)")
    parser.add_argument("--serve", nargs=3, metavar=("PORT", "DB", "VARIANT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.serve[2])
        return

    from throughput import MODEL, bare_baseline

    bare = bare_baseline(3.0, 200)
    result: dict[str, Any] = {
        "benchmark": "http_floor", "machine": machine_info(), "versions": versions(),
        "model": str(MODEL.relative_to(MODEL.parents[2])),
        "skeleton": "FastAPI + uvicorn as `virta serve`; per request: token check, pydantic "
                    "body, one thread-pool hop, one SQLite write transaction (one row with a "
                    f"{STATE_BYTES}-byte state), a JSON answer; 3 requests per case",
        "bare": {k: bare[k] for k in ("cases_per_s", "machine_cpu_busy_percent")},
        "goal_ms_per_case": round(1000 / (0.10 * bare["cases_per_s"]), 3),
        "variants": {variant: run_variant(variant, args.seconds, bare["cases_per_s"])
                     for variant in args.variants.split(",") if variant in VARIANTS},
    }
    result["summary"] = {variant: {"cases_per_s": run["cases_per_s"],
                                   "ratio_to_bare": run["ratio_to_bare"]}
                         for variant, run in result["variants"].items()}
    emit(result)


if __name__ == "__main__":
    main()
