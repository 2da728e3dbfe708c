"""Memory of `virta serve` (embedded default) while it runs many cases of the two-lane model.

Run from the repository root:

    .venv/bin/python bench/memory.py            # 10 000 cases (several minutes)
    .venv/bin/python bench/memory.py --quick    # 1 000 cases
    .venv/bin/python bench/memory.py --cases 20000 --clients 4

The server's resident set size (VmRSS) and its peak (VmHWM) are read from /proc/PID/status
before the first case, after every tenth of the cases, and once more after an idle pause. One
JSON object goes to stdout at the end; progress goes to stderr. See bench/README.md.

**Goal** (issue 7): `virta serve` stays under 300 MB RSS after 10 000 cases
(`goals.rss_le_300_mb_after_n_cases`; met only when N >= 10 000).
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

from _common import DATA, Client, Stack, deploy, emit, log, login, machine_info, versions
from throughput import CaseRunner

MODEL = DATA / "two_lane_bench.bpmn"
GOAL_MB = 300.0
GOAL_CASES = 10_000


def proc_memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) of a process, in MB (MiB), from /proc/PID/status."""
    out: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = round(int(value.split()[0]) / 1024, 1)  # kB
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 000 cases")
    parser.add_argument("--cases", type=int, help="cases to run (default 10 000)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    args = parser.parse_args()
    n = args.cases or (1000 if args.quick else GOAL_CASES)

    result: dict[str, Any] = {"benchmark": "memory", "mode": "quick" if args.quick else "full",
                              "machine": machine_info(), "versions": versions(),
                              "cases": n, "clients": args.clients, "samples": []}
    with Stack("embedded") as stack:
        pid = stack.serve.proc.pid
        token = login(stack.port)
        admin = Client(stack.port, token)
        deploy(admin, MODEL)
        admin.close()
        result["samples"].append({"cases": 0, **proc_memory_mb(pid)})
        log(f"[memory] before: {result['samples'][0]}")
        lock = threading.Lock()
        done = 0
        errors: list[str] = []
        step = max(1, n // 10)
        next_sample = step
        t0 = time.perf_counter()

        def client() -> None:
            nonlocal done, next_sample
            runner = CaseRunner(stack.port, token)
            try:
                while True:
                    with lock:
                        if done >= n:
                            return
                        done += 1
                    try:
                        runner.one_case(record=False)
                    except Exception as exc:  # reported, the run goes on
                        errors.append(f"{exc.__class__.__name__}: {exc}"[:300])
                    with lock:
                        if done >= next_sample:
                            next_sample += step
                            sample = {"cases": done,
                                      "seconds": round(time.perf_counter() - t0, 1),
                                      **proc_memory_mb(pid)}
                            result["samples"].append(sample)
                            log(f"[memory] {sample}")
            finally:
                runner.client.close()

        threads = [threading.Thread(target=client, daemon=True) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        time.sleep(5)
        stack.check_alive()
        after = {"cases": n, "after_idle_s": 5, **proc_memory_mb(pid)}
        result["samples"].append(after)
        result["seconds"] = round(elapsed, 1)
        result["cases_per_s"] = round(n / elapsed, 2)
        result["errors"] = len(errors)
        result["first_errors"] = errors[:5]
    rss = after.get("VmRSS")
    result["goals"] = {
        "rss_le_300_mb_after_n_cases": {
            "ok": bool(rss is not None and rss <= GOAL_MB and n >= GOAL_CASES and not errors),
            "target_mb": GOAL_MB, "target_cases": GOAL_CASES, "cases": n,
            "rss_mb_after": rss, "peak_rss_mb": after.get("VmHWM"),
            "rss_mb_before": result["samples"][0].get("VmRSS"),
        },
    }
    emit(result)


if __name__ == "__main__":
    main()
