"""The functions that BPMN expressions and script tasks may call.

This is a whitelist (CONTRACT.md "Functions available in BPMN expressions and
scripts"): the script environment gets exactly these names and nothing else
from the platform. Date rules are in PROCESSES.md §0.3.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from engine import calendar, case_keys, clock, reference_data


def now() -> datetime:
    """Return the platform clock's time as an aware datetime in Europe/Helsinki.

    It follows the test hook of ``engine.clock`` (tests may move it). Use
    ``.isoformat()`` for an ISO datetime with offset.
    """
    return clock.local_now()


def today() -> str:
    """Return today's date in Europe/Helsinki by the platform clock, as ``YYYY-MM-DD``."""
    return clock.local_today().isoformat()


def script_functions() -> dict[str, Callable[..., Any]]:
    """Return a fresh name → function mapping of everything scripts may call.

    ``add_business_days``, ``business_days_between``, ``next_business_day``,
    ``add_months``, ``age_on`` (see ``engine.calendar``), ``now`` (aware
    Europe/Helsinki datetime) and ``today`` (ISO date string); and, for the running
    case, ``parameter``, ``reference``, ``save_reference``, ``new_case_key`` and
    ``current_user`` (see ``engine.reference_data``), and ``open_cases`` and ``case_count``,
    which find other cases by their keys (see ``engine.case_keys``).
    """
    return {
        "add_business_days": calendar.add_business_days,
        "business_days_between": calendar.business_days_between,
        "next_business_day": calendar.next_business_day,
        "add_months": calendar.add_months,
        "add_days": calendar.add_days,
        "days_between": calendar.days_between,
        "at_time": calendar.at_time,
        "age_on": calendar.age_on,
        "now": now,
        "today": today,
        "parameter": reference_data.parameter,
        "reference": reference_data.reference,
        "save_reference": reference_data.save_reference,
        "new_case_key": reference_data.new_case_key,
        "current_user": reference_data.current_user,
        "open_cases": case_keys.open_cases,
        "case_count": case_keys.case_count,
    }
