"""The pages' languages: gettext catalogs (Babel) and locale-aware formatting.

Message ids are English; `api/locale/<lang>/LC_MESSAGES/messages.po` holds the translations.
The catalogs are compiled in memory when first used, so no build step is needed. Finnish is the
default language; `use_language` picks the language of the request being rendered.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

LANGUAGES = ("fi", "en")
DEFAULT_LANGUAGE = "fi"
LOCALE_DIR = Path(__file__).parent / "locale"
HELSINKI = ZoneInfo("Europe/Helsinki")

_language: ContextVar[str] = ContextVar("virta_language", default=DEFAULT_LANGUAGE)


def gettext_noop(message: str) -> str:
    """Mark a message for extraction without translating it here."""
    return message


@cache
def translations(language: str) -> Translations:
    """The compiled catalog of a language (an empty one if it has none)."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if not path.is_file():
        return Translations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def choose_language(requested: str | None) -> str:
    """`requested` if it is a supported language, else the default."""
    return requested if requested in LANGUAGES else DEFAULT_LANGUAGE


def current_language() -> str:
    """The language of the page being rendered."""
    return _language.get()


@contextmanager
def use_language(language: str) -> Iterator[None]:
    """Render in `language` inside the block."""
    token = _language.set(choose_language(language))
    try:
        yield
    finally:
        _language.reset(token)


def gettext(message: str, **variables: Any) -> str:
    """`message` in the current language, with `%(name)s` placeholders filled."""
    text = translations(current_language()).gettext(message)
    return text % variables if variables else text


def pgettext_noop(context: str, message: str) -> str:
    """Mark a message with its context (`pgettext`) for extraction without translating it."""
    return message


def pgettext(context: str, message: str, **variables: Any) -> str:
    """`message` in the current language, in `context` (one meaning of the same English)."""
    text = translations(current_language()).pgettext(context, message)
    return text % variables if variables else text


def npgettext(context: str, singular: str, plural: str, n: int, **variables: Any) -> str:
    """The singular or plural form for `n`, in `context`."""
    text = translations(current_language()).npgettext(context, singular, plural, n)
    return text % {"num": n, **variables}


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    """The singular or plural form for `n` in the current language."""
    text = translations(current_language()).ngettext(singular, plural, n)
    return text % {"num": n, **variables}


def localized(value: Any, english: Any = None) -> Any:
    """A label written by a model author: Finnish `value`, or `english` when the page is English
    and the author gave one."""
    return english if current_language() == "en" and english else value


def _local(value: datetime) -> datetime:
    return value.astimezone(HELSINKI) if value.tzinfo else value.replace(tzinfo=HELSINKI)


def format_day(value: date | datetime | str | None) -> str:
    """A date for people, `d.M.yyyy` in both languages (UI-TERMS §8); '' for nothing."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = _local(value).date()
    return format_date(value, format="d.M.yyyy", locale=Locale.parse(current_language()))


def format_moment(value: datetime | str | None) -> str:
    """A date and time in Helsinki time for people: `5.3.2025 klo 14.30`, in English
    `5.3.2025 14:30` (24-hour clock, no offset); '' for nothing."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    pattern = "d.M.yyyy H:mm" if current_language() == "en" else "d.M.yyyy 'klo' H.mm"
    return format_datetime(_local(value), format=pattern, tzinfo=HELSINKI,
                           locale=Locale.parse(current_language()))


def format_number(value: Any) -> str:
    """A number with the language's decimal separator."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return format_decimal(value, locale=Locale.parse(current_language()))
