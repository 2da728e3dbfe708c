"""Real, throwaway servers for the tests: PostgreSQL and Redis.

No pytest fixtures live here; ``tests/conftest.py`` builds them on top of these
helpers. Typical use::

    try:
        pg = PostgresServer().start()
    except ServiceUnavailable as exc:
        require("postgresql", str(exc))
    ...
    pg.stop()

Both servers are also context managers. Every server lives in its own
temporary directory, below ``$VIRTA_TEST_TMP`` when that is set (scripts/test
sets it and stops anything left running there when it exits), otherwise below
the system temp dir. Servers still running when the interpreter exits are
stopped by an ``atexit`` hook.

PostgreSQL's ``initdb`` and ``postgres`` refuse to run as root. As root, the
server's directory is handed to the ``postgres`` OS user (created by Debian's
package; a system user ``virta-pg`` is created if it is missing) and
``initdb``/``pg_ctl`` run through ``runuser -u USER --`` (or ``su``).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import psycopg
import redis
from psycopg import sql

__all__ = [
    "PostgresServer",
    "RedisServer",
    "ServiceStartError",
    "ServiceUnavailable",
    "find_postgres_binaries",
    "find_redis_server",
    "free_port",
    "require",
]

PG_LIB_GLOB = "/usr/lib/postgresql/*/bin"
PG_BINARIES = ("initdb", "pg_ctl", "postgres")
REDIS_FALLBACKS = ("/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server")
PG_FALLBACK_OS_USER = "virta-pg"


class ServiceUnavailable(RuntimeError):
    """A server's binaries (or the means to run them) are not on this machine."""

    def __init__(self, component: str, reason: str) -> None:
        super().__init__(f"{component}: {reason}")
        self.component = component
        self.reason = reason


class ServiceStartError(RuntimeError):
    """The binaries exist but the server could not be started."""


def require(component: str, reason: str) -> None:
    """Fail under CI (``CI=true``), skip the calling test otherwise.

    Call it where a needed component is missing; it never returns.
    """
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"{component} missing in CI: {reason}")
    import pytest

    pytest.skip(f"{component} not available: {reason}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _base_tmp() -> str | None:
    base = os.environ.get("VIRTA_TEST_TMP")
    if base:
        os.makedirs(base, exist_ok=True)
        return base
    return None


def _clean_env() -> dict[str, str]:
    """The environment for server processes, without libpq's PG* settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


# ---------------------------------------------------------------------------
# Server registry: stop whatever is still running at interpreter exit
# ---------------------------------------------------------------------------
_running: set[Any] = set()


@atexit.register
def _stop_all() -> None:
    for server in list(_running):
        with contextlib.suppress(Exception):
            server.stop()


# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------
def _version_key(bindir: str) -> tuple[int, ...]:
    version = Path(bindir).parent.name  # /usr/lib/postgresql/<ver>/bin
    return tuple(int(part) for part in re.findall(r"\d+", version)) or (0,)


def find_postgres_binaries(
    path: str | None = None, lib_glob: str = PG_LIB_GLOB
) -> dict[str, str]:
    """Paths of initdb, pg_ctl and postgres.

    Looks on PATH (or ``path``) first, then in Debian's
    /usr/lib/postgresql/<ver>/bin, highest version first. Raises
    ServiceUnavailable when no complete set is found.
    """
    found = {name: shutil.which(name, path=path) for name in PG_BINARIES}
    if all(found.values()):
        return {name: os.path.realpath(p) for name, p in found.items() if p}
    for bindir in sorted(glob.glob(lib_glob), key=_version_key, reverse=True):
        candidates = {name: os.path.join(bindir, name) for name in PG_BINARIES}
        if all(os.access(p, os.X_OK) for p in candidates.values()):
            return candidates
    missing = [name for name, p in found.items() if not p]
    raise ServiceUnavailable(
        "postgresql",
        f"{', '.join(missing)} not found on PATH nor in {lib_glob} "
        "(install the Debian package 'postgresql')",
    )


def _pg_os_user() -> pwd.struct_passwd | None:
    """The OS user to run PostgreSQL as: None unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", PG_FALLBACK_OS_USER):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    result = subprocess.run(
        [useradd, "--system", "--no-create-home", "--home-dir", "/nonexistent",
         "--shell", "/usr/sbin/nologin", PG_FALLBACK_OS_USER],
        capture_output=True,
        text=True,
        check=False,
    )
    try:  # may also have been created meanwhile by a parallel test process
        return pwd.getpwnam(PG_FALLBACK_OS_USER)
    except KeyError:
        raise ServiceUnavailable(
            "postgresql",
            f"running as root and no 'postgres' OS user; useradd {PG_FALLBACK_OS_USER} "
            f"failed: {result.stderr.strip() or result.returncode}",
        ) from None


