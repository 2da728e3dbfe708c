"""`save_reference`: a case may create reference items (a temporary service point) and change
its own, never the reference files' items or another case's."""

from __future__ import annotations

from sqlalchemy import select

from engine.db import Database
from engine.models import Incident, ReferenceItem
from tests.conftest import DATA, Api

MODEL = DATA / "reference_writes" / "open_point.bpmn"


def test_a_case_creates_a_reference_item_and_others_cannot_take_it(catalogue: Database,
                                                                   api: Api) -> None:
    api.deploy(MODEL)

    first = api.start("open_point", {"code": "SP-TMP-900"})
    second = api.start("open_point", {"code": "SP-TMP-900"})
    own_file = api.start("open_point", {"code": "SP-422"})

    assert first["status"] == "completed"
    assert first["data"]["saved"]["writtenByCase"] == first["id"]
    with catalogue.reading() as session:
        item = session.get(ReferenceItem, ("service_points", "SP-TMP-900")).data
        filed = session.get(ReferenceItem, ("service_points", "SP-422")).data
        incidents = {i.instance_id: (i.element_id, i.message)
                     for i in session.scalars(select(Incident))}
    assert (item["municipalityCode"], item["temporary"], item["writtenByCase"]) == \
        ("422", True, first["id"])
    assert "writtenByCase" not in filed and filed.get("temporary") is not True
    for refused in (second, own_file):
        assert refused["status"] == "error"
        element_id, message = incidents[refused["id"]]
        assert element_id == "sc_save" and "not this case's to change" in message
