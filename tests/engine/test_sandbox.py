"""Malicious models are refused at deploy or contained at run time; the server stays up."""

from __future__ import annotations

import pytest

from engine import sandbox
from engine.scripting import script_engine
from tests.conftest import DATA, Api

MALICIOUS = DATA / "malicious"


@pytest.mark.parametrize("name, needle", [
    ("import_os", "import"),
    ("mro_escape", "__class__"),
    ("open_file", "open"),
    ("getattr_escape", "getattr"),
])
def test_a_model_with_forbidden_code_is_refused_at_deploy_naming_the_element(
        api: Api, name: str, needle: str) -> None:
    answer = api.deploy(MALICIOUS / f"{name}.bpmn", expect=422).json()
    [problem] = answer["detail"]
    assert problem["element_id"] == "evil" and problem["line"] == 7
    assert needle in problem["message"]
    assert api.get("/api/process-models").json() == []


@pytest.mark.parametrize("name, needle", [
    ("infinite_loop", "longer than"),
    ("huge_string", "too large"),
    ("huge_list", "too large"),
    ("huge_power", "too large"),
    ("huge_range", "too large"),
])
def test_a_model_that_misbehaves_at_run_time_stops_with_an_incident_and_the_server_lives(
        api: Api, name: str, needle: str) -> None:
    api.deploy(MALICIOUS / f"{name}.bpmn")
    case = api.start(name)
    assert case["status"] == "error"
    [incident] = api.get("/api/incidents", params={"instance_id": case["id"]}).json()
    assert incident["element_id"] == "evil"
    assert needle in incident["message"]
    assert api.get("/api/health").json()["status"] == "ok"


@pytest.mark.parametrize("name", ["xxe", "billion_laughs"])
def test_xml_with_entities_is_refused_and_nothing_is_read(api: Api, name: str) -> None:
    answer = api.deploy(MALICIOUS / f"{name}.bpmn", expect=422).json()
    [problem] = answer["detail"]
    assert problem["file"] == f"{name}.bpmn"
    assert "root:" not in problem["message"]  # /etc/passwd was not read into the answer
    assert api.get("/api/process-models").json() == []


def test_ordinary_scripts_run_with_the_contract_functions() -> None:
    data = {"n": 3, "items": [1, 2, 3]}
    script_engine.environment.execute(
        "total = sum(items)\nn += 1\nnames = [str(i) for i in items]\n"
        "due = add_business_days('2025-12-22', 5)\nd = {'a': 1}\nd['b'] = 2", data)
    assert data["total"] == 6 and data["n"] == 4 and data["names"] == ["1", "2", "3"]
    assert data["due"] == "2026-01-02" and data["d"] == {"a": 1, "b": 2}
    assert script_engine.environment.evaluate("'n' in globals() and n > 3", data) is True


def test_model_code_cannot_change_the_builtins_of_later_evaluations() -> None:
    with pytest.raises(KeyError):
        script_engine.environment.execute("globals()['__builtins__']['len'] = None", {})
    assert script_engine.environment.evaluate("len([1, 2])", {}) == 2


@pytest.mark.parametrize("code", [
    "__import__('os')", "().__class__", "(lambda: 1).__globals__", "eval('1')",
    "exec('x = 1')", "compile('1', 'x', 'eval')", "type(1).__subclasses__()",
])
def test_escape_attempts_do_not_compile_or_fail_when_called(code: str) -> None:
    if sandbox.problems(code, "eval"):
        return
    with pytest.raises(Exception) as caught:
        sandbox.SandboxEnvironment({}).evaluate(code, {})
    assert not isinstance(caught.value, SystemExit)
