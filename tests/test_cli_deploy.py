"""`virta deploy FILE...`, run as the installed console script against a test database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from engine.db import Database
from engine.models import ProcessVersion
from tests.conftest import DATA

MODELS = DATA / "deploy"
VIRTA = Path(sys.executable).parent / "virta"


def _virta(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIRTA_DATABASE_URL": database_url}
    env.pop("VIRTA_REDIS_URL", None)
    return subprocess.run([str(VIRTA), *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def _versions(database_url: str) -> list[tuple[str, int, str | None]]:
    db = Database(database_url)
    try:
        with db.reading() as session:
            return [(pv.process_id, pv.version, pv.deployed_by) for pv in session.scalars(
                select(ProcessVersion).order_by(ProcessVersion.id))]
    finally:
        db.dispose()


def test_virta_deploy_prints_the_version_and_keeps_it_for_an_unchanged_file(
        database_url: str) -> None:
    model = str(MODELS / "simple.bpmn")

    first = _virta(database_url, "deploy", model)
    again = _virta(database_url, "deploy", model)

    assert (first.returncode, first.stdout) == (0, "simple version 1\n"), first.stderr
    assert (again.returncode, again.stdout) == (0, "simple version 1\n"), again.stderr
    assert _versions(database_url) == [("simple", 1, "cli")]


def test_virta_deploy_of_a_broken_file_exits_1_naming_file_line_and_problem(
        database_url: str) -> None:
    # Given a good model and one whose script task `greet` has a Python syntax error
    broken = MODELS / "script_syntax.bpmn"
    lines = broken.read_text().splitlines()
    [line] = [i for i, text in enumerate(lines, start=1) if 'id="greet"' in text]

    result = _virta(database_url, "deploy", str(MODELS / "simple.bpmn"), str(broken))

    assert result.returncode == 1
    assert result.stdout == ""
    assert f"script_syntax.bpmn:{line} [greet]: " in result.stderr
    assert "syntax error" in result.stderr
    assert _versions(database_url) == []
