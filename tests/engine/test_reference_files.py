"""The reference data and parameter files in processes/reference/ against PROCESSES.md §1.4–§1.6.

The expected values below are transcribed from the spec independently of the JSON files.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine import reference_data
from engine.identifiers import is_valid_business_id
from engine.models import ParameterSet, ReferenceItem

REFERENCE = Path(__file__).resolve().parents[2] / "processes" / "reference"

# §1.4: code → (municipality, service area, postal code, town)
MUNICIPALITIES = {
    "167": ("Joensuu", "jns", "80100", "Joensuu"),
    "090": ("Heinävesi", "jse", "79700", "Heinävesi"),
    "146": ("Ilomantsi", "jse", "82900", "Ilomantsi"),
    "276": ("Kontiolahti", "jse", "81100", "Kontiolahti"),
    "426": ("Liperi", "jse", "80400", "Ylämylly"),
    "309": ("Outokumpu", "jse", "83500", "Outokumpu"),
    "607": ("Polvijärvi", "jse", "83700", "Polvijärvi"),
    "260": ("Kitee", "kka", "82500", "Kitee"),
    "707": ("Rääkkylä", "kka", "82300", "Rääkkylä"),
    "848": ("Tohmajärvi", "kka", "82600", "Tohmajärvi"),
    "176": ("Juuka", "pka", "83900", "Juuka"),
    "422": ("Lieksa", "pka", "81700", "Lieksa"),
    "541": ("Nurmes", "pka", "75500", "Nurmes"),
}

# §1.5 demo data: company → municipalities
COMPANIES = {
    "kontionloikka": {"276"},
    "keti": {"260", "707", "848"},
    "lieke": {"422"},
    "pikes": {"541", "176"},
    "joensuu_region_tbd": {"167", "090", "146", "426", "309", "607"},
}

# §1.6: every id of the `id` column (combined rows split)
PARAMETER_IDS = [
    "firstContactBd", "initialInterviewAfterSupplementaryBd",
    "supplementaryCount", "supplementaryCountIfPreceded", "supplementaryWindowMonths",
    "supplementarySpacingBd", "jobSearchConversationMonths",
    "sixMonthExtraAfterMonths", "sixMonthExtraCount", "sixMonthExtraWindowMonths",
    "sixMonthRepeat", "suspendIfServiceLongerThanMonths", "resumeConversationBd",
    "adhocConversationBd", "jobSearchObligationDefault",
    "vacancyCheckBd", "vacancyInitialContactBd", "vacancyMidSearchBd", "vacancyFollowUpBd",
    "employerResponseBd", "vacancyMaxDeadlineMonths", "fillTimeTargetDays",
    "trialMaxDaysSameOrganiser", "trialMaxDaysTotal",
    "trialDaysPerWeekMax", "trialHoursPerDayMin", "trialHoursPerDayMax",
    "trialSignatureBd", "trialPlacementReviewDays", "trialAssessBd", "trialFollowUpBd",
    "introPresentationBd", "consentBd", "employerFeedbackBd",
    "introClarifyBd", "introWidenSearchBd", "introPresentationMinBd", "introPresentationMaxBd",
    "grantCounsellingBd", "grantSupplementDays", "grantStatementBd", "grantStatementGraceBd",
    "grantSupplementMinDays", "grantStatementMinBd", "grantConditionMaxMonths",
    "grantMaxMonths", "grantPeriodMonths", "grantDailyAmount",
    "electronicNoticeDays", "rectificationDays",
    "csEmployerContactBd", "csResultReminderBd", "csInfoSessionBd",
    "csNegotiationDaysLarge", "csNegotiationDaysSmall", "csLargeNegotiationMinDismissals",
    "csCloseAfterDays", "csWorkerRegistrationWaitDays", "arkThresholdDismissals",
    "cs55Age", "cs55TenureYears", "cs55RegistrationDays",
    "cs55TrainingMaxMonths", "cs55TrainingMaxPayMultiple", "cs55TrainingStartMonths",
    "cs55TrainingStartMonthsPostponed",
    "cs55ReminderDays", "cs55StatementBd", "cs55TrainingPlanReminderMonths",
    "employmentLeaveDays", "arkOfficeMonths", "arkReviewMonths",
    "tymInitialTeamBd", "tymAssessmentReminderBd",
    "tymAssessmentMaxMonths", "tymPlanUpdateMonths", "tymEligibilityReviewMonths",
    "tymTargetMonths",
    "integrationPlanTargetDays", "integrationReminderDays", "integrationPlanMaxMonths",
    "integrationRenewalLeadBd", "employerFollowUpMaxMonths", "taskLeadTimeBd",
]


def _read(name: str) -> Any:
    return json.loads((REFERENCE / name).read_text(encoding="utf-8"))


def _by_code(name: str) -> dict[str, dict[str, Any]]:
    items = _read(name)
    assert isinstance(items, list)
    codes = [item["code"] for item in items]
    assert all(isinstance(code, str) for code in codes)
    assert len(codes) == len(set(codes)), f"duplicate codes in {name}"
    return {item["code"]: item for item in items}


def test_municipalities() -> None:
    municipalities = _by_code("municipalities.json")
    assert set(municipalities) == set(MUNICIPALITIES)
    assert len(municipalities) == 13
    for code, (name, area, _, _) in MUNICIPALITIES.items():
        item = municipalities[code]
        assert item["name"] == name
        assert item["serviceAreaCode"] == area, name
        assert item["servicePointCode"] == f"SP-{code}"
    assert municipalities["176"]["serviceAreaCode"] == "pka"  # Juuka: not the sub-region
    assert municipalities["090"]["serviceAreaCode"] == "jse"  # Heinävesi, leading zero kept


def test_service_areas_list_their_municipalities() -> None:
    areas = _by_code("service_areas.json")
    municipalities = _by_code("municipalities.json")
    assert set(areas) == {"jns", "jse", "kka", "pka"}
    for code, area in areas.items():
        assert area["team"] == f"ps_{code}"
        assert area["name"] and area["nameEn"]
        listed = area["municipalityCodes"]
        assert len(listed) == len(set(listed))
        assert set(listed) == {m for m, item in municipalities.items()
                               if item["serviceAreaCode"] == code}
    for code, item in municipalities.items():
        assert code in areas[item["serviceAreaCode"]]["municipalityCodes"]
    assert areas["jns"]["name"] == "Joensuu"


def test_service_points() -> None:
    points = _by_code("service_points.json")
    assert set(points) == {f"SP-{code}" for code in MUNICIPALITIES}
    for code, (_, _, postal_code, town) in MUNICIPALITIES.items():
        point = points[f"SP-{code}"]
        assert point["municipalityCode"] == code
        assert point["postalCode"] == postal_code
        assert point["town"] == town
        assert point["address"] and "," not in point["address"]
        assert point["active"] is True
        assert point["temporary"] is False
        assert point["validFrom"] == "2025-01-01"
        assert point["validTo"] is None
        assert point["changeCaseId"] is None
    assert points["SP-167"]["address"] == "Koskikatu 5 / Torikatu 19"
    assert points["SP-426"]["address"] == "Ylämyllyntie 62b"
    assert points["SP-260"]["address"] == "Kiteentie 9–11"


def test_development_companies() -> None:
    companies = _by_code("development_companies.json")
    assert set(companies) == set(COMPANIES)
    for code, municipality_codes in COMPANIES.items():
        company = companies[code]
        assert set(company["municipalityCodes"]) == municipality_codes, code
        assert company["reviewerGroup"] == f"development_company.{code}"
        assert company["name"]
    covered = [m for company in companies.values() for m in company["municipalityCodes"]]
    assert sorted(covered) == sorted(MUNICIPALITIES), "each municipality has exactly one"
    assert companies["pikes"]["businessId"] == "2042869-6"
    assert is_valid_business_id(companies["pikes"]["businessId"])
    for company in companies.values():
        if company.get("businessId") is not None:
            assert is_valid_business_id(company["businessId"]), company["code"]


def test_parameter_set_2025() -> None:
    content = _read("parameters-2025.json")
    assert content["name"] == "2025"
    assert content["valid_from"] == "2025-01-01"
    values = content["values"]
    assert len(PARAMETER_IDS) == len(set(PARAMETER_IDS)) == 84
    assert sorted(values) == sorted(PARAMETER_IDS)
    for name, value in values.items():
        if name == "employmentLeaveDays":
            continue
        assert isinstance(value, (int, float)), name  # bool is an int too


@pytest.mark.parametrize(("name", "expected"), [
    ("firstContactBd", 5),
    ("supplementaryCount", 5),
    ("supplementaryCountIfPreceded", 4),
    ("sixMonthExtraAfterMonths", 6),
    ("sixMonthExtraCount", 2),
    ("sixMonthExtraWindowMonths", 1),
    ("vacancyCheckBd", 1),
    ("vacancyInitialContactBd", 2),
    ("vacancyMidSearchBd", 10),
    ("vacancyFollowUpBd", 5),
    ("employerResponseBd", 5),
    ("fillTimeTargetDays", 22),
    ("trialMaxDaysSameOrganiser", 183),
    ("trialMaxDaysTotal", 365),
    ("introPresentationMaxBd", 20),
    ("grantSupplementDays", 14),
    ("grantDailyAmount", 37.21),
    ("csNegotiationDaysLarge", 21),
    ("csNegotiationDaysSmall", 7),
    ("arkThresholdDismissals", 100),
    ("cs55RegistrationDays", 60),
    ("cs55TrainingStartMonthsPostponed", 12),
    ("tymTargetMonths", 18),
    ("integrationPlanTargetDays", 30),
    ("taskLeadTimeBd", 10),
])
def test_parameter_values(name: str, expected: float) -> None:
    value = _read("parameters-2025.json")["values"][name]
    assert value == expected
    assert not isinstance(value, bool)


def test_parameter_rules() -> None:
    values = _read("parameters-2025.json")["values"]
    assert values["sixMonthRepeat"] is True
    assert values["employmentLeaveDays"] == {"upTo1MonthNotice": 5, "upTo4MonthsNotice": 10,
                                             "longer": 20, "extraIf55Eligible": 5}


def _set_clock(clock: Any, when: datetime) -> None:
    clock.set_offset(when - datetime.now(UTC))


def test_load_folder(db: Any, test_clock: Any) -> None:
    _set_clock(test_clock, datetime(2025, 3, 3, 9, tzinfo=UTC))
    loaded = db.unit_of_work(lambda session: reference_data.load_folder(session, REFERENCE))
    assert "parameters 2025" in loaded
    assert "municipalities (13)" in loaded
    with db.reading() as session:
        kinds: dict[str, int] = {}
        for item in session.scalars(select(ReferenceItem)):
            kinds[item.kind] = kinds.get(item.kind, 0) + 1
        assert kinds["municipalities"] == 13
        assert kinds["service_areas"] == 4
        assert kinds["service_points"] == 13
        assert kinds["development_companies"] == 5
        juuka = session.get(ReferenceItem, ("municipalities", "176"))
        assert juuka is not None and juuka.data["serviceAreaCode"] == "pka"
        heinavesi = session.get(ReferenceItem, ("municipalities", "090"))
        assert heinavesi is not None and heinavesi.data["name"] == "Heinävesi"
        parameter_set = session.get(ParameterSet, "2025")
        assert parameter_set is not None
        assert parameter_set.valid_from == "2025-01-01"
        assert sorted(parameter_set.values) == sorted(PARAMETER_IDS)
        assert reference_data.active_parameter_set(session) == "2025"
        values = reference_data.parameter_values(session, "2025")
        assert values["grantDailyAmount"] == 37.21
        _set_clock(test_clock, datetime(2024, 12, 30, 12, tzinfo=UTC))
        assert reference_data.active_parameter_set(session) is None  # not yet in force


def test_load_folder_twice_keeps_one_row_per_item(db: Any) -> None:
    db.unit_of_work(lambda session: reference_data.load_folder(session, REFERENCE))
    db.unit_of_work(lambda session: reference_data.load_folder(session, REFERENCE))
    with db.reading() as session:
        kinds = ["municipalities", "service_areas", "service_points", "development_companies"]
        rows = session.scalars(select(ReferenceItem).where(ReferenceItem.kind.in_(kinds))).all()
        assert len(rows) == 13 + 4 + 13 + 5
        assert session.scalars(select(ParameterSet.name)).all() == ["2025"]
