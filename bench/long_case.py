"""One long case over HTTP: a user task completed 1000 times in a loop (tests/data/loop.bpmn).

Run from the repository root:

    .venv/bin/python bench/long_case.py            # 1000 rounds (about a minute)
    .venv/bin/python bench/long_case.py --quick    # 100 rounds (smoke run)

The case is started with {"target": N} on `virta serve` (embedded default: SQLite, no Redis; or
`--stack postgres_redis`), and its one ready task is completed N times, one round per request.
Per round it records the client-side latency of the completion and what the round stored:
the size of the case state (process_instances.state), of the case data, the events written
(count and bytes) and the bytes the server process wrote (wchar in /proc/PID/io: SQLite pages,
WAL and the access log). One JSON object goes to stdout at the end; progress to stderr.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import time
from typing import Any

from _common import (
    ROOT,
    Client,
    CpuMeter,
    Stack,
    deploy,
    emit,
    latency_summary,
    loadavg,
    log,
    login,
    machine_info,
    versions,
)

MODEL = ROOT / "tests" / "data" / "loop.bpmn"
PROCESS_ID = "loop"
WINDOW = 20
WARMUP_ROUNDS = 30
#: Goal of issue 7: the completion in round 1000 costs at most this much of round 1.
GOAL_LATENCY_RATIO = 1.5
#: "Bytes per round do not grow": the last window may be this much larger than the first
#: (the round counter in the case data gains digits: 1 -> 1000).
GROWTH_TOLERANCE = 1.05

EVENT_COLUMNS = ("instance_id", "at", "type", "actor", "element_id", "task_id", "data",
                 "prev_hash", "hash")


class Probe:
    """Reads what the server stored, straight from its database (read-only queries)."""

    def __init__(self, stack: Stack) -> None:
        if stack.sqlite_path is not None:
            self.conn: Any = sqlite3.connect(str(stack.sqlite_path), isolation_level=None,
                                             timeout=30)
            self.param = "?"
            size = "length(CAST({} AS BLOB))"
        else:
            import psycopg

            assert stack.postgres is not None
            self.conn = psycopg.connect(stack.postgres.dsn, autocommit=True)
            self.param = "%s"
            size = "octet_length(CAST({} AS text))"
        p = self.param
        ev_bytes = " + ".join(f"COALESCE({size.format(c)}, 0)" for c in EVENT_COLUMNS)
        self.sql_case = (f"SELECT {size.format('state')}, {size.format('data')}, status "
                         f"FROM process_instances WHERE id = {p}")
        self.sql_events = (f"SELECT COUNT(*), COALESCE(SUM({ev_bytes}), 0), COALESCE(MAX(id), 0)"
                           f" FROM events WHERE instance_id = {p} AND id > {p}")
        self.sql_tasks = f"SELECT COUNT(*) FROM tasks WHERE instance_id = {p}"
        self.last_event = 0

    def _one(self, sql: str, *params: Any) -> tuple[Any, ...]:
        cur = self.conn.execute(sql, params)
        row = cur.fetchone()
        cur.close()
        return tuple(row)

    def round(self, case_id: int) -> dict[str, Any]:
        state, data, status = self._one(self.sql_case, case_id)
        count, ev_bytes, last = self._one(self.sql_events, case_id, self.last_event)
        if last:
            self.last_event = last
        (tasks,) = self._one(self.sql_tasks, case_id)
        return {"state_bytes": state, "data_bytes": data, "status": status,
                "events": count, "event_bytes": ev_bytes, "task_rows": tasks}

    def close(self) -> None:
        self.conn.close()


def wchar(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/io") as f:
            for line in f:
                if line.startswith("wchar:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def window(values: list[float], first: bool) -> list[float]:
    return values[:WINDOW] if first else values[-WINDOW:]


def mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 2) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 rounds instead of 1000")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--stack", default="embedded", choices=("embedded", "postgres_redis"))
    parser.add_argument("--all-rounds", action="store_true",
                        help="include every round's figures in the JSON")
    args = parser.parse_args()
    rounds = args.rounds or (100 if args.quick else 1000)
    if rounds < 2 * WINDOW:
        parser.error(f"--rounds must be at least {2 * WINDOW}")

    result: dict[str, Any] = {
        "benchmark": "long_case",
        "mode": "quick" if args.quick else "full",
        "machine": machine_info(),
        "versions": versions(),
        "model": str(MODEL.relative_to(ROOT)),
        "stack": args.stack,
        "rounds": rounds,
    }
    stack = Stack(args.stack)
    per_round: list[dict[str, Any]] = []
    try:
        stack.start()
        result["stack_info"] = dict(stack.info)
        token = login(stack.port)
        client = Client(stack.port, token)
        deploy(client, MODEL)
        probe = Probe(stack)
        pid = stack.serve.proc.pid if stack.serve.proc else 0

        # Warm the server up with a short case of its own (first requests hit cold caches),
        # so that round 1 of the measured case is not inflated.
        warm = client.post("/api/process-instances",
                           {"process_id": PROCESS_ID, "data": {"target": WARMUP_ROUNDS}})
        for _ in range(WARMUP_ROUNDS):
            warm = client.post(f"/api/tasks/{warm['ready_tasks'][0]['id']}/complete",
                               {"data": {}})
        if warm.get("status") != "completed":
            raise RuntimeError(f"warm-up case ended {warm.get('status')}")
        result["warmup"] = f"a separate case of {WARMUP_ROUNDS} rounds before the measured one"

        case = client.post("/api/process-instances",
                           {"process_id": PROCESS_ID, "data": {"target": rounds}})
        case_id = case["id"]
        start_figures = probe.round(case_id)
        result["after_start"] = start_figures
        answer = case
        log(f"[long_case] case {case_id}: {rounds} rounds on {args.stack}")
        meter = CpuMeter()
        t_all = time.perf_counter()
        for n in range(1, rounds + 1):
            ready = answer.get("ready_tasks")
            if ready is None:
                ready = client.get(f"/api/tasks?instance_id={case_id}")
            if [t["element_id"] for t in ready] != ["follow_up"]:
                raise RuntimeError(f"round {n}: expected follow_up ready, got {ready}")
            w0 = wchar(pid)
            t0 = time.perf_counter()
            answer = client.post(f"/api/tasks/{ready[0]['id']}/complete", {"data": {}})
            latency = time.perf_counter() - t0
            w1 = wchar(pid)
            figures = probe.round(case_id)
            figures.update(round=n, latency_ms=round(latency * 1000, 3),
                           server_wchar=(w1 - w0) if w0 is not None and w1 is not None
                           else None)
            per_round.append(figures)
            if n % 100 == 0 or n == rounds:
                log(f"[long_case] round {n}: {figures['latency_ms']} ms, state "
                    f"{figures['state_bytes']} B, events {figures['events']}")
        total = time.perf_counter() - t_all
        result["machine_cpu_busy_percent"] = meter.busy_percent()
        client.close()
        final = probe.round(case_id)
        probe.close()
        result["final"] = {"status": answer.get("status"),
                           "rounds_in_data": (answer.get("data") or {}).get("rounds"),
                           "stored_status": final["status"],
                           "task_rows": final["task_rows"]}
        result["seconds"] = round(total, 2)
        stack.check_alive()
    except Exception as exc:
        result["error"] = f"{exc.__class__.__name__}: {exc}"[:4000]
        if stack.processes:
            result["serve_log_tail"] = stack.serve.log()[-3000:]
        log(f"[long_case] failed: {exc}")
    finally:
        stack.stop()

    lat = [r["latency_ms"] / 1000 for r in per_round]
    completed = bool(result.get("final") and result["final"]["status"] == "completed"
                     and result["final"]["rounds_in_data"] == rounds and len(per_round) == rounds)
    summary: dict[str, Any] = {}
    goals: dict[str, Any] = {"case_completed": {"ok": completed,
                                                **(result.get("final") or {})}}
    if len(per_round) >= 2 * WINDOW:
        first_l, last_l = window(lat, True), window(lat, False)
        lo, hi = f"1-{WINDOW}", f"{rounds - WINDOW + 1}-{rounds}"
        summary["latency"] = {
            f"rounds_{lo}": latency_summary(first_l),
            f"rounds_{hi}": latency_summary(last_l),
            "all_rounds": latency_summary(lat),
            f"rounds_{lo}_ms": [round(x * 1000, 3) for x in first_l],
            f"rounds_{hi}_ms": [round(x * 1000, 3) for x in last_l],
            "p50_ms_per_100_rounds": [
                round(statistics.median(lat[i:i + 100]) * 1000, 3)
                for i in range(0, len(lat), 100)],
        }
        p50_first = statistics.median(first_l)
        p50_last = statistics.median(last_l)
        ratio = p50_last / p50_first
        goals["round_1000_latency_le_1_5x_round_1"] = {
            "ok": ratio <= GOAL_LATENCY_RATIO,
            "compares": f"median of rounds {hi} against median of rounds {lo}",
            "target_ratio": GOAL_LATENCY_RATIO,
            "measured_ratio": round(ratio, 3),
            "p50_first_ms": round(p50_first * 1000, 3),
            "p50_last_ms": round(p50_last * 1000, 3),
            "round_1_ms": round(lat[0] * 1000, 3),
            f"round_{rounds}_ms": round(lat[-1] * 1000, 3),
            "single_round_ratio": round(lat[-1] / lat[0], 3),
        }
        stored: dict[str, Any] = {}
        growth_ok = True
        for key in ("state_bytes", "data_bytes", "events", "event_bytes", "task_rows",
                    "server_wchar"):
            values = [r[key] for r in per_round if r.get(key) is not None]
            if key == "task_rows":  # cumulative: rows per round is the difference
                values = [b - a for a, b in zip([result["after_start"]["task_rows"],
                                                 *values[:-1]], values, strict=True)]
            if len(values) < 2 * WINDOW:
                continue
            # The last round completes the case: it writes no new task and a final state.
            steady = values[:-1]
            f_mean, l_mean = mean(window(steady, True)), mean(window(steady, False))
            stored[key] = {f"rounds_{lo}_mean": f_mean,
                           f"rounds_{rounds - WINDOW}-{rounds - 1}_mean": l_mean,
                           "median": statistics.median(steady),
                           "min": min(steady), "max": max(steady),
                           f"round_{rounds}": values[-1]}
            if key in ("state_bytes", "events", "event_bytes") and f_mean:
                grows = l_mean > f_mean * GROWTH_TOLERANCE
                stored[key]["grows"] = grows
                growth_ok = growth_ok and not grows
        summary["stored_per_round"] = stored
        goals["bytes_per_round_do_not_grow"] = {
            "ok": growth_ok,
            "checked": "state_bytes, events and event_bytes: mean of the last window "
                       f"(without the final, completing round) <= {GROWTH_TOLERANCE} x mean "
                       "of the first",
            "state_bytes_first_last": [stored.get("state_bytes", {}).get(f"rounds_{lo}_mean"),
                                       stored.get("state_bytes", {}).get(
                                           f"rounds_{rounds - WINDOW}-{rounds - 1}_mean")],
            "event_bytes_first_last": [stored.get("event_bytes", {}).get(f"rounds_{lo}_mean"),
                                       stored.get("event_bytes", {}).get(
                                           f"rounds_{rounds - WINDOW}-{rounds - 1}_mean")],
            "events_per_round_first_last": [
                stored.get("events", {}).get(f"rounds_{lo}_mean"),
                stored.get("events", {}).get(f"rounds_{rounds - WINDOW}-{rounds - 1}_mean")],
        }
    result["summary"] = summary
    result["goals"] = goals
    if args.all_rounds:
        result["per_round"] = per_round
    result["loadavg_at_end"] = loadavg()
    emit(result)


if __name__ == "__main__":
    main()
