"""What the pages show of a case: its data with the labels of its forms, and error texts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from api.i18n import format_day, format_number, gettext, gettext_noop, localized, ngettext
from api.pages.form_fields import build_fields, split_errors
from engine.deploy import load_bundle
from engine.models import ProcessInstance, ProcessVersion
from engine.tasks import mask_personal_ids


def _collect(schema: Any, labels: dict[str, dict[str, Any]]) -> None:
    if not isinstance(schema, dict):
        return
    for name, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, dict):
            labels.setdefault(name, sub)
            _collect(sub, labels)
            _collect(sub.get("items"), labels)


def field_schemas(session: Session, row: ProcessInstance) -> dict[str, dict[str, Any]]:
    """Every property of the forms of a case's model, by name (first form that has it)."""
    pv = session.get(ProcessVersion, row.process_version_id)
    labels: dict[str, dict[str, Any]] = {}
    if pv is not None:
        for schema in load_bundle(session, pv).forms.values():
            _collect(schema, labels)
    return labels


def _text(value: Any, schema: dict[str, Any]) -> Any:
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    choices = localized(schema.get("x-labels"), schema.get("x-labels-en"))
    if isinstance(choices, dict) and str(value) in choices:
        return choices[str(value)]
    return value


def readable(data: dict[str, Any], schemas: dict[str, dict[str, Any]], *,
             mask: bool = True) -> list[dict[str, Any]]:
    """The case data as labelled entries, in the forms' words; nested lists as tables.

    Each entry: `label`, `labelled` (a form names it), and `value` (a scalar) or `rows` (a
    list of entry lists).
    """
    shown = mask_personal_ids(data) if mask else data
    entries = []
    for name, value in shown.items():
        schema = schemas.get(name, {})
        title = localized(schema.get("title"), schema.get("x-title-en"))
        label, labelled = title or name, bool(title)
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            entries.append({"label": label, "name": name, "labelled": labelled,
                            "rows": [readable(v, schemas, mask=False) for v in value]})
        elif isinstance(value, dict):
            entries.append({"label": label, "name": name, "labelled": labelled,
                            "rows": [readable(value, schemas, mask=False)]})
        elif isinstance(value, list):
            entries.append({"label": label, "name": name, "labelled": labelled,
                            "value": ", ".join(str(_text(v, schema.get("items") or {}))
                                               for v in value)})
        elif value is not None and value != "":
            entries.append({"label": label, "name": name, "labelled": labelled,
                            "value": _text(value, schema)})
    return entries


#: The platform's own validation messages (`engine.forms`), so that they are translated.
PLATFORM_MESSAGES = (
    gettext_noop("is required"),
    gettext_noop("is not allowed"),
    gettext_noop("is read-only"),
    gettext_noop("is not a valid Finnish business ID (Y-tunnus)"),
    gettext_noop("is not a valid Finnish personal identity code (henkilötunnus)"),
    gettext_noop("is not a valid date (YYYY-MM-DD)"),
    gettext_noop("is not a valid e-mail address"),
    gettext_noop("must be a string"),
    gettext_noop("must be an integer"),
    gettext_noop("must be a number"),
    gettext_noop("must be true or false"),
    gettext_noop("must be a list"),
    gettext_noop("must not contain duplicates"),
    gettext_noop("the file is empty"),
    gettext_noop("the file content does not match its type"),
)
#: Problems worded from the failed rule and its limit (`engine.forms.FieldError.problem`).
_BY_RULE = {
    "minimum": gettext_noop("The value must be at least %(limit)s."),
    "maximum": gettext_noop("The value must be at most %(limit)s."),
    "exclusiveMinimum": gettext_noop("The value must be greater than %(limit)s."),
    "exclusiveMaximum": gettext_noop("The value must be less than %(limit)s."),
    "x-min": gettext_noop("The date must be %(limit)s or later."),
    "x-max": gettext_noop("The date must be %(limit)s or earlier."),
    "x-exclusiveMin": gettext_noop("The date must be later than %(limit)s."),
    "x-exclusiveMax": gettext_noop("The date must be earlier than %(limit)s."),
    "enum": gettext_noop("Select one of the options."),
    "pattern": gettext_noop("Invalid value."),
    "const": gettext_noop("Invalid value."),
}


def _counted(rule: str, n: int) -> str | None:
    if rule == "minLength":
        return ngettext("Enter at least %(num)s character.", "Enter at least %(num)s characters.",
                        n)
    if rule == "maxLength":
        return ngettext("Enter at most %(num)s character.", "Enter at most %(num)s characters.",
                        n)
    if rule == "minItems":
        return ngettext("Give at least %(num)s item.", "Give at least %(num)s items.", n)
    if rule == "maxItems":
        return ngettext("Give at most %(num)s item.", "Give at most %(num)s items.", n)
    return None


def problem_text(problem: dict[str, Any]) -> str:
    """A validation problem in the page's language: an author's message in its language, the
    platform's worded from the failed rule, else its message translated."""
    message = str(problem.get("message", ""))
    if problem.get("message_en"):
        return str(localized(message, problem["message_en"]))
    rule, limit = problem.get("rule"), problem.get("limit")
    if isinstance(rule, str) and isinstance(limit, int) and not isinstance(limit, bool):
        counted = _counted(rule, limit)
        if counted:
            return counted
    if rule in _BY_RULE and (limit is not None or "%(limit)s" not in _BY_RULE[rule]):
        shown = format_day(limit) if rule.startswith("x-") else format_number(limit)
        return gettext(_BY_RULE[rule], limit=shown)
    return gettext(message)


def form_view(schema: dict[str, Any] | None, ui: dict[str, Any] | None, values: dict[str, Any],
              problems: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """What a form page renders: its fields filled with `values`, and the problems in the
    page's language, next to their fields and in the summary."""
    errors = {str(p.get("field", "")): problem_text(p) for p in problems}
    fields = build_fields(schema, values, errors, ui) if schema else []
    general, named = split_errors(fields, errors)
    return {"fields": fields, "general_errors": general, "field_errors": named}
