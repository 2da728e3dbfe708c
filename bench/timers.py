"""Timer firing at volume: N cases wait on timers that fall due over one minute (issue 7).

Goal (PostgreSQL): p99 lateness <= 1 s and at least 1 000 timers/s.

1. A throwaway PostgreSQL (or SQLite with `--db sqlite`) and Redis; migrations applied.
2. A tiny model is deployed in-process: start -> intermediate timer (timeDate = `due`, a case
   variable) -> end.
3. N cases are started through the engine in-process (`runner.start_case` as SYSTEM, many per
   unit of work, several processes on PostgreSQL). Their `due` times are spread uniformly over
   60 s starting about 30 s after the creation ends. N is chosen from the measured creation
   rate so that the run stays under about 5 minutes (`--cases` forces it; the issue asks for
   100 000).
4. `virta scheduler` and `virta worker` run as separate processes (the real firing machinery)
   and fire the timers. Lateness per timer is `timer_fired` event `at` - the timer's due time,
   read from the database afterwards; timers/s = fired / (last fire - first due).

Prints one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import tempfile
import time
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import (
    ROOT,
    CpuMeter,
    PostgresServer,
    RedisServer,
    VirtaProcess,
    emit,
    loadavg,
    log,
    machine_info,
    percentile,
    versions,
)

from tests.processes import virta_env

PROCESS_ID = "bench_timer_wait"
MODEL = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  id="Definitions_bench_timer" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="{PROCESS_ID}" name="Bench: wait until due" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="wait_due" name="Wait until due">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition id="Timer_wait_due">
        <bpmn:timeDate xsi:type="bpmn:tFormalExpression">due</bpmn:timeDate>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="done"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait_due" />
    <bpmn:sequenceFlow id="f2" sourceRef="wait_due" targetRef="done" />
  </bpmn:process>
</bpmn:definitions>
""".encode()

SPREAD_S = 60.0
BATCH = 100  # case starts per unit of work


def _deploy(url: str) -> None:
    from engine.db import Database
    from engine.deploy import deploy

    db = Database(url)
    try:
        db.unit_of_work(lambda s: deploy(s, [("bench_timer_wait.bpmn", MODEL)], actor="bench"))
    finally:
        db.dispose()


def _create(args: tuple[str, list[str]]) -> int:
    """Start one case per `due` value (run in a child process on PostgreSQL)."""
    url, dues = args
    from engine import runner
    from engine.authorization import SYSTEM
    from engine.db import Database

    db = Database(url)

    def batch(chunk: list[str]) -> None:
        def work(session: Any) -> None:
            for due in chunk:
                runner.start_case(session, process_id=PROCESS_ID, principal=SYSTEM,
                                  data={"due": due})
        db.unit_of_work(work)

    try:
        for i in range(0, len(dues), BATCH):
            batch(dues[i:i + BATCH])
    finally:
        db.dispose()
    return len(dues)


def _create_parallel(url: str, dues: list[str], procs: int) -> None:
    if procs <= 1:
        _create((url, dues))
        return
    parts = [dues[i::procs] for i in range(procs)]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(procs) as pool:
        pool.map(_create, [(url, p) for p in parts])


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds")


def _max_instance(url: str) -> int:
    from sqlalchemy import text

    from engine.db import Database

    db = Database(url)
    try:
        with db.reading() as s:
            return int(s.scalar(text("SELECT coalesce(max(id), 0) FROM process_instances")))
    finally:
        db.dispose()


def _counts(url: str) -> dict[str, int]:
    from sqlalchemy import text

    from engine.db import Database

    db = Database(url)
    try:
        with db.reading() as s:
            return {status: n for status, n in s.execute(text(
                "SELECT status, count(*) FROM timers WHERE kind = 'task' GROUP BY status"))}
    finally:
        db.dispose()


def _lateness(url: str, first_instance: int) -> tuple[list[float], list[datetime], int]:
    """(lateness s of each fired timer, fire times, timers without a timer_fired event)."""
    from sqlalchemy import text

    from engine.db import Database

    db = Database(url)
    try:
        with db.reading() as s:
            due = {iid: d for iid, d in s.execute(text(
                "SELECT instance_id, due_at FROM timers WHERE kind = 'task' "
                "AND instance_id >= :f"), {"f": first_instance})}
            fired = list(s.execute(text(
                "SELECT instance_id, at FROM events WHERE type = 'timer_fired' "
                "AND instance_id >= :f"), {"f": first_instance}))
    finally:
        db.dispose()

    def aware(v: Any) -> datetime:
        if isinstance(v, str):
            v = datetime.fromisoformat(v)
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v

    late, at_list = [], []
    for iid, at in fired:
        if iid in due:
            at = aware(at)
            late.append((at - aware(due[iid])).total_seconds())
            at_list.append(at)
    return late, at_list, len(due) - len(late)