def _as_user(cmd: list[str], user: str | None) -> list[str]:
    if user is None:
        return cmd
    runuser = shutil.which("runuser") or next(
        (p for p in ("/usr/sbin/runuser", "/sbin/runuser") if os.access(p, os.X_OK)), None
    )
    if runuser:
        return [runuser, "-u", user, "--", *cmd]
    su = shutil.which("su") or "/bin/su"
    return [su, user, "-s", "/bin/sh", "-c", shlex.join(cmd)]


class PostgresServer:
    """A throwaway PostgreSQL server on 127.0.0.1 with trust authentication.

    ``url`` is the SQLAlchemy URL of the database ``virta`` (created at start),
    ``dsn`` the libpq one for psycopg.
    """

    def __init__(
        self,
        *,
        user: str = "virta",
        dbname: str = "virta",
        port: int | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.user = user
        self.dbname = dbname
        self.port: int | None = port
        self.startup_timeout = startup_timeout
        self.base_dir: Path | None = None
        self.data_dir: Path | None = None
        self.log_file: Path | None = None
        self._fixed_port = port is not None
        self._bins: dict[str, str] = {}
        self._os_user: str | None = None

    # -- URLs ---------------------------------------------------------------
    def url_for(self, dbname: str) -> str:
        """SQLAlchemy URL (psycopg 3 driver) of database ``dbname``."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def dsn_for(self, dbname: str) -> str:
        """libpq URL of database ``dbname``, for psycopg.connect()."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    @property
    def url(self) -> str:
        return self.url_for(self.dbname)

    @property
    def dsn(self) -> str:
        return self.dsn_for(self.dbname)

    @property
    def running(self) -> bool:
        return self in _running

    # -- lifecycle ------------------------------------------------------------
    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> PostgresServer:
        if self.running:
            return self
        self._bins = find_postgres_binaries()
        os_user = _pg_os_user()
        self._os_user = os_user.pw_name if os_user else None

        self.base_dir = Path(tempfile.mkdtemp(prefix="virta-pg-", dir=_base_tmp()))
        os.chmod(self.base_dir, 0o755)
        if os_user is not None:
            os.chown(self.base_dir, os_user.pw_uid, os_user.pw_gid)
        self.data_dir = self.base_dir / "data"
        self.log_file = self.base_dir / "postgres.log"
        _running.add(self)
        try:
            self._initdb()
            attempts = 1 if self._fixed_port else 3
            for attempt in range(attempts):
                if not self._fixed_port:
                    self.port = free_port()
                try:
                    self._pg_ctl_start()
                    break
                except ServiceStartError:
                    # Another process may have taken the port in between.
                    if attempt + 1 == attempts or "already in use" not in _tail(self.log_file):
                        raise
            self._wait_ready()
            self._create(self.dbname)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (``pg_ctl stop -m immediate``) and remove its files."""
        if self.data_dir is not None and (self.data_dir / "postmaster.pid").exists():
            result = self._run(
                [self._bins["pg_ctl"], "stop", "-D", str(self.data_dir), "-m", "immediate",
                 "-w", "-t", "30"],
                check=False,
            )
            if result.returncode != 0:
                self._kill_postmaster()
        _running.discard(self)
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = self.data_dir = self.log_file = None

    # -- databases ------------------------------------------------------------
    def connect(self, dbname: str = "postgres", **kwargs: Any) -> psycopg.Connection:
        """An autocommit psycopg connection (caller closes it)."""
        kwargs.setdefault("autocommit", True)
        kwargs.setdefault("connect_timeout", 5)
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname=dbname, **kwargs
        )

    def create_database(self, name: str) -> str:
        """Create database ``name``; returns its SQLAlchemy URL."""
        self._create(name)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    # -- internals ------------------------------------------------------------
    def _create(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def _run(self, cmd: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            _as_user(cmd, self._os_user),
            cwd=self.base_dir,
            env=_clean_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise ServiceStartError(
                f"{Path(cmd[0]).name} failed (exit {result.returncode}):\n"
                f"{result.stdout}{result.stderr}"
            )
        return result

    def _initdb(self) -> None:
        assert self.data_dir is not None
        self._run(
            [self._bins["initdb"], "-D", str(self.data_dir), "--auth=trust", "-U", self.user,
             "--encoding=UTF8", "--locale=C", "--no-sync"]
        )

    def _pg_ctl_start(self) -> None:
        assert self.data_dir is not None and self.base_dir is not None
        assert self.log_file is not None
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-p {self.port}",
                f"-k {shlex.quote(str(self.base_dir))}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ]
        )
        result = self._run(
            [self._bins["pg_ctl"], "start", "-D", str(self.data_dir), "-l", str(self.log_file),
             "-p", self._bins["postgres"], "-w", "-t", str(int(self.startup_timeout)),
             "-o", options],
            check=False,
        )
        if result.returncode != 0:
            raise ServiceStartError(
                f"pg_ctl start failed (exit {result.returncode}) on port {self.port}:\n"
                f"{result.stdout}{result.stderr}\n--- postgres log ---\n{_tail(self.log_file)}"
            )

    def _wait_ready(self) -> None:
        assert self.log_file is not None
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with self.connect(connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                last_error = exc
                time.sleep(0.1)
        raise ServiceStartError(
            f"PostgreSQL on port {self.port} did not accept connections within "
            f"{self.startup_timeout:.0f} s: {last_error}\n--- postgres log ---\n"
            f"{_tail(self.log_file)}"
        )

    def _kill_postmaster(self) -> None:
        assert self.data_dir is not None
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        for sig in (signal.SIGQUIT, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            for _ in range(50):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.1)


# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------
def find_redis_server(
    path: str | None = None, fallbacks: tuple[str, ...] = REDIS_FALLBACKS
) -> str:
    """Path of redis-server (PATH first); raises ServiceUnavailable."""
    found = shutil.which("redis-server", path=path)
    if found:
        return found
    for candidate in fallbacks:
        if os.access(candidate, os.X_OK):
            return candidate
    raise ServiceUnavailable(
        "redis-server",
        "redis-server not found on PATH nor in "
        f"{', '.join(fallbacks)} (install the Debian package 'redis-server')",
    )


class RedisServer:
    """A throwaway, non-persistent redis-server on 127.0.0.1."""

    def __init__(self, *, port: int | None = None, startup_timeout: float = 15.0) -> None:
        self.port: int | None = port
        self.startup_timeout = startup_timeout
        self.base_dir: Path | None = None
        self.log_file: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._fixed_port = port is not None
        self._binary = ""
        self._log_handle: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def client(self, **kwargs: Any) -> redis.Redis:
        """A redis client for this server (caller closes it)."""
        kwargs.setdefault("socket_timeout", 5)
        return redis.Redis(host="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> RedisServer:
        if self.running:
            return self
        self._binary = find_redis_server()
        if self.base_dir is None:
            self.base_dir = Path(tempfile.mkdtemp(prefix="virta-redis-", dir=_base_tmp()))
            self.log_file = self.base_dir / "redis.log"
        _running.add(self)
        try:
            attempts = 1 if self._fixed_port else 3
            for attempt in range(attempts):
                if not self._fixed_port:
                    self.port = free_port()
                try:
                    self._spawn()
                    break
                except ServiceStartError:
                    if attempt + 1 == attempts or "already in use" not in self._log_tail():
                        raise
        except BaseException:
            self.stop()
            raise
        return self

    def kill(self) -> None:
        """SIGKILL the server (a crash); its files and port stay reserved."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None
        self._close_log()

    def restart(self) -> RedisServer:
        """Crash the server (kill -9) and start it again on the same port."""
        if self.base_dir is None:
            raise RuntimeError("RedisServer.restart() before start()")
        self.kill()
        self._fixed_port = True
        self._spawn()
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        self._close_log()
        _running.discard(self)
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = self.log_file = None

    # -- internals ------------------------------------------------------------
    def _spawn(self) -> None:
        assert self.base_dir is not None and self.log_file is not None
        self._close_log()
        self._log_handle = open(self.log_file, "ab")  # kept open for the child
        self.process = subprocess.Popen(
            [
                self._binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "no",
                "--dir", str(self.base_dir),
                "--pidfile", str(self.base_dir / "redis.pid"),
            ],
            cwd=self.base_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise ServiceStartError(
                    f"redis-server exited with {code} on port {self.port}:\n{self._log_tail()}"
                )
            client = redis.Redis(
                host="127.0.0.1", port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5
            )
            try:
                if client.ping():
                    return
            except redis.RedisError as exc:
                last_error = exc
            finally:
                client.close()
            time.sleep(0.05)
        raise ServiceStartError(
            f"redis-server on port {self.port} did not answer PING within "
            f"{self.startup_timeout:.0f} s: {last_error}\n{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        return _tail(self.log_file) if self.log_file is not None else "(no log)"

    def _close_log(self) -> None:
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
