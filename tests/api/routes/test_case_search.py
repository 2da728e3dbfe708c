"""`GET /api/process-instances?search=` (business key or any case key) and forms' `x-validate`
rules that check submitted values against the case's data (422 per field, nothing changes)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from engine import clock
from engine.db import Database
from engine.models import ParameterSet
from tests.conftest import DATA, Api

KEYS = DATA / "case_keys"
MODELS = [KEYS / n for n in ("customer_service.bpmn", "customer_service.start.schema.json",
                             "customer_service.update.schema.json", "placement_check.bpmn",
                             "placement_check.place.schema.json")]


def _ids(api: Api, **params: Any) -> list[int]:
    return [c["id"] for c in api.get("/api/process-instances", params=params).json()]


def _service(api: Api, customer: str, number: str, **data: Any) -> dict[str, Any]:
    return api.start("customer_service", {"customerId": customer, "serviceNumber": number,
                                          **data})


def test_search_finds_cases_by_any_key_value(api: Api) -> None:
    api.deploy(*MODELS)
    first = _service(api, "C-000301", "S-1", businessId="2345678-0")
    second = _service(api, "C-000302", "S-2", businessId="2345678-0")
    other = _service(api, "C-000303", "S-3", businessId="1234567-1")
    check = api.start("placement_check", {"customerId": "C-000301"})  # waits at ut_place
    refused = api.start("placement_check", {"customerId": "C-000404"})  # completes: no service

    assert _ids(api, search="2345678-0") == [second["id"], first["id"]]  # newest first
    assert _ids(api, search=" 1234567-1 ") == [other["id"]]
    assert _ids(api, search="C-000301") == [check["id"], first["id"]]
    assert _ids(api, search="C-000301", process_id="customer_service") == [first["id"]]
    assert _ids(api, search="C-000404", status="completed") == [refused["id"]]
    assert _ids(api, search="C-000404", status="running") == []
    assert _ids(api, search="S-2") == [second["id"]]  # a correlation value
    assert _ids(api, search="no such value") == []
    [row] = api.get("/api/process-instances", params={"search": "S-3"}).json()
    assert set(row) == {"id", "process_id", "version", "status", "created_at", "updated_at"}


def test_search_follows_the_case_data(api: Api) -> None:
    api.deploy(*MODELS)
    case = _service(api, "C-000301", "S-1", businessId="2345678-0")
    [task] = case["ready_tasks"]
    api.complete(task["id"], {"businessId": "1234567-1"})
    assert _ids(api, search="2345678-0") == []
    assert _ids(api, search="1234567-1") == [case["id"]]


def test_search_finds_a_business_key(api: Api, db: Database) -> None:
    db.unit_of_work(lambda s: s.add(ParameterSet(
        name="2025", valid_from="2025-01-01", values={"vacancyCheckBd": 1}, sha256="2025",
        loaded_at=clock.now())))
    api.deploy(DATA / "runtime" / "keyed_case.bpmn")
    case = api.start("keyed_case", {"receivedOn": "2025-03-03", "originActor": None})
    api.start("keyed_case", {"receivedOn": "2025-03-03", "originActor": None})
    assert case["business_key"] == f"V-{clock.local_today().year}-000001"
    assert _ids(api, search=case["business_key"]) == [case["id"]]


def test_search_needs_a_login_like_the_list(api: Api, app_client: TestClient) -> None:
    api.deploy(*MODELS)
    _service(api, "C-000301", "S-1", businessId="2345678-0")
    assert app_client.get("/api/process-instances", params={"search": "2345678-0"}
                          ).status_code == 401
    assert app_client.get("/api/process-instances").status_code == 401
    auditor = api.user("auditti", ["auditor"], [])
    assert len(_ids(auditor, search="2345678-0")) == 1
    api.get("/api/process-instances", 422, params={"search": "x" * 256})


def _placement(api: Api, **data: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    api.deploy(*MODELS)
    _service(api, "C-000301", "S-1")
    case = api.start("placement_check", {"customerId": "C-000301",
                                         "candidateIds": ["C-000301", "C-000302"],
                                         "maxHours": 30, **data})
    [task] = case["ready_tasks"]
    assert task["element_id"] == "ut_place"
    return case, task


def test_a_rule_refuses_a_value_not_in_the_case_data_with_422(api: Api) -> None:
    case, task = _placement(api)
    refused = api.complete(task["id"], {"placedCustomer": "C-000999", "hours": 20}, expect=422)
    assert refused.json()["detail"] == [
        {"field": "placedCustomer", "message": "Asiakas ei ole ehdokaslistalla",
         "message_en": "The customer is not on the candidate list"},
        {"field": "placedCustomer", "message": "Asiakkaalla ei ole avointa palvelua"},
    ]
    after = api.get(f"/api/process-instances/{case['id']}").json()
    assert after["data"] == case["data"] and after["ready_tasks"] == case["ready_tasks"]
    events = api.get(f"/api/process-instances/{case['id']}/history").json()["events"]
    assert "task_completed" not in [e["type"] for e in events]


def test_a_rule_can_ask_for_open_cases_of_another_process(api: Api) -> None:
    _case, task = _placement(api)
    # on the candidate list, but without an open customer_service case
    refused = api.complete(task["id"], {"placedCustomer": "C-000302", "hours": 20}, expect=422)
    assert refused.json()["detail"] == [
        {"field": "placedCustomer", "message": "Asiakkaalla ei ole avointa palvelua"}]


def test_a_root_rule_and_a_nested_rule_name_their_fields(api: Api) -> None:
    _case, task = _placement(api)
    refused = api.complete(task["id"], {"placedCustomer": "C-000301", "hours": 31,
                                        "mentor": {"name": "C-000301"}}, expect=422)
    assert refused.json()["detail"] == [
        {"field": "", "message": "Liian monta tuntia", "message_en": "Too many hours"},
        {"field": "mentor.name", "message": "Ohjaaja ei voi olla asiakas itse",
         "message_en": "The mentor cannot be the customer"},
    ]


def test_a_rule_on_list_items_names_the_item(api: Api) -> None:
    _case, task = _placement(api)
    refused = api.complete(task["id"], {"placedCustomer": "C-000301", "hours": 20,
                                        "shortlist": ["C-000302", "C-000999", 5]}, expect=422)
    assert refused.json()["detail"] == [
        {"field": "shortlist.1", "message": "Ei ehdokas", "message_en": "Not a candidate"},
        {"field": "shortlist.2", "message": "must be a string", "rule": "type",
         "limit": "string"},
    ]


def test_valid_data_passes_every_rule_and_a_rule_over_missing_data_does_not_apply(
        api: Api) -> None:
    case, task = _placement(api)
    # `undefinedThing` is nowhere: that root rule does not apply
    done = api.complete(task["id"], {"placedCustomer": "C-000301", "hours": 30,
                                     "shortlist": ["C-000301", "C-000302"],
                                     "mentor": {"name": "Maija Ohjaaja"}}).json()
    assert done["status"] == "completed"
    assert done["data"]["placedCustomer"] == "C-000301"


def test_a_field_with_a_schema_error_gets_no_rule_error(api: Api) -> None:
    _case, task = _placement(api)
    refused = api.complete(task["id"], {"placedCustomer": 7, "hours": 20}, expect=422)
    assert refused.json()["detail"] == [{"field": "placedCustomer", "message": "must be a string",
                                         "rule": "type", "limit": "string"}]
