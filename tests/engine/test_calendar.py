"""Finnish business days and legal date arithmetic (PROCESSES.md §0.3)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from engine import calendar
from engine.calendar import (
    add_business_days,
    add_months,
    age_on,
    business_days_between,
    holidays_in_year,
    is_business_day,
    next_business_day,
    to_date,
)

# --- is_business_day: the holidays that fall on weekdays -------------------------------------

WEEKDAY_HOLIDAYS = [
    # 2025 (PROCESSES.md §0.3 lists these ten) ...
    ("2025-01-01", "New Year's Day"),
    ("2025-01-06", "Epiphany"),
    ("2025-04-18", "Good Friday"),
    ("2025-04-21", "Easter Monday"),
    ("2025-05-01", "May Day"),
    ("2025-05-29", "Ascension Day"),
    ("2025-06-20", "Midsummer Eve"),
    ("2025-12-24", "Christmas Eve"),
    ("2025-12-25", "Christmas Day"),
    ("2025-12-26", "Boxing Day"),
    # ... 2026 ...
    ("2026-01-01", "New Year's Day"),
    ("2026-01-06", "Epiphany"),
    ("2026-04-03", "Good Friday"),
    ("2026-04-06", "Easter Monday"),
    ("2026-05-01", "May Day"),
    ("2026-05-14", "Ascension Day"),
    ("2026-06-19", "Midsummer Eve"),
    ("2026-12-24", "Christmas Eve"),
    ("2026-12-25", "Christmas Day"),
    # ... and Independence Day in a year where it is a Monday.
    ("2027-12-06", "Independence Day"),
]


@pytest.mark.parametrize(
    ("day", "name"), WEEKDAY_HOLIDAYS, ids=[f"{d} {n}" for d, n in WEEKDAY_HOLIDAYS]
)
def test_a_weekday_public_holiday_is_not_a_business_day(day: str, name: str) -> None:
    assert date.fromisoformat(day).weekday() < 5, "the example must be a weekday"
    assert is_business_day(day) is False


def test_the_2025_weekday_holidays_are_exactly_the_ten_of_the_spec() -> None:
    weekday_holidays = sorted(d for d in holidays_in_year(2025) if d.weekday() < 5)
    assert [d.isoformat() for d in weekday_holidays] == [d for d, _ in WEEKDAY_HOLIDAYS[:10]]


@pytest.mark.parametrize(
    "day",
    [
        "2025-04-17",  # Maundy Thursday
        "2025-04-22",  # Tuesday after Easter
        "2025-06-19",  # Thursday before Midsummer Eve
        "2025-12-23",  # day before Christmas Eve
        "2025-12-05",  # Friday before Independence Day (a Saturday in 2025)
        "2025-12-31",  # New Year's Eve is an ordinary weekday
        "2027-12-07",
    ],
)
def test_an_ordinary_weekday_next_to_a_holiday_is_a_business_day(day: str) -> None:
    assert is_business_day(day) is True


def test_independence_day_2025_falls_on_a_saturday_and_moves_nothing() -> None:
    assert date(2025, 12, 6).weekday() == 5
    assert is_business_day(date(2025, 12, 6)) is False
    assert add_business_days("2025-12-04", 2) == "2025-12-08"


def test_saturday_and_sunday_are_never_business_days() -> None:
    assert is_business_day(date(2025, 10, 11)) is False
    assert is_business_day(date(2025, 10, 12)) is False
    assert is_business_day(date(2025, 10, 13)) is True


def test_business_days_are_known_far_beyond_the_first_years_used() -> None:
    # Christmas Day 2031 is a Thursday; the calendar expands to new years lazily.
    assert is_business_day("2031-12-25") is False
    assert is_business_day("2031-12-23") is True


# --- add_business_days -----------------------------------------------------------------------


def test_five_business_days_from_22_december_2025_cross_christmas_and_new_year() -> None:
    # 23.12. Tue (1), 24–26.12. holidays, 29.12. (2), 30.12. (3), 31.12. (4), 1.1. holiday, 2.1. (5)
    assert add_business_days("2025-12-22", 5) == "2026-01-02"


def test_five_business_days_from_maundy_thursday_2026_skip_good_friday_and_easter_monday() -> None:
    # Thu 2.4. start (not counted), Fri 3.4. Good Friday, weekend, Mon 6.4. Easter Monday,
    # then Tue 7.4. (1), Wed 8.4. (2), Thu 9.4. (3), Fri 10.4. (4), Mon 13.4. (5).
    assert add_business_days("2026-04-02", 5) == "2026-04-13"


def test_the_start_day_never_counts_even_when_it_is_a_business_day() -> None:
    assert add_business_days("2025-10-06", 1) == "2025-10-07"


def test_one_business_day_after_a_friday_is_the_next_monday() -> None:
    assert add_business_days("2025-10-10", 1) == "2025-10-13"


def test_counting_from_a_saturday_starts_with_the_next_monday() -> None:
    assert add_business_days("2025-10-11", 1) == "2025-10-13"


def test_counting_across_midsummer_2025_skips_midsummer_eve() -> None:
    assert add_business_days("2025-06-19", 1) == "2025-06-23"


def test_counting_across_ascension_day_2025_skips_it() -> None:
    assert add_business_days("2025-05-28", 1) == "2025-05-30"


def test_negative_n_counts_business_days_backwards() -> None:
    assert add_business_days("2026-01-02", -5) == "2025-12-22"
    assert add_business_days("2026-04-07", -1) == "2026-04-02"
    assert add_business_days("2025-10-13", -1) == "2025-10-10"


def test_zero_business_days_returns_the_start_date_unchanged() -> None:
    assert add_business_days("2025-10-11", 0) == "2025-10-11"
    assert add_business_days(date(2025, 12, 25), 0) == "2025-12-25"


def test_add_business_days_accepts_a_date_and_a_naive_datetime() -> None:
    assert add_business_days(date(2025, 12, 22), 5) == "2026-01-02"
    assert add_business_days(datetime(2025, 12, 22, 23, 59), 5) == "2026-01-02"


def test_an_aware_utc_evening_that_is_tomorrow_in_helsinki_counts_from_the_helsinki_date() -> None:
    # 2025-12-22 22:30 UTC is 2025-12-23 00:30 in Helsinki (UTC+2).
    late = datetime(2025, 12, 22, 22, 30, tzinfo=UTC)
    assert add_business_days(late, 1) == "2025-12-29"
    assert add_business_days("2025-12-22T22:30:00Z", 1) == "2025-12-29"
    assert add_business_days(datetime(2025, 12, 22, 22, 30), 1) == "2025-12-23"


def test_add_business_days_rejects_a_fractional_or_boolean_count() -> None:
    with pytest.raises(TypeError):
        add_business_days("2025-10-06", 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        add_business_days("2025-10-06", True)


def test_add_business_days_accepts_an_integral_float_from_json() -> None:
    assert add_business_days("2025-10-06", 2.0) == "2025-10-08"  # type: ignore[arg-type]


def test_add_business_days_refuses_an_absurdly_large_count() -> None:
    with pytest.raises(ValueError):
        add_business_days("2025-10-06", 10**9)


# --- business_days_between -------------------------------------------------------------------


def test_business_days_between_counts_after_a_up_to_and_including_b() -> None:
    assert business_days_between("2025-12-22", "2026-01-02") == 5
    assert business_days_between("2026-04-02", "2026-04-13") == 5
    assert business_days_between("2025-10-06", "2025-10-07") == 1


def test_business_days_between_a_day_and_itself_is_zero() -> None:
    assert business_days_between("2025-10-06", "2025-10-06") == 0


def test_business_days_between_is_negative_and_symmetric_when_b_is_before_a() -> None:
    assert business_days_between("2026-01-02", "2025-12-22") == -5
    assert business_days_between("2025-10-13", "2025-10-10") == -1
    assert business_days_between("2025-10-10", "2025-10-13") == 1


def test_business_days_between_a_weekend_and_a_holiday_is_zero() -> None:
    assert business_days_between("2025-12-23", "2025-12-28") == 0


def test_business_days_between_a_whole_year_excludes_its_weekday_holidays() -> None:
    # 2025 has 261 weekdays, ten of which are holidays.
    assert business_days_between("2024-12-31", "2025-12-31") == 251


@pytest.mark.parametrize("start", ["2025-12-22", "2025-06-19", "2026-04-02", "2025-10-11"])
@pytest.mark.parametrize("n", [0, 1, 2, 5, 10, 30, 60, 250])
def test_business_days_between_undoes_add_business_days(start: str, n: int) -> None:
    assert business_days_between(start, add_business_days(start, n)) == n


def test_business_days_between_accepts_mixed_input_types() -> None:
    assert business_days_between(date(2025, 12, 22), "2026-01-02T12:00:00+02:00") == 5
    assert business_days_between(datetime(2025, 12, 22, 22, 30, tzinfo=UTC), "2026-01-02") == 4


# --- next_business_day -----------------------------------------------------------------------


def test_next_business_day_returns_a_business_day_itself() -> None:
    assert next_business_day("2025-10-06") == "2025-10-06"


def test_a_deadline_on_a_saturday_moves_to_monday() -> None:
    assert next_business_day("2025-10-11") == "2025-10-13"


def test_a_deadline_on_christmas_eve_2025_moves_past_christmas_and_the_weekend() -> None:
    assert next_business_day("2025-12-24") == "2025-12-29"


def test_a_deadline_on_good_friday_2026_moves_past_easter_to_tuesday() -> None:
    assert next_business_day(date(2026, 4, 3)) == "2026-04-07"


def test_a_deadline_on_new_years_eve_stays_and_one_on_new_years_day_moves() -> None:
    assert next_business_day("2025-12-31") == "2025-12-31"
    assert next_business_day("2026-01-01") == "2026-01-02"


# --- add_months ------------------------------------------------------------------------------


def test_add_months_keeps_the_day_number() -> None:
    assert add_months("2025-03-15", 1) == "2025-04-15"
    assert add_months("2025-11-30", 3) == "2026-02-28"


def test_add_months_uses_the_last_day_of_a_shorter_month() -> None:
    assert add_months("2025-01-31", 1) == "2025-02-28"
    assert add_months("2025-08-31", 1) == "2025-09-30"


def test_add_months_reaches_29_february_in_a_leap_year() -> None:
    assert add_months("2024-01-31", 1) == "2024-02-29"


def test_add_months_counts_backwards_with_a_negative_n() -> None:
    assert add_months("2025-03-31", -1) == "2025-02-28"
    assert add_months("2024-03-31", -1) == "2024-02-29"
    assert add_months("2026-01-15", -1) == "2025-12-15"
    assert add_months("2025-05-31", -12) == "2024-05-31"


def test_add_months_crosses_year_boundaries() -> None:
    assert add_months("2025-11-30", 2) == "2026-01-30"
    assert add_months("2025-12-31", 2) == "2026-02-28"
    assert add_months("2025-06-30", 0) == "2025-06-30"


def test_add_months_keeps_only_the_date_of_a_datetime_string() -> None:
    assert add_months("2025-01-31T10:15:00+02:00", 1) == "2025-02-28"
    assert add_months(datetime(2025, 1, 31, 9, 0), 1) == "2025-02-28"


def test_add_months_does_not_move_a_result_that_falls_on_a_weekend() -> None:
    # Moving a deadline is next_business_day's job, not add_months'.
    assert add_months("2025-09-11", 1) == "2025-10-11"


# --- age_on ----------------------------------------------------------------------------------


def test_age_on_reads_a_1900s_personal_id() -> None:
    assert age_on("010594Y9032", "2025-04-30") == 30
    assert age_on("010594Y9032", "2025-05-01") == 31


def test_age_on_reads_a_2000s_personal_id() -> None:
    assert age_on("010516B903X", "2025-04-30") == 8
    assert age_on("010516B903X", date(2025, 5, 1)) == 9


def test_age_on_the_birth_day_is_zero() -> None:
    assert age_on("010516B903X", "2016-05-01") == 0


def test_age_on_for_a_leap_day_birth_is_completed_on_28_february_in_common_years() -> None:
    assert age_on("290200A900B", "2025-02-27") == 24
    assert age_on("290200A900B", "2025-02-28") == 25
    assert age_on("290200A900B", "2024-02-28") == 23
    assert age_on("290200A900B", "2024-02-29") == 24


def test_age_on_uses_the_helsinki_date_of_an_aware_datetime() -> None:
    birthday_eve_utc = datetime(2025, 4, 30, 21, 30, tzinfo=UTC)  # 1.5. 00:30 in Helsinki
    assert age_on("010594Y9032", birthday_eve_utc) == 31
    assert age_on("010594Y9032", "2025-04-30T21:30:00-00:00") == 31
    assert age_on("010594Y9032", "2025-04-30T20:30:00+00:00") == 30


def test_age_on_rejects_an_invalid_personal_id() -> None:
    with pytest.raises(ValueError):
        age_on("010594Y9033", "2025-05-01")


def test_age_on_rejects_a_date_before_birth() -> None:
    with pytest.raises(ValueError):
        age_on("010516B903X", "2016-04-30")


# --- to_date ---------------------------------------------------------------------------------


def test_to_date_reads_an_aware_utc_datetime_in_helsinki_time() -> None:
    assert to_date(datetime(2025, 12, 31, 22, 0, tzinfo=UTC)) == date(2026, 1, 1)
    assert to_date(datetime(2025, 12, 31, 21, 59, tzinfo=UTC)) == date(2025, 12, 31)


def test_to_date_follows_summer_time_in_helsinki() -> None:
    # UTC+3 in summer: 21:00 UTC is already midnight.
    assert to_date(datetime(2025, 6, 19, 21, 0, tzinfo=UTC)) == date(2025, 6, 20)
    assert to_date(datetime(2025, 6, 19, 20, 59, tzinfo=UTC)) == date(2025, 6, 19)


def test_to_date_reads_other_offsets_too() -> None:
    new_york = timezone(timedelta(hours=-5))
    assert to_date(datetime(2025, 12, 31, 18, 0, tzinfo=new_york)) == date(2026, 1, 1)


def test_to_date_keeps_a_naive_datetime_as_it_is() -> None:
    assert to_date(datetime(2025, 12, 31, 23, 59)) == date(2025, 12, 31)
    assert to_date("2025-12-31T23:59:00") == date(2025, 12, 31)


def test_to_date_parses_iso_strings_with_surrounding_whitespace() -> None:
    assert to_date(" 2025-12-22 ") == date(2025, 12, 22)


def test_to_date_returns_a_plain_date_for_a_date() -> None:
    result = to_date(datetime(2025, 3, 1, 12, 0))
    assert type(result) is date


def test_to_date_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        to_date("22.12.2025")
    with pytest.raises(ValueError):
        to_date("")
    with pytest.raises(TypeError):
        to_date(20251222)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        to_date(None)  # type: ignore[arg-type]


def test_add_days_counts_calendar_days_across_a_year() -> None:
    assert calendar.add_days("2025-12-31", 1) == "2026-01-01"
    assert calendar.add_days("2026-03-01", -1) == "2026-02-28"


def test_at_time_gives_helsinki_local_time_with_the_summer_or_winter_offset() -> None:
    assert calendar.at_time("2025-06-20", "08:00") == "2025-06-20T08:00:00+03:00"
    assert calendar.at_time("2025-12-22") == "2025-12-22T00:00:00+02:00"


def test_days_between_counts_calendar_days() -> None:
    assert calendar.days_between("2025-03-03", "2025-03-20") == 17
    assert calendar.days_between("2025-03-20", "2025-03-03") == -17