def _tree_cpu(root: int | None) -> float | None:
    """User+system CPU seconds of a live process and its live descendants, from /proc."""
    if root is None:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    parent, cpu = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry)] = int(fields[1])
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    if root not in cpu:
        return None
    total = 0.0
    for pid, seconds in cpu.items():
        p = pid
        while p > 1 and p != root:
            p = parent.get(p, 0)
        if p == root:
            total += seconds
    return total


def _stack_pids(procs: list[VirtaProcess], pg: Any, redis: Any) -> dict[str, int | None]:
    pids: dict[str, int | None] = {p.args[0]: p.proc.pid if p.proc else None for p in procs}
    if pg is not None and pg.data_dir is not None:
        with suppress(OSError, ValueError):
            pids["postgres"] = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
    if redis is not None and redis.process is not None:
        pids["redis"] = redis.process.pid
    return pids


def run(args: argparse.Namespace) -> dict[str, Any]:
    from engine.migrate import upgrade

    result: dict[str, Any] = {"bench": "timers", "machine": machine_info(),
                              "versions": versions(), "db": args.db, "quick": args.quick}
    tmp = Path(tempfile.mkdtemp(prefix="virta-bench-timers-"))
    pg = redis = None
    procs: list[VirtaProcess] = []
    try:
        if args.db == "postgres":
            log("starting PostgreSQL")
            pg = PostgresServer().start()
            url = pg.url
            with pg.connect() as conn:
                result["versions"]["postgresql"] = conn.execute(
                    "SHOW server_version").fetchone()[0]
        else:
            url = f"sqlite:///{tmp / 'virta.db'}"
        log("starting Redis")
        redis = RedisServer().start()
        os.environ["VIRTA_DATABASE_URL"] = url  # for get_settings() in this process
        t = time.monotonic()
        upgrade(url)
        _deploy(url)
        log(f"migrated and deployed in {time.monotonic() - t:.1f} s")

        env = virta_env(VIRTA_DATABASE_URL=url, VIRTA_REDIS_URL=redis.url,
                        VIRTA_PROCESSES_DIR=tmp / "processes", VIRTA_FORMS_DIR=tmp / "forms",
                        VIRTA_TIMER_BATCH=args.timer_batch or None)
        (tmp / "processes").mkdir()
        (tmp / "forms").mkdir()
        ref = ROOT / "processes" / "reference"
        if ref.is_dir():
            shutil.copytree(ref, tmp / "processes" / "reference")
        worker_args = ["worker", "--processes", str(args.worker_processes),
                       "--threads", str(args.worker_threads)]
        procs.append(VirtaProcess(worker_args, env=env, cwd=tmp, name="worker").start())
        procs.append(VirtaProcess(["scheduler"], env=env, cwd=tmp, name="scheduler").start())
        result["processes"] = [" ".join(["virta", *p.args]) for p in procs]
        result["timer_batch"] = args.timer_batch or "default (VIRTA_TIMER_BATCH unset)"
        # Started before the cases are created, and waited for: on a busy machine a worker
        # process takes seconds to start, which would count as lateness of the first timers.
        ready_by = time.monotonic() + 120
        while procs[0].log().count("ready for action") < args.worker_processes:
            for p in procs:
                if not p.alive():
                    raise RuntimeError(f"virta {p.args[0]} exited:\n{p.log()[-3000:]}")
            if time.monotonic() > ready_by:
                raise RuntimeError(f"virta worker not ready:\n{procs[0].log()[-3000:]}")
            time.sleep(0.2)
        log("worker and scheduler running")
        procs_n = 1 if args.db == "sqlite" else max(1, args.create_procs or (os.cpu_count() or 1))
        # Warm-up in this process (imports, spec cache: inherited by the forked creators), then
        # calibration: cases that wait until 2100 (left pending; not measured).
        far = _iso(datetime(2100, 1, 1, tzinfo=UTC))
        _create((url, [far] * 20))
        calib = 100 if args.quick else 600
        t = time.monotonic()
        _create_parallel(url, [far] * calib, procs_n)
        rate = calib / (time.monotonic() - t)
        first_measured = _max_instance(url) + 1
        log(f"calibration: {calib} cases at {rate:.0f} cases/s ({procs_n} processes)")
        if args.cases:
            n = args.cases
        elif args.quick:
            n = 1000
        else:
            n = int(min(100_000, max(2000, rate * args.create_budget)) // 1000 * 1000) or 2000
        est = n / rate
        lead = args.lead
        t0 = datetime.now(UTC) + timedelta(seconds=est * 1.25 + lead)
        dues = [_iso(t0 + timedelta(seconds=SPREAD_S * i / n)) for i in range(n)]
        log(f"creating {n} cases (estimated {est:.0f} s); first due at {t0.isoformat()}")
        t = time.monotonic()
        _create_parallel(url, dues, procs_n)
        create_s = time.monotonic() - t
        setup_end = datetime.now(UTC)
        lead_actual = (t0 - setup_end).total_seconds()
        log(f"created {n} cases in {create_s:.1f} s ({n / create_s:.0f}/s); "
            f"first due in {lead_actual:.1f} s")
        result["cases"] = {"n": n, "issue_n": 100_000, "create_s": round(create_s, 1),
                           "create_cases_per_s": round(n / create_s, 1),
                           "create_processes": procs_n, "cases_per_unit_of_work": BATCH,
                           "calibration_cases_not_measured": calib + 20,
                           "spread_s": SPREAD_S,
                           "first_due_after_setup_s": round(lead_actual, 1)}

        # Wait for the window, then until every timer fired (or a time limit passed).
        deadline = t0 + timedelta(seconds=SPREAD_S + args.drain)
        meter = None
        last_log = 0.0
        while True:
            now = datetime.now(UTC)
            if meter is None and now >= t0:
                meter = CpuMeter()
                pids = _stack_pids(procs, pg, redis)
                cpu_start = {k: _tree_cpu(v) for k, v in pids.items()}
            counts = _counts(url) if now >= t0 else {}
            fired = counts.get("fired", 0)
            if time.monotonic() - last_log > 10:
                log(f"  {now.strftime('%H:%M:%S')} fired {fired}/{n} {counts}")
                last_log = time.monotonic()
            if fired >= n or now > deadline:
                break
            for p in procs:
                if not p.alive():
                    raise RuntimeError(f"virta {p.args[0]} exited:\n{p.log()[-3000:]}")
            time.sleep(1 if now >= t0 else min(5, max(0.2, (t0 - now).total_seconds())))
        busy = meter.busy_percent() if meter else None
        cpu: dict[str, float | None] = {}
        if meter is not None:
            for k, pid in pids.items():
                end, start = _tree_cpu(pid), cpu_start.get(k)
                cpu[k] = round(end - start, 2) if end is not None and start is not None else None
        late, at_list, missing = _lateness(url, first_measured)
        fired_n = len(late)
        span = (max(at_list) - t0).total_seconds() if at_list else None
        timers_per_s = round(fired_n / span, 1) if span else None
        p50, p99 = percentile(late, 50), percentile(late, 99)
        mx = max(late) if late else None
        result["firing"] = {
            "fired": fired_n, "not_fired": missing,
            "lateness_p50_s": None if p50 is None else round(p50, 3),
            "lateness_p99_s": None if p99 is None else round(p99, 3),
            "lateness_max_s": None if mx is None else round(mx, 3),
            "lateness_min_s": round(min(late), 3) if late else None,
            "first_due": t0.isoformat(), "last_fire_after_first_due_s":
                None if span is None else round(span, 2),
            "timers_per_s": timers_per_s,
            "offered_timers_per_s": round(n / SPREAD_S, 1),
            "machine_cpu_busy_percent": busy,
            "loadavg_at_end": loadavg(),
            "cpu_seconds": cpu,
            "cpu_ms_per_firing": {k: round(1000 * v / fired_n, 2) for k, v in cpu.items()
                                  if v is not None and fired_n} | (
                {"total": round(1000 * sum(v for v in cpu.values() if v) / fired_n, 2)}
                if fired_n and cpu else {}),
        }
        all_fired = missing == 0 and fired_n == n
        result["goals"] = {
            "all_fired": all_fired,
            "p99_lateness_le_1_s": bool(all_fired and p99 is not None and p99 <= 1.0),
            "ge_1000_timers_per_s": bool(all_fired and timers_per_s is not None
                                         and timers_per_s >= 1000),
            "note": (f"timers/s is bounded by the offered rate N/{SPREAD_S:g} s: below "
                     "1 000/s offered the 1 000/s goal cannot be reached by construction"
                     if n / SPREAD_S < 1000 else None),
        }
        return result
    finally:
        for p in reversed(procs):
            try:
                p.stop()
            except Exception:  # noqa: BLE001
                pass
        if redis is not None:
            redis.stop()
        if pg is not None:
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--quick", action="store_true",
                        help="N=1000 over 15 s, smoke run (about 60 s)")
    parser.add_argument("--cases", type=int, default=0, help="force N (issue: 100000)")
    parser.add_argument("--create-budget", type=float, default=100.0,
                        help="seconds of case creation the default N is sized for")
    parser.add_argument("--create-procs", type=int, default=0,
                        help="processes that create cases (PostgreSQL; default: cpu count)")
    parser.add_argument("--lead", type=float, default=None,
                        help="seconds between the end of creation and the first due time")
    parser.add_argument("--drain", type=float, default=None,
                        help="seconds after the last due time to wait for stragglers")
    parser.add_argument("--worker-processes", type=int, default=2)
    parser.add_argument("--worker-threads", type=int, default=4)
    parser.add_argument("--timer-batch", type=int, default=0,
                        help="VIRTA_TIMER_BATCH of the scheduler (1: one timer per message; "
                             "default: the product's default)")
    args = parser.parse_args()
    if args.lead is None:
        args.lead = 5.0 if args.quick else 30.0
    if args.drain is None:
        args.drain = 10.0 if args.quick else 60.0
    if args.quick:
        global SPREAD_S
        SPREAD_S = 15.0  # the smoke run compresses the window to stay under 60 s
    emit(run(args))


if __name__ == "__main__":
    main()
