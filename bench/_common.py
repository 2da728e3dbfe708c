"""Shared helpers of the benchmark scripts in bench/ (not a test module, not product code).

The scripts run from the repository root (`.venv/bin/python bench/throughput.py`); this module
puts the root on `sys.path` so that `tests.processes` and `tests.services` can be reused to run
`virta serve|worker|scheduler` and throwaway PostgreSQL/Redis servers.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import shutil
import socket
import sqlite3
import sys
import tempfile
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
DATA = BENCH / "data"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.processes import VirtaProcess, virta_env, wait_healthy  # noqa: E402
from tests.services import PostgresServer, RedisServer, free_port  # noqa: E402

ADMIN_USER = "bench-admin"
ADMIN_PASSWORD = "bench-admin-password"


def log(*parts: Any) -> None:
    """Progress goes to stderr; stdout carries only the final JSON object."""
    print(*parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- machine and versions


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    load = None
    with suppress(OSError):
        load = [round(x, 2) for x in os.getloadavg()]
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "loadavg_at_start": load,
    }


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


class CpuMeter:
    """Machine-wide CPU use between two points, from /proc/stat (other work on the machine
    shows up here: benchmarks on a shared 2-core box are noisy)."""

    def __init__(self) -> None:
        self.start = self._read()

    @staticmethod
    def _read() -> tuple[int, int] | None:
        try:
            with open("/proc/stat") as f:
                values = [int(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        return sum(values), idle

    def busy_percent(self) -> float | None:
        end = self._read()
        if self.start is None or end is None or end[0] == self.start[0]:
            return None
        total, idle = end[0] - self.start[0], end[1] - self.start[1]
        return round(100 * (total - idle) / total, 1)


def versions() -> dict[str, Any]:
    names = ("virta", "SpiffWorkflow", "fastapi", "starlette", "uvicorn", "SQLAlchemy",
             "psycopg", "dramatiq", "redis", "httpx", "pydantic")
    out: dict[str, Any] = {name: _version(name) for name in names}
    out["sqlite"] = sqlite3.sqlite_version
    return out


# ---------------------------------------------------------------- statistics


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def latency_summary(seconds: list[float]) -> dict[str, Any]:
    """p50/p95/p99/mean/max in milliseconds, and the sample count."""
    ms = [s * 1000 for s in seconds]

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 3)

    return {
        "n": len(ms),
        "p50_ms": r(percentile(ms, 50)),
        "p95_ms": r(percentile(ms, 95)),
        "p99_ms": r(percentile(ms, 99)),
        "mean_ms": r(sum(ms) / len(ms)) if ms else None,
        "max_ms": r(max(ms)) if ms else None,
    }


# ---------------------------------------------------------------- HTTP client


class HttpError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, body: bytes) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {body[:500]!r}")
        self.status = status


class Client:
    """A keep-alive HTTP/1.1 client on one connection (http.client: little client overhead)."""

    def __init__(self, port: int, token: str | None = None, timeout: float = 60) -> None:
        self.port = port
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def request(self, method: str, path: str, body: Any = None, *,
                raw: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
        payload = raw if raw is not None else (
            None if body is None else json.dumps(body).encode())
        hdrs = dict(self.headers)
        if headers:
            hdrs.update(headers)
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = self._connect()
            try:
                self.conn.request(method, path, body=payload, headers=hdrs)
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed an idle keep-alive connection: reconnect once.
                self.close()
                if attempt == 2:
                    raise
        if resp.status >= 300:
            raise HttpError(method, path, resp.status, data)
        if resp.getheader("connection", "").lower() == "close":
            self.close()
        return json.loads(data) if data else None

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body)

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def close(self) -> None:
        if self.conn is not None:
            with suppress(Exception):
                self.conn.close()
            self.conn = None


def login(port: int, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> str:
    anon = Client(port)
    try:
        return anon.post("/api/auth/token",
                         {"username": username, "password": password})["access_token"]
    finally:
        anon.close()


def deploy(client: Client, *paths: Path) -> list[dict[str, Any]]:
    """POST /api/process-models with multipart field `files`."""
    boundary = uuid.uuid4().hex
    parts = []
    for path in paths:
        parts.append(
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
            f"filename=\"{path.name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            .encode() + path.read_bytes() + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    answer = client.request("POST", "/api/process-models", raw=body, headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    return answer["process_models"]


# ---------------------------------------------------------------- servers


@dataclass
class Stack:
    """`virta serve` (and, with Redis, `virta worker` and `virta scheduler`) in a temp dir."""

    kind: str  # "embedded" (SQLite, no Redis) or "postgres_redis"
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="virta-bench-")))
    port: int = 0
    processes: list[VirtaProcess] = field(default_factory=list)
    postgres: PostgresServer | None = None
    redis: RedisServer | None = None
    sqlite_path: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def serve(self) -> VirtaProcess:
        return self.processes[0]

    def start(self) -> Stack:
        # Only the reference data of the repository; no process models are deployed at start.
        processes_dir = self.tmp / "processes"
        processes_dir.mkdir()
        ref = ROOT / "processes" / "reference"
        if ref.is_dir():
            shutil.copytree(ref, processes_dir / "reference")
        forms_dir = self.tmp / "forms"
        forms_dir.mkdir()
        env: dict[str, Any] = dict(VIRTA_ADMIN_USER=ADMIN_USER,
                                   VIRTA_ADMIN_PASSWORD=ADMIN_PASSWORD,
                                   VIRTA_PROCESSES_DIR=processes_dir, VIRTA_FORMS_DIR=forms_dir)
        if self.kind == "embedded":
            self.sqlite_path = self.tmp / "virta.db"
            env["VIRTA_DATABASE_URL"] = f"sqlite:///{self.sqlite_path}"
        elif self.kind == "postgres_redis":
            log(f"[{self.kind}] starting PostgreSQL and Redis")
            self.postgres = PostgresServer().start()
            self.redis = RedisServer().start()
            env["VIRTA_DATABASE_URL"] = self.postgres.url
            env["VIRTA_REDIS_URL"] = self.redis.url
            with self.postgres.connect() as conn:
                self.info["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
            with suppress(Exception):
                client = self.redis.client()
                self.info["redis_server"] = client.info("server").get("redis_version")
                client.close()
        else:
            raise ValueError(self.kind)
        env_full = virta_env(**env)
        self.port = free_port()
        log(f"[{self.kind}] starting virta serve on 127.0.0.1:{self.port} in {self.tmp}")
        self.processes.append(VirtaProcess(["serve", "--host", "127.0.0.1", "--port",
                                            str(self.port)], env=env_full, cwd=self.tmp,
                                           name="serve").start())
        wait_healthy(f"http://127.0.0.1:{self.port}", self.serve, timeout=120)
        if self.kind == "postgres_redis":
            # After serve has applied the migrations.
            self.processes.append(VirtaProcess(["worker"], env=env_full, cwd=self.tmp,
                                               name="worker").start())
            self.processes.append(VirtaProcess(["scheduler"], env=env_full, cwd=self.tmp,
                                               name="scheduler").start())
            time.sleep(2)
            for proc in self.processes[1:]:
                if not proc.alive():
                    raise RuntimeError(f"virta {proc.args[0]} exited:\n{proc.log()[-3000:]}")
        self.info["processes"] = [" ".join(["virta", *p.args]) for p in self.processes]
        return self

    def check_alive(self) -> None:
        for proc in self.processes:
            if not proc.alive():
                raise RuntimeError(f"virta {proc.args[0]} exited:\n{proc.log()[-3000:]}")

    def stop(self) -> None:
        for proc in reversed(self.processes):
            with suppress(Exception):
                proc.stop()
        if self.redis is not None:
            with suppress(Exception):
                self.redis.stop()
        if self.postgres is not None:
            with suppress(Exception):
                self.postgres.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def emit(result: dict[str, Any]) -> None:
    """Print the one JSON object of the run to stdout."""
    sys.stdout.write(json.dumps(result, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()
