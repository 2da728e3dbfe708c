"""Throughput of a small two-lane model: bare SpiffWorkflow in-process against Virta over HTTP.

Run from the repository root:

    .venv/bin/python bench/throughput.py            # full measurement (a few minutes)
    .venv/bin/python bench/throughput.py --quick    # smoke run (< 60 s)

One JSON object goes to stdout at the end; progress goes to stderr. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import threading
import time
import traceback
from typing import Any

from _common import (
    DATA,
    Client,
    CpuMeter,
    HttpError,
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

MODEL = DATA / "two_lane_bench.bpmn"
PROCESS_ID = "two_lane_bench"
#: Goal of issue 7: sequential HTTP throughput (embedded) at least this share of bare Spiff.
GOAL_SEQUENTIAL_RATIO = 0.10


# ---------------------------------------------------------------- bare SpiffWorkflow


def bare_baseline(seconds: float, serializer_rounds: int) -> dict[str, Any]:
    """The same model with bare SpiffWorkflow 3.2, in memory: no database, no HTTP."""
    from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
    from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
    from SpiffWorkflow.util.task import TaskState

    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(MODEL))
    spec = parser.get_spec(PROCESS_ID)
    subprocess_specs = parser.get_subprocess_specs(PROCESS_ID)
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))

    def run_case(persist: bool = False) -> BpmnWorkflow:
        wf = BpmnWorkflow(spec, subprocess_specs)
        wf.do_engine_steps()
        if persist:
            wf = serializer.deserialize_json(serializer.serialize_json(wf))
        user_tasks = 0
        while not wf.is_completed():
            ready = wf.get_tasks(state=TaskState.READY, manual=True)
            if not ready:
                raise RuntimeError("bare case is stuck")
            for task in ready:
                task.run()
                user_tasks += 1
            wf.do_engine_steps()
            if persist:
                wf = serializer.deserialize_json(serializer.serialize_json(wf))
        if user_tasks != 2:
            raise RuntimeError(f"bare case ran {user_tasks} user tasks, expected 2")
        return wf

    def loop(persist: bool, duration: float) -> tuple[int, float]:
        for _ in range(20):  # warm-up
            run_case(persist)
        cases = 0
        start = time.perf_counter()
        deadline = start + duration
        while time.perf_counter() < deadline:
            run_case(persist)
            cases += 1
        return cases, time.perf_counter() - start

    log(f"[bare] running the model in memory for {seconds:.1f} s")
    meter = CpuMeter()
    cases, elapsed = loop(False, seconds)
    machine_busy = meter.busy_percent()

    # One full serialize + deserialize of a case at its first wait state (spec included:
    # the default BpmnWorkflowSerializer with SPIFF_CONFIG).
    wf = BpmnWorkflow(spec, subprocess_specs)
    wf.do_engine_steps()
    state = serializer.serialize_json(wf)
    timings = []
    for _ in range(serializer_rounds):
        t0 = time.perf_counter()
        restored = serializer.deserialize_json(serializer.serialize_json(wf))
        timings.append(time.perf_counter() - t0)
    assert restored.get_tasks(state=TaskState.READY, manual=True)

    log(f"[bare] with a serialize+deserialize at every wait state for {seconds / 2:.1f} s")
    p_cases, p_elapsed = loop(True, seconds / 2)
    return {
        "cases": cases,
        "seconds": round(elapsed, 3),
        "cases_per_s": round(cases / elapsed, 1),
        "machine_cpu_busy_percent": machine_busy,
        "serialize_deserialize_ms": {
            "n": len(timings),
            "p50": round(statistics.median(timings) * 1000, 4),
            "mean": round(statistics.fmean(timings) * 1000, 4),
            "min": round(min(timings) * 1000, 4),
        },
        "serialized_state_bytes": len(state.encode()),
        "persisted_cases_per_s": round(p_cases / p_elapsed, 1),
        "persisted_note": "same loop with a full serialize+deserialize after each of the 3 "
                          "wait states (start, task 1, task 2), like a store per request",
    }


# ---------------------------------------------------------------- Virta over HTTP


class CaseRunner:
    """One client: starts cases and completes both tasks, on one keep-alive connection."""

    def __init__(self, port: int, token: str) -> None:
        self.client = Client(port, token)
        self.start_lat: list[float] = []
        self.complete_lat: list[float] = []
        self.case_lat: list[float] = []
        self.cases = 0
        self.errors: list[str] = []

    def _ready(self, answer: dict[str, Any]) -> list[dict[str, Any]]:
        ready = answer.get("ready_tasks")
        if ready is None:
            ready = self.client.get(f"/api/tasks?instance_id={answer['id']}")
        return ready

    def one_case(self, record: bool = True) -> None:
        c = self.client
        t_case = time.perf_counter()
        t0 = time.perf_counter()
        case = c.post("/api/process-instances", {"process_id": PROCESS_ID})
        t1 = time.perf_counter()
        starts, completes = [t1 - t0], []
        answer = case
        for expected in ("prepare", "decide"):
            ready = self._ready(answer)
            if [t["element_id"] for t in ready] != [expected]:
                raise RuntimeError(f"case {case['id']}: expected ready task {expected}, got "
                                   f"{[t['element_id'] for t in ready]}")
            t0 = time.perf_counter()
            answer = c.post(f"/api/tasks/{ready[0]['id']}/complete", {"data": {}})
            completes.append(time.perf_counter() - t0)
        if answer.get("status") != "completed":
            raise RuntimeError(f"case {case['id']} ended {answer.get('status')}, not completed")
        if record:
            self.start_lat += starts
            self.complete_lat += completes
            self.case_lat.append(time.perf_counter() - t_case)
            self.cases += 1

    def run_until(self, deadline: float, barrier: threading.Barrier) -> None:
        barrier.wait()
        while time.perf_counter() < deadline:
            try:
                self.one_case()
            except Exception as exc:  # keep measuring; the JSON reports the errors
                self.errors.append(f"{exc.__class__.__name__}: {exc}"[:400])
                if isinstance(exc, (ConnectionError, OSError)) and not isinstance(exc, HttpError):
                    self.client.close()
                    time.sleep(0.05)
                if len(self.errors) > 200:
                    return


def proc_cpu_seconds(pid: int) -> float | None:
    """User+system CPU of a process and its reaped children, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(x) for x in fields[11:15]) / ticks


