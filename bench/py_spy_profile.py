"""Where a real `virta serve` spends its time, sampled from outside by py-spy (issue 7).

The throughput bench's case (start + complete twice, bench/data/two_lane_bench.bpmn) is driven
over HTTP by one client while `py-spy record` samples the server process (all its threads, idle
ones left out) at `--rate` Hz. Sampling does not slow the server down the way cProfile does, so
the shares are those of a normal run. The raw stacks are folded into:

* `by_package`: the share of busy samples whose innermost Python frame is in each package (time
  inside a C call is counted to the Python frame that made it, e.g. sqlite3's `execute` to
  SQLAlchemy's `do_execute`);
* `inclusive`: the share of busy samples with a frame of the given Virta function anywhere on
  the stack (a request's route, the unit of work, loading and saving a case, ...);
* `top_self`: the innermost frames seen most often;
* `ms_per_case`: busy samples / rate / cases, in total and per package.

    .venv/bin/python bench/py_spy_profile.py [--seconds 20] [--rate 250] [--stack embedded]

Needs py-spy (`pip install py-spy`; it reads the server's memory, so it must be allowed to
ptrace it: root, or kernel.yama.ptrace_scope = 0). Prints one JSON object; the raw folded stacks
are saved next to it with `--raw PATH`.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _common import Stack, deploy, emit, log, login, machine_info, versions
from throughput import MODEL, CaseRunner

#: First component of a frame's file path (py-spy shows paths from the site-packages or the
#: project root) -> package name.
PACKAGES = {
    "SpiffWorkflow": "SpiffWorkflow",
    "sqlalchemy": "SQLAlchemy (incl. the sqlite3/psycopg calls it makes)",
    "fastapi": "FastAPI", "starlette": "Starlette", "uvicorn": "uvicorn",
    "pydantic": "pydantic", "pydantic_core": "pydantic", "anyio": "anyio (thread pool hops)",
    "h11": "HTTP parsing (h11/httptools)", "httptools": "HTTP parsing (h11/httptools)",
    "jinja2": "Jinja2", "dramatiq": "Dramatiq", "redis": "redis client", "psycopg": "psycopg",
    "engine": "Virta engine/", "api": "Virta api/", "workers": "Virta workers/",
    "json": "json (stdlib)", "asyncio": "asyncio", "uuid.py": "uuid", "copy.py": "copy",
    "logging": "logging", "threading.py": "threading", "enum.py": "enum",
}
#: Innermost frames of a thread that waits (py-spy cannot always tell a thread blocked in C).
IDLE = ("Condition.wait", "Event.wait", "Runner.run", "_CtypesTimeoutManager.run",
        "BaseSelector.select", "EpollSelector.select", "Queue.get", "sleep", "WorkerThread.run")
#: Virta functions whose inclusive share is reported: (label, file fragment, function name).
INCLUSIVE = [
    ("route: start a case", "api/routes/process_instances.py", "start"),
    ("route: complete a task", "api/routes/tasks.py", "complete"),
    ("unit of work (transaction)", "engine/db.py", "Database.unit_of_work"),
    ("runner.start_case", "engine/runner.py", "start_case"),
    ("runner.complete_task", "engine/runner.py", "complete_task"),
    ("runner.open_case", "engine/runner.py", "open_case"),
    ("runner.advance (engine steps + save)", "engine/runner.py", "advance"),
    ("runner._save", "engine/runner.py", "_save"),
    ("state.dump_state (serialize)", "engine/state.py", "dump_state"),
    ("state.load_state (deserialize)", "engine/state.py", "load_state"),
    ("audit: hashing and writing events", "engine/audit.py", ""),
    ("views: the answer's case and tasks", "engine/views.py", ""),
    ("authentication (bearer token)", "api/deps.py", "get_principal"),
    ("event loop: HTTP, routing, validation (inside the headers middleware)",
     "api/security.py", ""),
    ("SpiffWorkflow do_engine_steps", "SpiffWorkflow/bpmn/workflow.py",
     "BpmnWorkflow.do_engine_steps"),
    ("transaction commit", "sqlalchemy/orm/session.py", "SessionTransaction.commit"),
]


def _frames(stack: str) -> list[tuple[str, str]]:
    """[(function, file), ...] outermost first, from one py-spy raw stack line."""
    frames = []
    for part in stack.split(";"):
        name, _, where = part.partition(" (")
        frames.append((name.strip(), where.rstrip(")")))
    return frames


def _package(file: str) -> str:
    return PACKAGES.get(file.split("/", 1)[0], "other")


def fold(raw: str, rate: float, cases: int) -> dict[str, Any]:
    """Aggregate py-spy's raw (collapsed) output into shares by package and function."""
    total = 0
    by_package: Counter[str] = Counter()
    top_self: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = _frames(stack)
        # py-spy puts the thread as the outermost "frame": skip anything without a file.
        frames = [(f, w) for f, w in frames if w]
        if not frames or frames[-1][0].startswith(IDLE):
            continue
        total += count
        function, where = frames[-1]
        by_package[_package(where)] += count
        top_self[f"{function} ({where})"] += count
        for label, fragment, name in INCLUSIVE:
            if any(fragment in w and (not name or f == name or f.startswith(name + "."))
                   for f, w in frames):
                inclusive[label] += count

    def share(n: int) -> float:
        return round(100 * n / total, 1) if total else 0.0

    def ms(n: int) -> float | None:
        return round(n / rate / cases * 1000, 3) if cases else None

    return {
        "busy_samples": total,
        "ms_per_case": ms(total),
        "by_package": [{"package": p, "percent": share(n), "ms_per_case": ms(n)}
                       for p, n in by_package.most_common()],
        "inclusive": [{"frame": label, "percent": share(inclusive[label]),
                       "ms_per_case": ms(inclusive[label])}
                      for label, _f, _n in INCLUSIVE],
        "top_self": [{"frame": frame, "percent": share(n)}
                     for frame, n in top_self.most_common(25)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--stack", default="embedded", choices=["embedded", "postgres_redis"])
    parser.add_argument("--raw", type=Path, help="also save py-spy's raw folded stacks here")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        sys.exit("py-spy is not installed: pip install py-spy")

    result: dict[str, Any] = {"benchmark": "py_spy_profile", "machine": machine_info(),
                              "versions": versions(), "stack": args.stack,
                              "rate_hz": args.rate, "case": "start + complete twice over HTTP, "
                              "one client (bench/data/two_lane_bench.bpmn)"}
    with Stack(args.stack) as stack:
        token = login(stack.port)
        runner = CaseRunner(stack.port, token)
        deploy(runner.client, MODEL)
        for _ in range(30):
            runner.one_case(record=False)
        out = Path(tempfile.mkdtemp(prefix="virta-py-spy-")) / "raw.txt"
        log(f"[py-spy] sampling `virta serve` (pid {stack.serve.proc.pid}) for "
            f"{args.seconds:.0f} s at {args.rate} Hz")
        spy = subprocess.Popen(
            [py_spy, "record", "--pid", str(stack.serve.proc.pid), "--rate", str(args.rate),
             "--duration", str(int(args.seconds)), "--format", "raw", "--output", str(out),
             "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)  # py-spy attaches
        deadline = time.perf_counter() + args.seconds - 1.5
        worker = threading.Thread(target=runner.run_until,
                                  args=(deadline, threading.Barrier(1)), daemon=True)
        worker.start()
        worker.join()
        _stdout, stderr = spy.communicate(timeout=args.seconds + 60)
        runner.client.close()
        if spy.returncode != 0 or not out.exists():
            sys.exit(f"py-spy failed ({spy.returncode}): {stderr[-2000:]}")
        raw = out.read_text()
        if args.raw:
            args.raw.write_text(raw)
        result["cases"] = runner.cases
        result["errors"] = len(runner.errors)
        result["profile"] = fold(raw, args.rate, runner.cases)
    emit(result)


if __name__ == "__main__":
    main()
