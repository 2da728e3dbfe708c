"""The platform clock and its test hook (engine.clock) and the script function whitelist."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from engine import clock
from engine.expressions import script_functions

TOLERANCE = timedelta(seconds=5)


@pytest.fixture(autouse=True)
def _real_time() -> Iterator[None]:
    """Every test starts and ends with real time and the hook disabled."""
    clock.reset()
    clock.enable_test_hook(False)
    yield
    clock.reset()
    clock.enable_test_hook(False)


@pytest.fixture
def hook() -> None:
    clock.enable_test_hook()


def test_now_is_timezone_aware_utc_close_to_real_time() -> None:
    current = clock.now()
    assert current.utcoffset() == timedelta(0)
    assert abs(current - datetime.now(UTC)) < TOLERANCE


def test_the_hook_is_disabled_by_default_and_moving_the_clock_raises() -> None:
    assert clock.is_test_hook_enabled() is False
    with pytest.raises(RuntimeError, match="clock test hook is disabled"):
        clock.advance(timedelta(days=1))
    with pytest.raises(RuntimeError, match="clock test hook is disabled"):
        clock.set_offset(timedelta(days=1))
    assert clock.offset() == timedelta(0)


@pytest.mark.usefixtures("hook")
def test_advance_moves_now_forward_by_exactly_the_delta() -> None:
    before = clock.now()
    returned = clock.advance(timedelta(days=3, hours=2))
    after = clock.now()
    assert clock.offset() == timedelta(days=3, hours=2)
    assert abs((after - before) - timedelta(days=3, hours=2)) < TOLERANCE
    assert abs(returned - after) < TOLERANCE


@pytest.mark.usefixtures("hook")
def test_advance_accumulates() -> None:
    clock.advance(timedelta(hours=1))
    clock.advance(timedelta(minutes=30))
    assert clock.offset() == timedelta(hours=1, minutes=30)


@pytest.mark.usefixtures("hook")
def test_set_offset_replaces_the_offset() -> None:
    clock.advance(timedelta(days=10))
    clock.set_offset(timedelta(days=-1))
    assert clock.offset() == timedelta(days=-1)
    assert abs(clock.now() - (datetime.now(UTC) - timedelta(days=1))) < TOLERANCE


@pytest.mark.usefixtures("hook")
def test_reset_returns_to_real_time() -> None:
    clock.advance(timedelta(days=30))
    clock.reset()
    assert clock.offset() == timedelta(0)
    assert abs(clock.now() - datetime.now(UTC)) < TOLERANCE


def test_moving_the_clock_needs_a_timedelta() -> None:
    clock.enable_test_hook()
    with pytest.raises(TypeError):
        clock.advance(3600)  # type: ignore[arg-type]
    assert clock.offset() == timedelta(0)


def test_the_internal_setter_for_the_database_sync_bypasses_the_hook() -> None:
    clock._apply_offset(timedelta(hours=5))
    assert clock.offset() == timedelta(hours=5)
    with pytest.raises(RuntimeError):
        clock.advance(timedelta(hours=1))


@pytest.mark.usefixtures("hook")
def test_local_today_is_the_helsinki_date_of_the_platform_clock() -> None:
    real = datetime.now(UTC)
    # Move the clock to 2025-12-31 22:30 UTC, which is 2026-01-01 00:30 in Helsinki.
    clock.set_offset(datetime(2025, 12, 31, 22, 30, tzinfo=UTC) - real)
    assert clock.now().date() == date(2025, 12, 31)
    assert clock.local_today() == date(2026, 1, 1)
    assert clock.local_now().utcoffset() == timedelta(hours=2)


def test_timezone_is_europe_helsinki() -> None:
    assert str(clock.TIMEZONE) == "Europe/Helsinki"


# --- expression functions --------------------------------------------------------------------


def test_scripts_get_exactly_the_whitelisted_functions() -> None:
    assert set(script_functions()) == {
        "add_business_days",
        "business_days_between",
        "next_business_day",
        "add_months",
        "add_days",
        "days_between",
        "at_time",
        "age_on",
        "now",
        "today",
        "parameter",
        "save_reference",
        "reference",
        "new_case_key",
        "current_user",
        "open_cases",
        "case_count",
    }


def test_script_functions_returns_a_fresh_mapping_each_time() -> None:
    functions = script_functions()
    functions["open"] = open
    assert "open" not in script_functions()


def test_script_business_day_function_works() -> None:
    assert script_functions()["add_business_days"]("2025-12-22", 5) == "2026-01-02"


@pytest.mark.usefixtures("hook")
def test_script_now_and_today_follow_the_moved_clock_in_helsinki_time() -> None:
    clock.set_offset(datetime(2025, 6, 19, 21, 15, tzinfo=UTC) - datetime.now(UTC))
    functions = script_functions()
    now = functions["now"]()
    assert now.utcoffset() == timedelta(hours=3)
    assert now.date() == date(2025, 6, 20)
    assert abs(now - datetime(2025, 6, 19, 21, 15, tzinfo=UTC)) < TOLERANCE
    assert functions["today"]() == "2025-06-20"
