"""Finnish business days and legal date arithmetic (PROCESSES.md §0.3).

The rules come from the Act on the Calculation of Statutory Time Limits
(Laki säädettyjen määräaikain laskemisesta 150/1930) [E16]:

* §2: the day from which a time limit is counted does not itself count;
* §3: a time limit in months ends on the same day number, or on the month's
  last day if that day number does not exist;
* §5: a deadline that falls on a Saturday, Sunday or public holiday moves to
  the next business day.

A **business day** (arkipäivä as the area uses it) is Monday–Friday that is
not a Finnish public holiday. The holiday calendar is the ``holidays``
package, country ``FI``, which also marks Midsummer Eve and Christmas Eve as
holidays [E31]. Dates are local Europe/Helsinki dates; every function that
returns a date returns an ISO ``YYYY-MM-DD`` string so that the value can be
stored in process variables as is.
"""

from __future__ import annotations

import threading
from datetime import date, datetime, time, timedelta

import holidays

from engine.clock import TIMEZONE
from engine.identifiers import birth_date_from_personal_id

#: Country whose public holidays are excluded from business days.
COUNTRY = "FI"

#: ``date.weekday()`` numbers of Saturday and Sunday: never business days.
WEEKEND = frozenset({5, 6})

#: Largest ``abs(n)`` accepted by ``add_business_days`` (about 40 years);
#: protects the engine from a runaway script value.
MAX_BUSINESS_DAYS = 10_000

#: What the date functions accept: a date, a datetime (aware ones are read in
#: Europe/Helsinki, naive ones as they are) or an ISO date/datetime string.
DateLike = date | datetime | str

_holiday_calendar = holidays.country_holidays(COUNTRY)
_holidays_by_year: dict[int, frozenset[date]] = {}
_holidays_lock = threading.Lock()


def to_date(value: DateLike) -> date:
    """Coerce ``value`` to a local (Europe/Helsinki) calendar date.

    * ``date`` → itself;
    * aware ``datetime`` → its date in Europe/Helsinki (23:30 UTC on 22.12. is
      already 23.12. in Finland); naive ``datetime`` → its own date;
    * ``str`` → parsed as an ISO date (``2025-12-22``) or ISO datetime
      (``2025-12-22T23:30:00+00:00``, ``...Z``), then as above.

    Raises ValueError for an unparsable string and TypeError for other types.
    """
    if isinstance(value, datetime):
        return _datetime_to_date(value)
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not an ISO date or datetime: {value!r}") from None
        return _datetime_to_date(parsed)
    raise TypeError(f"expected a date, datetime or ISO string, not {type(value).__name__}")


def holidays_in_year(year: int) -> frozenset[date]:
    """Return the Finnish public holidays of ``year`` (weekend ones included).

    One ``holidays`` calendar is built for the process and expanded a year at a
    time on first use; the per-year sets are cached and immutable.
    """
    found = _holidays_by_year.get(year)
    if found is None:
        with _holidays_lock:
            found = _holidays_by_year.get(year)
            if found is None:
                _holiday_calendar.get(date(year, 1, 1))  # expands the calendar to `year`
                found = frozenset(d for d in _holiday_calendar if d.year == year)
                _holidays_by_year[year] = found
    return found


def is_business_day(d: DateLike) -> bool:
    """Return whether ``d`` is a Finnish business day (PROCESSES.md §0.3).

    A business day is Monday–Friday and not a public holiday of
    ``holidays.country_holidays("FI")`` (which includes Midsummer Eve and
    Christmas Eve).
    """
    day = to_date(d)
    return day.weekday() not in WEEKEND and day not in holidays_in_year(day.year)


def add_business_days(start: DateLike, n: int) -> str:
    """Return the date ``n`` business days after ``start`` as ``YYYY-MM-DD``.

    The start day itself never counts (Act 150/1930 §2, PROCESSES.md §0.3), so
    ``add_business_days("2025-12-22", 5) == "2026-01-02"``. A negative ``n``
    counts backwards the same way (the n-th business day before ``start``).
    ``n == 0`` returns ``start`` unchanged, even if it is not a business day.
    """
    count = _as_int(n, "n")
    if abs(count) > MAX_BUSINESS_DAYS:
        raise ValueError(f"n must be between -{MAX_BUSINESS_DAYS} and {MAX_BUSINESS_DAYS}")
    day = to_date(start)
    step = timedelta(days=1 if count > 0 else -1)
    remaining = abs(count)
    while remaining:
        day += step
        if is_business_day(day):
            remaining -= 1
    return day.isoformat()


