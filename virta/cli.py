"""The `virta` command (CONTRACT.md "Commands")."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import signal
import sys
from pathlib import Path

from engine import accounts, audit, deploy, migrate
from engine.bootstrap import bootstrap
from engine.db import get_database
from engine.errors import DeploymentInvalid, VirtaError
from engine.settings import get_settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.main import create_app

    settings = get_settings()
    migrate.upgrade()
    db = get_database()
    bootstrap(db, settings)
    if args.demo:
        from engine.demo import load_demo

        print(load_demo(db))
    app = create_app(db)
    stop = None
    if not settings.redis_url:
        from workers.embedded import start_embedded

        stop = start_embedded(db, settings)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    finally:
        if stop is not None:
            stop()
    return 0


def _worker(args: argparse.Namespace) -> int:
    settings = get_settings()
    if not settings.redis_url:
        print("error: virta worker needs VIRTA_REDIS_URL (virta serve runs its own worker "
              "without it)", file=sys.stderr)
        return 2
    command = [sys.executable, "-m", "dramatiq", "workers.main",
               "--processes", str(args.processes), "--threads", str(args.threads)]
    os.execv(sys.executable, command)
    return 0  # not reached


def _scheduler(_args: argparse.Namespace) -> int:
    import dramatiq

    from workers import actors
    from workers.broker import make_broker
    from workers.scheduler import Scheduler

    settings = get_settings()
    db = get_database()
    broker = make_broker(settings)
    actors.configure(db, settings)
    declared = actors.declare(broker)
    worker = None
    if not settings.redis_url:  # no broker to share: do the work here too
        worker = dramatiq.Worker(broker, worker_threads=4)
        worker.start()
    scheduler = Scheduler(db, settings, declared)
    signal.signal(signal.SIGTERM, lambda *_: scheduler.stop())
    try:
        scheduler.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if worker is not None:
            worker.stop()
    return 0


def _db_upgrade(_args: argparse.Namespace) -> int:
    migrate.upgrade()
    print("database is up to date")
    return 0


def _deploy(args: argparse.Namespace) -> int:
    files = [(Path(f).name, Path(f).read_bytes()) for f in args.files]
    db = get_database()
    try:
        versions = db.unit_of_work(lambda s: [
            (pv.process_id, pv.version) for pv in deploy.deploy(s, files, actor="cli")])
    except DeploymentInvalid as exc:
        for p in exc.problems:
            where = ":".join(str(x) for x in (p["file"], p["line"]) if x)
            element = f" [{p['element_id']}]" if p.get("element_id") else ""
            print(f"{where}{element}: {p['message']}", file=sys.stderr)
        return 1
    for process_id, version in versions:
        print(f"{process_id} version {version}")
    return 0


def _user_add(args: argparse.Namespace) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
    db = get_database()
    db.unit_of_work(lambda s: accounts.ensure_reference_teams(s))
    db.unit_of_work(lambda s: accounts.create_user(
        s, username=args.name, password=password, roles=args.role, teams=args.team or [],
        actor="cli"), retries=0)
    print(f"user {args.name} created")
    return 0


def _audit_verify(_args: argparse.Namespace) -> int:
    db = get_database()
    with db.reading() as session:
        broken = audit.verify_chain(session)
    if broken is not None:
        print(f"audit trail broken at event {broken.event_id} (case {broken.instance_id}): "
              f"{broken.reason}", file=sys.stderr)
        return 1
    print("audit trail intact")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `virta`."""
    parser = argparse.ArgumentParser(prog="virta", description="Virta BPMN workflow platform")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the API and pages (embedded default)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true", help="add demo users and sample cases")
    serve.set_defaults(fn=_serve)
    worker = sub.add_parser("worker", help="run Dramatiq worker processes (needs Redis)")
    worker.add_argument("--processes", type=int, default=2)
    worker.add_argument("--threads", type=int, default=4)
    worker.set_defaults(fn=_worker)
    sub.add_parser("scheduler", help="run the timer and outbox scheduler").set_defaults(
        fn=_scheduler)
    db = sub.add_parser("db", help="database commands")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply migrations").set_defaults(fn=_db_upgrade)
    dep = sub.add_parser("deploy", help="deploy BPMN/DMN/form files")
    dep.add_argument("files", nargs="+")
    dep.set_defaults(fn=_deploy)
    user = sub.add_parser("user", help="user commands")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="create a user")
    add.add_argument("name")
    add.add_argument("--role", action="append", required=True,
                     choices=sorted(accounts.ROLES))
    add.add_argument("--team", action="append")
    add.add_argument("--password-stdin", action="store_true")
    add.set_defaults(fn=_user_add)
    aud = sub.add_parser("audit", help="audit trail commands")
    aud_sub = aud.add_subparsers(dest="audit_command", required=True)
    aud_sub.add_parser("verify", help="check the hash chain").set_defaults(fn=_audit_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `virta` console script."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except VirtaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
