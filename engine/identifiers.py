"""Finnish identifiers: business ID (Y-tunnus) and personal identity code (henkilötunnus).

Pure functions implementing the rules of PROCESSES.md §0.4. No I/O.
"""

from __future__ import annotations

import datetime
import re

_BUSINESS_ID_RE = re.compile(r"^[0-9]{7}-[0-9]$")
_LEGACY_BUSINESS_ID_RE = re.compile(r"^[0-9]{6}-[0-9]$")
_BUSINESS_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2)

_PERSONAL_ID_RE = re.compile(
    r"^(\d{2})(\d{2})(\d{2})([-+A-FU-Y])(\d{3})([0-9A-FHJ-NPR-Y])$", re.ASCII
)
_PERSONAL_ID_CHECK_CHARS = "0123456789ABCDEFHJKLMNPRSTUVWXY"
_CENTURY_BY_SIGN = {"+": 1800, **dict.fromkeys("-YXWVU", 1900), **dict.fromkeys("ABCDEF", 2000)}


def normalize_business_id(value: str) -> str:
    """Return a business ID with all whitespace removed and a legacy 6-digit body padded.

    ``"123456-2"`` becomes ``"0123456-2"``. Anything else is only stripped of whitespace;
    the result is not validated (use :func:`is_valid_business_id`).
    """
    compact = "".join(value.split())
    if _LEGACY_BUSINESS_ID_RE.match(compact):
        return "0" + compact
    return compact


def is_valid_business_id(value: str) -> bool:
    """Tell whether ``value`` is a valid Finnish business ID (Y-tunnus) after normalisation.

    Check digit: weights 7, 9, 10, 5, 8, 4, 2 on the seven digits, ``r = sum % 11``;
    ``r == 0`` gives check 0, ``r == 1`` is never valid, otherwise the check is ``11 - r``.
    """
    if not isinstance(value, str):
        return False
    normalized = normalize_business_id(value)
    if not _BUSINESS_ID_RE.match(normalized):
        return False
    digits = (int(d) for d in normalized[:7])
    remainder = sum(d * w for d, w in zip(digits, _BUSINESS_ID_WEIGHTS, strict=True)) % 11
    if remainder == 1:
        return False
    expected = 0 if remainder == 0 else 11 - remainder
    return int(normalized[8]) == expected


def _parse_personal_id(value: str) -> datetime.date | None:
    """Return the birth date encoded in a valid personal identity code, else ``None``."""
    if not isinstance(value, str):
        return None
    match = _PERSONAL_ID_RE.match(value)
    if match is None:
        return None
    day, month, year, sign, individual, check = match.groups()
    try:
        birth_date = datetime.date(_CENTURY_BY_SIGN[sign] + int(year), int(month), int(day))
    except ValueError:
        return None
    if _PERSONAL_ID_CHECK_CHARS[int(day + month + year + individual) % 31] != check:
        return None
    return birth_date


def is_valid_personal_id(value: str) -> bool:
    """Tell whether ``value`` is a valid Finnish personal identity code (henkilötunnus).

    Checks the format ``DDMMYY`` + century sign (``+``; ``-``/``Y``/``X``/``W``/``V``/``U``;
    ``A``-``F``) + 3-digit individual number + control character, that the date exists,
    and that the control character is right. No whitespace or lower case is accepted.
    """
    return _parse_personal_id(value) is not None


def birth_date_from_personal_id(value: str) -> datetime.date:
    """Return the birth date of a personal identity code; raise ``ValueError`` if invalid."""
    birth_date = _parse_personal_id(value)
    if birth_date is None:
        raise ValueError("not a valid Finnish personal identity code (henkilötunnus)")
    return birth_date


def mask_personal_id(value: str | None) -> str:
    """Mask a personal identity code for display: ``"010594Y9032"`` -> ``"010594*****"``.

    Only the date part of an 11-character code is kept; any other non-empty value is
    masked completely so that nothing leaks. ``None`` gives ``""``.
    """
    if not value:
        return ""
    text = str(value).strip()
    if len(text) == 11:
        return text[:6] + "*" * 5
    return "*" * len(text)