def business_days_between(a: DateLike, b: DateLike) -> int:
    """Return the number of business days after ``a`` up to and including ``b``.

    ``a`` itself never counts (Act 150/1930 §2). If ``b`` is before ``a`` the
    result is the mirror image, ``-business_days_between(b, a)``. For any
    ``n >= 0``: ``business_days_between(d, add_business_days(d, n)) == n``.
    """
    first, last = to_date(a), to_date(b)
    if last < first:
        return -business_days_between(last, first)
    days = (last - first).days
    full_weeks, rest = divmod(days, 7)
    count = full_weeks * 5
    tail_start = first + timedelta(days=full_weeks * 7)
    count += sum(
        1 for i in range(1, rest + 1) if (tail_start + timedelta(days=i)).weekday() not in WEEKEND
    )
    for year in range(first.year, last.year + 1):
        count -= sum(
            1 for h in holidays_in_year(year) if first < h <= last and h.weekday() not in WEEKEND
        )
    return count


def next_business_day(d: DateLike) -> str:
    """Return ``d`` if it is a business day, else the next one, as ``YYYY-MM-DD``.

    A legal deadline that falls on a Saturday, Sunday or public holiday moves
    to the next business day (Act 150/1930 §5, PROCESSES.md §0.3).
    """
    day = to_date(d)
    while not is_business_day(day):
        day += timedelta(days=1)
    return day.isoformat()


def add_months(d: DateLike, n: int) -> str:
    """Return the same day number ``n`` calendar months later, as ``YYYY-MM-DD``.

    If that day does not exist in the target month, the month's last day is
    used (Act 150/1930 §3, PROCESSES.md §0.3): 2025-01-31 + 1 → 2025-02-28.
    ``n`` may be negative. A datetime input keeps only its (local) date.
    """
    months = _as_int(n, "n")
    day = to_date(d)
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    return _clamped_date(year, month0 + 1, day.day).isoformat()


def add_days(d: DateLike, n: int) -> str:
    """The date `n` calendar days after `d` (negative: before), as an ISO date.

    Calendar days ("cd", "vrk") per PROCESSES.md §0.3, e.g. the day after a due date.
    """
    return (to_date(d) + timedelta(days=_as_int(n, "n"))).isoformat()


def days_between(a: DateLike, b: DateLike) -> int:
    """Calendar days from `a` to `b` (negative when `b` is earlier), e.g. a waiting time."""
    return (to_date(b) - to_date(a)).days


def at_time(d: DateLike, hh_mm: str = "00:00") -> str:
    """`d` at the local (Europe/Helsinki) time `hh_mm`, as an ISO datetime with its offset.

    For timers of PROCESSES.md §0.3: escalations at 00:00 after a due date, reminders and
    scheduled tasks at 08:00, e.g. `at_time(add_days(due, 1))`, `at_time(day, "08:00")`.
    """
    hours, _, minutes = str(hh_mm).partition(":")
    local = datetime.combine(to_date(d), time(int(hours), int(minutes or 0)), tzinfo=TIMEZONE)
    return local.isoformat()


def age_on(personal_id: str, d: DateLike) -> int:
    """Return the age in whole years on date ``d`` of the holder of a henkilötunnus.

    The birth date comes from the personal identity code (century sign,
    PROCESSES.md §0.4 [E30]). A year of age is completed on the birthday; for
    someone born on 29 February it is completed on 28 February in common
    years, the month's-last-day rule of Act 150/1930 §3 (as ``add_months``).

    Raises ValueError for an invalid code or a date before the birth date.
    """
    birth = birth_date_from_personal_id(personal_id)
    on = to_date(d)
    if on < birth:
        raise ValueError(f"{on.isoformat()} is before the birth date")
    years = on.year - birth.year
    if _clamped_date(on.year, birth.month, birth.day) > on:
        years -= 1
    return years


def _datetime_to_date(value: datetime) -> date:
    if value.tzinfo is not None and value.utcoffset() is not None:
        return value.astimezone(TIMEZONE).date()
    return value.date()


def _clamped_date(year: int, month: int, day: int) -> date:
    """date(year, month, day), or the month's last day if ``day`` is past it."""
    if month == 12:
        last_day = 31
    else:
        last_day = (date(year, month + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day, last_day))


def _as_int(value: object, name: str) -> int:
    """Accept an int or an integral float (JSON numbers); reject bools and fractions."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, not bool")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"{name} must be an integer, not {value!r}")