def stack_cpu(stack: Stack) -> dict[str, float | None]:
    return {" ".join(p.args[:1]): proc_cpu_seconds(p.proc.pid) if p.proc else None
            for p in stack.processes}


def measure(stack: Stack, token: str, clients: int, seconds: float,
            bare_cps: float) -> dict[str, Any]:
    log(f"[{stack.kind}] {clients} client(s) for {seconds:.0f} s")
    runners = [CaseRunner(stack.port, token) for _ in range(clients)]
    for r in runners:  # open the connections and warm each one up
        r.one_case(record=False)
    barrier = threading.Barrier(clients + 1)
    cpu_before = stack_cpu(stack)
    machine = CpuMeter()
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    deadline = start + seconds
    threads = [threading.Thread(target=r.run_until, args=(deadline, barrier), daemon=True)
               for r in runners]
    for t in threads:
        t.start()
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    machine_busy = machine.busy_percent()
    cpu_after = stack_cpu(stack)
    self_after = resource.getrusage(resource.RUSAGE_SELF)
    for r in runners:
        r.client.close()
    stack.check_alive()
    cases = sum(r.cases for r in runners)
    errors = [e for r in runners for e in r.errors]
    cps = cases / elapsed if elapsed else 0.0
    server_cpu = {k: (round(cpu_after[k] - v, 3) if v is not None and cpu_after.get(k) is not None
                      else None) for k, v in cpu_before.items()}
    serve_cpu = server_cpu.get("serve")
    result = {
        "stack": stack.kind,
        "clients": clients,
        "cases": cases,
        "seconds": round(elapsed, 3),
        "cases_per_s": round(cps, 2),
        "ratio_to_bare": round(cps / bare_cps, 4) if bare_cps else None,
        "requests_per_s": round(cases * 3 / elapsed, 1) if elapsed else None,
        "latency": {
            "start": latency_summary([x for r in runners for x in r.start_lat]),
            "complete": latency_summary([x for r in runners for x in r.complete_lat]),
            "case": latency_summary([x for r in runners for x in r.case_lat]),
        },
        "cpu_seconds": {
            **server_cpu,
            "bench_client": round((self_after.ru_utime + self_after.ru_stime)
                                  - (self_before.ru_utime + self_before.ru_stime), 3),
        },
        "machine_cpu_busy_percent": machine_busy,
        "serve_cpu_ms_per_case": round(serve_cpu / cases * 1000, 3)
        if serve_cpu is not None and cases else None,
        "errors": len(errors),
        "first_errors": errors[:5],
    }
    log(f"[{stack.kind}] {clients} client(s): {cps:.1f} cases/s "
        f"({result['ratio_to_bare']} x bare), errors {len(errors)}")
    return result


