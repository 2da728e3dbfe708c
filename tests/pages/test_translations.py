"""The pages' text goes through the gettext catalogs: no literal text in a template, and every
message has its Finnish translation with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from api.pages.templating import TEMPLATES, environment
from engine.settings import PROJECT_ROOT

LOCALES = PROJECT_ROOT / "api" / "locale"
#: Words that are the same in every language: the product's name and the language switch.
NOT_TRANSLATED = {"Virta", "In", "English", "Suomeksi"}
#: HTML that macros write outside a tag (attributes of the tag they are called in).
BOOLEAN_ATTRIBUTES = {"required", "readonly", "checked", "selected", "disabled", "aria-required",
                      "aria-invalid", "aria-describedby", "true"}
HUMAN_ATTRIBUTES = ("aria-label", "title", "placeholder", "alt", "data-error", "data-busy")
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _literal_text(source: str) -> str:
    """The template with every Jinja construct replaced by a marker: what is left is literal."""
    parts = []
    for _, kind, value in environment.lex(source):
        parts.append(value if kind == "data" else "\x00")
    return "".join(parts)


def _untranslated(source: str) -> list[str]:
    text = _literal_text(source)
    found = []
    for attribute in HUMAN_ATTRIBUTES:
        for value in re.findall(rf'{attribute}="([^"]*)"', text):
            if re.search(r"[A-Za-zÅÄÖåäö]", value.replace("\x00", "")):
                found.append(f'{attribute}="{value}"')
    outside_tags = re.sub(r"<[^>]*>", " ", text)
    outside_tags = re.sub(r'[\w:-]+="[^"]*"', " ", outside_tags)
    outside_tags = re.sub(r"&\w+;", " ", outside_tags)
    for word in re.findall(r"[A-Za-zÅÄÖåäö][\wÅÄÖåäö'-]*", outside_tags):
        if word not in NOT_TRANSLATED | BOOLEAN_ATTRIBUTES:
            found.append(word)
    return found


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_a_template_holds_no_untranslated_literal(template: str) -> None:
    assert _untranslated((TEMPLATES / template).read_text(encoding="utf-8")) == []


def test_the_literal_check_finds_text_outside_gettext() -> None:
    source = ('<p>{{ _("Fine") }}</p><h1>Tehtävät</h1>'
              '<div aria-label="Kaavio" class="x">{{ value }}</div>')

    assert _untranslated(source) == ['aria-label="Kaavio"', "Tehtävät"]


Key = tuple[str | None, str]


def _extracted() -> set[Key]:
    """(context, message id) of every message the pages use."""
    method_map = [("api/**.py", "python"), ("api/templates/**.html", "jinja2")]
    options = {"api/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "gettext_noop": None,
                "pgettext": ((1, "c"), 2), "npgettext": ((1, "c"), 2, 3),
                "pgettext_noop": ((1, "c"), 2)}
    messages = set()
    for _, _, message, _, context in extract_from_dir(str(PROJECT_ROOT), method_map, options,
                                                      keywords=keywords):
        messages.add((context, message[0] if isinstance(message, tuple) else message))
    return messages


def _catalog(language: str) -> dict[Key, str | tuple[str, ...]]:
    with (LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po)
    return {(m.context, m.id[0] if isinstance(m.id, tuple) else m.id): m.string
            for m in catalog if m.id}


def _translated(text: str | tuple[str, ...] | None) -> bool:
    return bool(text) and (not isinstance(text, tuple) or all(text))


def test_every_message_of_the_pages_has_a_finnish_translation() -> None:
    messages = _extracted()
    finnish = _catalog("fi")

    assert len(messages) > 100
    assert ("nav", "Start a case") in messages and ("heading", "Start a case") in messages
    assert sorted((m for m in messages if not _translated(finnish.get(m))), key=str) == []


@pytest.mark.parametrize("language", ["fi", "en"])
def test_translations_keep_their_placeholders(language: str) -> None:
    for (_, message), translation in _catalog(language).items():
        for text in translation if isinstance(translation, tuple) else (translation,):
            assert set(PLACEHOLDER.findall(text)) <= set(PLACEHOLDER.findall(message)) | {"num"}, \
                (message, text)


def test_the_catalogs_are_found_where_the_app_reads_them() -> None:
    from api import i18n

    assert Path(i18n.LOCALE_DIR) == LOCALES
    with i18n.use_language("fi"):
        assert i18n.gettext("My tasks") == "Omat tehtävät"
    with i18n.use_language("en"):
        assert i18n.gettext("My tasks") == "My tasks"


def test_dates_times_and_numbers_follow_ui_terms() -> None:
    from datetime import UTC, datetime

    from api import i18n

    moment = datetime(2025, 3, 5, 12, 30, tzinfo=UTC)  # 14.30 in Helsinki
    with i18n.use_language("fi"):
        assert (i18n.format_day("2025-03-05"), i18n.format_moment(moment),
                i18n.format_number(2500.5)) == ("5.3.2025", "5.3.2025 klo 14.30", "2\xa0500,5")
    with i18n.use_language("en"):
        assert (i18n.format_day("2025-03-05"), i18n.format_moment(moment)) == \
            ("5.3.2025", "5.3.2025 14:30")


def test_every_event_of_a_case_history_has_words_on_the_case_page() -> None:
    from api.pages.cases import EVENTS
    from engine import audit

    case_events = {value for name, value in vars(audit).items()
                   if name.isupper() and isinstance(value, str) and not name.startswith("_")
                   and value != audit.MODEL_DEPLOYED}

    assert case_events - set(EVENTS) == set()
