"""Separation of duties: a user task's `excludedCompleters` names who may not complete it,
whatever their teams (the four-eyes rule of PROCESSES.md §0.6)."""

from __future__ import annotations

from tests.conftest import DATA, Api


def test_the_preparer_may_not_decide_but_a_colleague_may(api: Api) -> None:
    api.deploy(DATA / "duties" / "four_eyes.bpmn")
    eija = api.user("eija", ["staff"], ["employer_services"])
    erkki = api.user("erkki", ["staff"], ["employer_services"])
    case = eija.start("four_eyes", {"helper": "ville"})
    [prepare] = eija.tasks(case["id"])
    eija.complete(prepare["id"], {})
    [decide] = eija.tasks(case["id"])

    refused = eija.complete(decide["id"], {}, expect=403)

    assert "separation of duties" in refused.json()["detail"]
    assert [t["id"] for t in eija.tasks(case["id"])] == [decide["id"]]
    done = erkki.complete(decide["id"], {}).json()
    assert done["status"] == "completed"


def test_an_excluded_name_the_case_does_not_have_yet_excludes_nobody(api: Api) -> None:
    api.deploy(DATA / "duties" / "four_eyes.bpmn")
    eija = api.user("eija", ["staff"], ["employer_services"])
    case = eija.start("four_eyes")  # no `helper`: the expression cannot be evaluated
    [prepare] = eija.tasks(case["id"])
    eija.complete(prepare["id"], {})
    [decide] = eija.tasks(case["id"])

    # Like a form rule over missing data, it does not apply (the model's concern to set it).
    assert eija.complete(decide["id"], {}).json()["status"] == "completed"