def run_stack(kind: str, client_counts: list[int], seconds: float, warmup_cases: int,
              bare_cps: float) -> dict[str, Any]:
    out: dict[str, Any] = {"stack": kind, "runs": []}
    stack = Stack(kind)
    try:
        stack.start()
        out["info"] = dict(stack.info)
        token = login(stack.port)
        admin = Client(stack.port, token)
        models = deploy(admin, MODEL)
        admin.close()
        out["deployed"] = [(m["process_id"], m["version"]) for m in models]
        log(f"[{kind}] deployed {out['deployed']}; warming up with {warmup_cases} cases")
        warm = CaseRunner(stack.port, token)
        for _ in range(warmup_cases):
            warm.one_case(record=False)
        warm.client.close()
        idle_before = stack_cpu(stack)
        time.sleep(3)
        idle_after = stack_cpu(stack)
        out["idle_cpu_percent"] = {
            k: (round((idle_after[k] - v) / 3 * 100, 1) if v is not None
                and idle_after.get(k) is not None else None) for k, v in idle_before.items()}
        for clients in client_counts:
            out["runs"].append(measure(stack, token, clients, seconds, bare_cps))
    except Exception as exc:
        log(f"[{kind}] failed: {exc}")
        out["error"] = f"{exc.__class__.__name__}: {exc}"[:4000]
        out["traceback"] = traceback.format_exc()[-4000:]
        if stack.processes:
            out["serve_log_tail"] = stack.serve.log()[-3000:]
    finally:
        stack.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, a smoke run")
    parser.add_argument("--seconds", type=float, help="measuring time per Virta run")
    parser.add_argument("--stacks", default="embedded,postgres_redis",
                        help="comma-separated: embedded, postgres_redis")
    parser.add_argument("--clients", default="1,8", help="comma-separated client counts")
    args = parser.parse_args()

    seconds = args.seconds or (3.0 if args.quick else 20.0)
    bare_seconds = 1.5 if args.quick else 3.0
    warmup = 5 if args.quick else 30
    client_counts = [int(x) for x in args.clients.split(",") if x.strip()]
    stacks = [s.strip() for s in args.stacks.split(",") if s.strip()]

    result: dict[str, Any] = {
        "benchmark": "throughput",
        "mode": "quick" if args.quick else "full",
        "machine": machine_info(),
        "versions": versions(),
        "model": str(MODEL.relative_to(MODEL.parents[2])),
        "case": "POST /api/process-instances, then POST /api/tasks/{id}/complete twice "
                "(3 requests per case); latency is client-side per request",
    }
    t_all = time.perf_counter()
    bare = bare_baseline(bare_seconds, 200 if args.quick else 1000)
    result["bare"] = bare
    log(f"[bare] {bare['cases_per_s']} cases/s; serialize+deserialize "
        f"{bare['serialize_deserialize_ms']['p50']} ms")
    result["virta"] = [run_stack(kind, client_counts, seconds, warmup, bare["cases_per_s"])
                       for kind in stacks]

    seq = next((r for s in result["virta"] if s["stack"] == "embedded"
                for r in s.get("runs", []) if r["clients"] == 1), None)
    ratio = seq["ratio_to_bare"] if seq else None
    result["goals"] = {
        "sequential_embedded_ge_0_10_x_bare": {
            "ok": bool(ratio is not None and ratio >= GOAL_SEQUENTIAL_RATIO
                       and seq["errors"] == 0),
            "target_ratio": GOAL_SEQUENTIAL_RATIO,
            "measured_ratio": ratio,
            "embedded_sequential_cases_per_s": seq["cases_per_s"] if seq else None,
            "bare_cases_per_s": bare["cases_per_s"],
        },
    }
    result["summary"] = [
        {"stack": s["stack"], "clients": r["clients"], "cases_per_s": r["cases_per_s"],
         "ratio_to_bare": r["ratio_to_bare"],
         "start_p50_p95_p99_ms": [r["latency"]["start"][k] for k in ("p50_ms", "p95_ms",
                                                                      "p99_ms")],
         "complete_p50_p95_p99_ms": [r["latency"]["complete"][k] for k in ("p50_ms", "p95_ms",
                                                                            "p99_ms")],
         "errors": r["errors"]}
        for s in result["virta"] for r in s.get("runs", [])
    ]
    result["total_seconds"] = round(time.perf_counter() - t_all, 1)
    result["loadavg_at_end"] = loadavg()
    emit(result)


if __name__ == "__main__":
    main()
