"""Virta's own commands as real OS processes, for tests that cross process boundaries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.services import free_port

VIRTA = Path(sys.executable).with_name("virta")


class VirtaProcess:
    """One `virta ...` command running in the background, with its output in a log file."""

    def __init__(self, args: list[str], *, env: dict[str, str], cwd: Path, name: str) -> None:
        self.args = args
        self.env = env
        self.cwd = cwd
        self.log_path = cwd / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> VirtaProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([str(VIRTA), *self.args], env=self.env, cwd=self.cwd,
                                     stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL the whole process group: no cleanup runs."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.kill9()


def virta_env(**overrides: Any) -> dict[str, str]:
    """The environment for a Virta process: this one's, minus any VIRTA_* of the developer."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTA_")}
    env.update({k: str(v) for k, v in overrides.items() if v is not None})
    return env


def wait_healthy(url: str, process: VirtaProcess, timeout: float = 60) -> None:
    """Wait until `GET /api/health` answers 200; fail with the process's log otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise AssertionError(f"virta exited early:\n{process.log()}")
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"virta did not answer in {timeout} s:\n{process.log()}")


@contextmanager
def embedded_server(tmp_path: Path, *, processes: Path | None = None,
                    forms: Path | None = None) -> Iterator[str]:
    """`virta serve` on SQLite in `tmp_path` with admin root/root-password; yields its URL."""
    port = free_port()
    env = virta_env(VIRTA_DATABASE_URL=f"sqlite:///{tmp_path / 'virta.db'}",
                    VIRTA_ADMIN_USER="root", VIRTA_ADMIN_PASSWORD="root-password",
                    VIRTA_PROCESSES_DIR=processes or tmp_path, VIRTA_FORMS_DIR=forms or tmp_path)
    server = VirtaProcess(["serve", "--port", str(port)], env=env, cwd=tmp_path,
                          name="serve").start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, server)
        yield url
    finally:
        server.stop()


def login(url: str, username: str, password: str) -> httpx.Client:
    """An HTTP client with a bearer token."""
    token = httpx.post(f"{url}/api/auth/token",
                       json={"username": username, "password": password}).json()
    return httpx.Client(base_url=url, timeout=30,
                        headers={"Authorization": f"Bearer {token['access_token']}"})
