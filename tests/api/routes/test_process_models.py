"""Deploying process models through `/api/process-models`: immutable versions, all-or-nothing
deployments, per-element problems, call activities across deployments, and who may deploy."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import DATA, Api

MODELS = DATA / "deploy"

#: The changed business rule of `versioned.bpmn`: another script result and gateway threshold.
V1_RULE = ('rule = "rule-1"', "amount &gt; 10")
V2_RULE = ('rule = "rule-2"', "amount &gt; 100")


def _read(name: str) -> bytes:
    return (MODELS / name).read_bytes()


def _versioned_v2() -> bytes:
    """`versioned.bpmn` with its script and gateway condition changed."""
    text = _read("versioned.bpmn").decode()
    for old, new in zip(V1_RULE, V2_RULE, strict=True):
        assert old in text
        text = text.replace(old, new)
    return text.encode()


def _amount_form_with_maximum(maximum: int) -> bytes:
    """`amount.schema.json`, same file name, with a maximum added to `amount`."""
    schema = json.loads(_read("amount.schema.json"))
    schema["properties"]["amount"]["maximum"] = maximum
    return json.dumps(schema).encode()


def _post(api: Api, *files: tuple[str, bytes], expect: int | None = 201) -> Any:
    """Deploy files given as (name, content) pairs in one request."""
    parts = [("files", (name, content, "application/octet-stream")) for name, content in files]
    return api.post("/api/process-models", expect, files=parts)


def _deploy(api: Api, *names: str, expect: int | None = 201) -> Any:
    return _post(api, *((name, _read(name)) for name in names), expect=expect)


def _line_of(name: str, text: str) -> int:
    """The 1-based line of a test model file that contains `text`."""
    lines = _read(name).decode().splitlines()
    [number] = [i for i, line in enumerate(lines, start=1) if text in line]
    return number


def _versions(api: Api, process_id: str) -> list[dict[str, Any]]:
    return api.get(f"/api/process-models/{process_id}/versions").json()


def _deployed(answer: Any) -> dict[str, int]:
    return {m["process_id"]: m["version"] for m in answer.json()["process_models"]}


def _end_event(api: Api, instance_id: int) -> str:
    """The end event a completed case reached, from its history."""
    events = api.get(f"/api/process-instances/{instance_id}/history").json()["events"]
    ends = [e["element_id"] for e in events
            if e["element_id"] and e["element_id"].startswith("end_")]
    assert len(ends) == 1, ends
    return ends[0]


def _enter_amount(api: Api, case: dict[str, Any], amount: int, expect: int = 200) -> Any:
    [task] = case["ready_tasks"]
    assert task["element_id"] == "enter_amount"
    return api.complete(task["id"], {"amount": amount}, expect=expect).json()


# --- versions ---------------------------------------------------------------------------------


def test_a_first_deployment_creates_version_1_with_who_when_and_hash(api: Api) -> None:
    answer = _deploy(api, "versioned.bpmn", "amount.schema.json")

    [model] = answer.json()["process_models"]
    assert (model["process_id"], model["version"], model["name"]) == (
        "versioned", 1, "Versioned process")
    [version] = _versions(api, "versioned")
    assert version["version"] == 1
    assert version["deployed_by"] == "admin"
    assert datetime.fromisoformat(version["deployed_at"]).tzinfo is not None
    assert len(version["content_hash"]) == 64
    assert [(m["process_id"], m["version"]) for m in api.get("/api/process-models").json()] == [
        ("versioned", 1)]


def test_deploying_unchanged_files_again_keeps_the_version(api: Api) -> None:
    first = _deploy(api, "versioned.bpmn", "amount.schema.json")

    again = _deploy(api, "versioned.bpmn", "amount.schema.json")

    assert _deployed(again) == {"versioned": 1}
    [version] = _versions(api, "versioned")
    assert version["content_hash"] == first.json()["process_models"][0]["content_hash"]


def test_changed_content_gets_the_next_version_recording_who_deployed_it(api: Api) -> None:
    # Given version 1, deployed by the admin
    _deploy(api, "versioned.bpmn", "amount.schema.json")
    owner = api.user("pauli", ["process_owner"], [])

    # When a process owner deploys a changed BPMN
    answer = _post(owner, ("versioned.bpmn", _versioned_v2()))

    # Then it is version 2, listed after version 1 with its deployer and another hash
    assert _deployed(answer) == {"versioned": 2}
    v1, v2 = _versions(api, "versioned")
    assert (v1["version"], v1["deployed_by"]) == (1, "admin")
    assert (v2["version"], v2["deployed_by"]) == (2, "pauli")
    assert v1["content_hash"] != v2["content_hash"]
    assert datetime.fromisoformat(v2["deployed_at"]) >= datetime.fromisoformat(v1["deployed_at"])
    [latest] = api.get("/api/process-models").json()
    assert latest["version"] == 2


def test_changing_only_a_form_gives_the_process_using_it_a_new_version(api: Api) -> None:
    # Given version 1 and a case started on it
    _deploy(api, "versioned.bpmn", "amount.schema.json")
    old_case = api.start("versioned")

    # When only the form is deployed again, with a changed content
    answer = _post(api, ("amount.schema.json", _amount_form_with_maximum(5)))

    # Then the process that uses the form gets version 2, with another hash
    assert _deployed(answer) == {"versioned": 2}
    v1, v2 = _versions(api, "versioned")
    assert v1["content_hash"] != v2["content_hash"]

    # And a new case validates against the new form, while the old case keeps the old one
    new_case = api.start("versioned")
    assert new_case["version"] == 2
    refused = _enter_amount(api, new_case, 50, expect=422)
    assert [d["field"] for d in refused["detail"]] == ["amount"]
    assert _enter_amount(api, old_case, 50)["status"] == "completed"

    # And deploying that same form again changes nothing
    again = _post(api, ("amount.schema.json", _amount_form_with_maximum(5)))
    assert _deployed(again) == {"versioned": 2}
    assert len(_versions(api, "versioned")) == 2


# --- running cases and versions ---------------------------------------------------------------


def test_a_running_case_keeps_the_logic_of_the_version_it_started_on(api: Api) -> None:
    # Given a case started on version 1 (amount > 10 is large, rule-1)
    _deploy(api, "versioned.bpmn", "amount.schema.json")
    old_case = api.start("versioned")
    assert old_case["version"] == 1

    # When version 2 changes the script and the gateway (amount > 100 is large, rule-2)
    assert _deployed(_post(api, ("versioned.bpmn", _versioned_v2()))) == {"versioned": 2}

    # Then the old case follows version 1 and a new case follows version 2
    new_case = api.start("versioned")
    assert new_case["version"] == 2
    old_done = _enter_amount(api, old_case, 50)
    new_done = _enter_amount(api, new_case, 50)
    assert (old_done["status"], old_done["version"], old_done["data"]["rule"]) == (
        "completed", 1, "rule-1")
    assert _end_event(api, old_case["id"]) == "end_large"
    assert (new_done["status"], new_done["version"], new_done["data"]["rule"]) == (
        "completed", 2, "rule-2")
    assert _end_event(api, new_case["id"]) == "end_small"


def test_a_case_can_be_started_on_an_older_version(api: Api) -> None:
    _deploy(api, "versioned.bpmn", "amount.schema.json")
    _post(api, ("versioned.bpmn", _versioned_v2()))

    case = api.start("versioned", version=1)

    assert case["version"] == 1
    done = _enter_amount(api, case, 50)
    assert done["data"]["rule"] == "rule-1"
    assert _end_event(api, case["id"]) == "end_large"
    api.post("/api/process-instances", 404, json={"process_id": "versioned", "version": 3})


# --- all or nothing ---------------------------------------------------------------------------


def test_a_deployment_with_one_broken_file_deploys_nothing(api: Api) -> None:
    answer = _deploy(api, "simple.bpmn", "script_syntax.bpmn", expect=422)

    assert [d["file"] for d in answer.json()["detail"]] == ["script_syntax.bpmn"]
    assert api.get("/api/process-models").json() == []
    api.get("/api/process-models/simple/versions", expect=404)


def test_a_broken_file_stops_a_changed_good_model_from_getting_a_new_version(api: Api) -> None:
    # Given simple version 1
    _deploy(api, "simple.bpmn")
    changed = _read("simple.bpmn").replace(b'greeting = "hello"', b'greeting = "hei"')

    # When its changed BPMN is deployed together with a broken file
    _post(api, ("simple.bpmn", changed), ("broken.schema.json", b'{"type": '), expect=422)

    # Then simple stays at version 1, and new cases run version 1
    assert [v["version"] for v in _versions(api, "simple")] == [1]
    case = api.start("simple")
    assert (case["version"], case["data"]["greeting"]) == (1, "hello")


# --- problems, per file and element -----------------------------------------------------------

BAD_MODELS = {
    # id: (files, file, element_id, line, words in the message)
    "garbage bytes instead of BPMN": (
        [("garbage.bpmn", b"\x89PNG\r\n\x1a\n\x00\x00 this is no XML")],
        "garbage.bpmn", None, 1, "not well-formed"),
    "XML that fails the BPMN XSD": (
        ["xsd_invalid.bpmn"], "xsd_invalid.bpmn", None,
        _line_of("xsd_invalid.bpmn", "<bpmn:incoming>s1"), "not expected"),
    "a sequence flow to a missing element": (
        ["dangling_flow.bpmn"], "dangling_flow.bpmn", "s2",
        _line_of("dangling_flow.bpmn", 'id="s2"'), "no_such_element"),
    "a script with a Python syntax error": (
        ["script_syntax.bpmn"], "script_syntax.bpmn", "greet",
        _line_of("script_syntax.bpmn", 'id="greet"'), "syntax error"),
    "a gateway condition with a syntax error": (
        ["condition_syntax.bpmn", "amount.schema.json"], "condition_syntax.bpmn", "is_large",
        _line_of("condition_syntax.bpmn", 'id="is_large"'), "syntax error"),
    "a user task whose form is not deployed": (
        ["missing_form.bpmn"], "missing_form.bpmn", "enter_amount",
        _line_of("missing_form.bpmn", 'id="enter_amount"'), "absent.schema.json"),
    "a form file that is not JSON": (
        [("broken.schema.json", b'{"type": ')], "broken.schema.json", None, 1, "JSON"),
    "a form that is not a JSON Schema": (
        [("bad.schema.json", b'{"type": 12}')], "bad.schema.json", None, None, "form"),
    "an unknown file extension": (
        [("notes.txt", b"hello")], "notes.txt", None, None, "unknown file type"),
    "a call activity to a process that exists nowhere": (
        ["calls_missing_process.bpmn"], "calls_missing_process.bpmn", "call_child",
        _line_of("calls_missing_process.bpmn", 'id="call_child"'), "nowhere_process"),
}


def test_each_bad_model_is_refused_naming_file_element_and_line(api: Api) -> None:
    # One database for all cases (keeps the test fast): each refusal must leave it empty
    wrong = {}
    for case, (files, file, element_id, line, words) in BAD_MODELS.items():
        upload = [(f, _read(f)) if isinstance(f, str) else f for f in files]

        answer = _post(api, *upload, expect=None)

        if answer.status_code != 422:
            wrong[case] = f"{answer.status_code} {answer.text}"
            continue
        problems = answer.json()["detail"]
        expected = {"file": file, "element_id": element_id, "line": line}
        if (len(problems) != 1 or set(problems[0]) != {*expected, "message"}
                or {k: problems[0][k] for k in expected} != expected
                or words.lower() not in problems[0]["message"].lower()):
            wrong[case] = f"expected {expected} and {words!r}, got {problems}"
        if api.get("/api/process-models").json() != []:
            wrong[case] = "something was deployed"
            break
    assert wrong == {}


def test_an_empty_deployment_is_refused(api: Api) -> None:
    answer = api.post("/api/process-models", 422, files=[]).json()

    assert answer["detail"] and all(d["message"] for d in answer["detail"])
    assert api.get("/api/process-models").json() == []


# --- call activities across deployments -------------------------------------------------------


def test_a_call_activity_may_call_a_process_deployed_earlier(api: Api) -> None:
    # Given the child deployed alone
    assert _deployed(_deploy(api, "child.bpmn")) == {"child_process": 1}

    # When the parent is deployed alone, in another deployment
    assert _deployed(_deploy(api, "parent.bpmn")) == {"parent_process": 1}

    # Then the child keeps its version, and starting the parent runs the child
    assert [v["version"] for v in _versions(api, "child_process")] == [1]
    case = api.start("parent_process", {"parent_input": 21})
    assert case["status"] == "completed"
    assert case["data"]["child_result"] == 42


# --- reading a version's BPMN -----------------------------------------------------------------


def test_each_versions_bpmn_xml_can_be_read_back(api: Api) -> None:
    _deploy(api, "versioned.bpmn", "amount.schema.json")
    _post(api, ("versioned.bpmn", _versioned_v2()))

    v1 = api.get("/api/process-models/versioned/versions/1/bpmn")
    v2 = api.get("/api/process-models/versioned/versions/2/bpmn")

    assert "xml" in v1.headers["content-type"]
    assert v1.content == _read("versioned.bpmn")
    assert v2.content == _versioned_v2()


def test_an_unknown_process_or_version_is_404(api: Api) -> None:
    _deploy(api, "simple.bpmn")

    api.get("/api/process-models/no_such_process/versions/1/bpmn", expect=404)
    api.get("/api/process-models/simple/versions/2/bpmn", expect=404)
    api.get("/api/process-models/no_such_process/versions", expect=404)


# --- who may deploy ---------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "teams"), [("staff", ["tym"]), ("auditor", [])])
def test_staff_and_auditors_may_not_deploy(api: Api, role: str, teams: list[str]) -> None:
    user = api.user(f"{role}-user", [role], teams)

    _deploy(user, "simple.bpmn", expect=403)

    assert api.get("/api/process-models").json() == []


def test_a_process_owner_may_deploy(api: Api) -> None:
    owner = api.user("olga", ["process_owner"], [])

    answer = _deploy(owner, "simple.bpmn")

    assert _deployed(answer) == {"simple": 1}
    [version] = _versions(api, "simple")
    assert version["deployed_by"] == "olga"


def test_every_process_model_route_answers_401_without_a_token(api: Api) -> None:
    _deploy(api, "simple.bpmn")
    anonymous = api.client
    upload = [("files", ("child.bpmn", _read("child.bpmn"), "application/xml"))]

    answers = {
        "list": anonymous.get("/api/process-models"),
        "deploy": anonymous.post("/api/process-models", files=upload),
        "versions": anonymous.get("/api/process-models/simple/versions"),
        "bpmn": anonymous.get("/api/process-models/simple/versions/1/bpmn"),
    }

    assert {route: a.status_code for route, a in answers.items()} == dict.fromkeys(answers, 401)
    assert [m["process_id"] for m in api.get("/api/process-models").json()] == ["simple"]
