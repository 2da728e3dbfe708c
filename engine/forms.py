"""User-task forms: JSON Schema (draft 2020-12) definitions, Camunda 7 conversion, validation.

No I/O: callers load form files and pass the parsed JSON in.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from engine.identifiers import is_valid_business_id, is_valid_personal_id

_DRAFT = "https://json-schema.org/draft/2020-12/schema"
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NUMBER_RE = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
_DATE_TIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", re.ASCII
)
_CAMUNDA_TYPES = {"string": "string", "long": "integer", "boolean": "boolean", "date": "string"}
_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "an object",
    "array": "a list",
    "null": "empty",
}
_MESSAGES = {
    "minLength": "must be at least {} characters long",
    "maxLength": "must be at most {} characters long",
    "minimum": "must be at least {}",
    "maximum": "must be at most {}",
    "exclusiveMinimum": "must be greater than {}",
    "exclusiveMaximum": "must be less than {}",
    "multipleOf": "must be a multiple of {}",
    "minItems": "must have at least {} items",
    "maxItems": "must have at most {} items",
    "pattern": "does not match the pattern {}",
    "const": "must be {}",
    "uniqueItems": "must not contain duplicates",
    "oneOf": "does not match exactly one of the allowed alternatives",
    "anyOf": "does not match any of the allowed alternatives",
    "not": "is not allowed",
}


@dataclass(frozen=True)
class FieldError:
    """One validation problem; ``field`` is a dotted path ("children.0.name"), "" for the root.

    ``message_en`` is the English text of a model author's message (``x-message-en`` of an
    ``x-validate`` rule), when ``message`` is the author's Finnish one. ``rule`` and ``limit``
    name the schema keyword that failed and its value (``minimum``, 18), so that a page can word
    the message in its own language.
    """

    field: str
    message: str
    message_en: str | None = None
    rule: str | None = dataclasses.field(default=None, compare=False)
    limit: Any = dataclasses.field(default=None, compare=False)

    def problem(self) -> dict[str, Any]:
        """The problem as the API answers it: field and message, and what is known besides."""
        answer: dict[str, Any] = {"field": self.field, "message": self.message}
        if self.message_en is not None:
            answer["message_en"] = self.message_en
        if self.rule is not None:
            answer["rule"] = self.rule
            if self.limit is not None:
                answer["limit"] = self.limit
        return answer


@dataclass(frozen=True)
class FormDefinition:
    """A user-task form: JSON Schema, optional UI hints, and where it came from."""

    schema: dict
    ui_schema: dict | None = None
    source: str = "json-schema"  # "json-schema" or "camunda"

    def to_dict(self) -> dict:
        """Return the form as a JSON-serialisable dict (schema, ui_schema, source)."""
        return {"schema": self.schema, "ui_schema": self.ui_schema, "source": self.source}


def _iso_date(value: Any) -> str | None:
    """Return ``value`` as an ISO date string if it is a real date (ISO, dd/MM/yyyy, d.M.yyyy)."""
    if not isinstance(value, str):
        return None
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y"):
        with suppress(ValueError):
            return datetime.datetime.strptime(value.strip(), fmt).date().isoformat()
    return None


def _is_date_time(value: str) -> bool:
    try:
        datetime.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return bool(_DATE_TIME_RE.match(value))


_BUSINESS_ID = (is_valid_business_id, "is not a valid Finnish business ID (Y-tunnus)")
_PERSONAL_ID = (
    is_valid_personal_id,
    "is not a valid Finnish personal identity code (henkilötunnus)",
)
_FORMATS: dict[str, tuple[Callable[[str], bool], str]] = {
    "date": (
        lambda v: bool(_DATE_RE.match(v)) and _iso_date(v) is not None,
        "is not a valid date (YYYY-MM-DD)",
    ),
    "date-time": (_is_date_time, "is not a valid date and time (ISO 8601 with time zone)"),
    "email": (lambda v: bool(_EMAIL_RE.match(v)), "is not a valid e-mail address"),
    "fi-business-id": _BUSINESS_ID,
    "y-tunnus": _BUSINESS_ID,
    "fi-personal-id": _PERSONAL_ID,
    "henkilotunnus": _PERSONAL_ID,
}
_FORMAT_CHECKER = FormatChecker(formats=())
for _name, (_check, _) in _FORMATS.items():
    # Non-strings pass: the "type" keyword reports those.
    _FORMAT_CHECKER.checks(_name)(lambda v, c=_check: not isinstance(v, str) or c(v))


def check_schema(schema: dict) -> list[str]:
    """Return the problems of a form schema at deploy time; an empty list means it is usable.

    The schema must be a JSON object and valid JSON Schema draft 2020-12 (unknown
    ``format`` names are allowed). Never raises.
    """
    if not isinstance(schema, dict):
        return ["form schema must be a JSON object"]
    meta = Draft202012Validator(
        Draft202012Validator.META_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    return sorted(
        f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in meta.iter_errors(schema)
    )


def _number(text: Any, field_id: str, name: str) -> int | float:
    if not isinstance(text, str) or not _NUMBER_RE.match(text.strip()):
        raise ValueError(f"field {field_id!r}: {name} must be a number, got {text!r}")
    return float(text) if "." in text else int(text)


def _convert_default(kind: str | None, default: Any) -> Any:
    """Convert a Camunda default (a string) to the field's type when possible."""
    if not isinstance(default, str):
        return default
    if kind == "long" and re.fullmatch(r"[+-]?\d+", default.strip()):
        return int(default)
    if kind == "boolean" and default.strip().lower() in ("true", "false"):
        return default.strip().lower() == "true"
    if kind == "date":
        return _iso_date(default) or default
    return default


def _camunda_property(field: dict) -> tuple[dict, bool]:
    """Return the JSON Schema of one Camunda form field and whether it is required."""
    field_id, kind = field["id"], field.get("type")
    prop: dict[str, Any] = {}
    if kind in _CAMUNDA_TYPES:
        prop["type"] = _CAMUNDA_TYPES[kind]
    elif kind == "enum":
        values = field.get("values") or []
        prop["type"] = "string"
        prop["enum"] = [v["id"] for v in values]
        prop["x-labels"] = {v["id"]: v.get("name") or v["id"] for v in values}
    elif kind:
        prop["x-camunda-type"] = kind
    if kind == "date":
        prop["format"] = "date"
    if field.get("label"):
        prop["title"] = field["label"]
    if field.get("default") is not None:
        prop["default"] = _convert_default(kind, field["default"])
    if field.get("properties"):
        prop["x-properties"] = dict(field["properties"])
    required = False
    for rule in field.get("validation") or []:
        name, config = rule.get("name"), rule.get("config")
        if name == "required":
            required = True
        elif name == "readonly":
            prop["readOnly"] = True
        elif name in ("minlength", "maxlength"):
            if not isinstance(config, str) or not config.strip().isdecimal():
                raise ValueError(f"field {field_id!r}: {name} must be a whole number >= 0")
            prop[name[:3] + "Length"] = int(config)
        elif name in ("min", "max") and kind == "date":
            iso = _iso_date(config)
            if iso is None:
                raise ValueError(f"field {field_id!r}: {name} must be a date, got {config!r}")
            prop["x-" + name] = iso
        elif name in ("min", "max"):
            prop["minimum" if name == "min" else "maximum"] = _number(config, field_id, name)
    return prop, required


def form_from_camunda_fields(fields: list[dict]) -> FormDefinition:
    """Convert Camunda 7 ``camunda:formData`` fields into a draft 2020-12 form.

    Types: string, long (integer), boolean, date (string, format "date", min/max kept in
    ``x-min``/``x-max``), enum (``enum`` of ids plus an ``x-labels`` id -> name map); any other
    type gets no type restriction. Constraints: required, minlength, maxlength, min, max,
    readonly; unknown constraints are ignored. Field order goes to ``ui:order``.
    Raises ``ValueError`` on a malformed constraint config (e.g. ``max`` "ten").
    """
    converted = {field["id"]: _camunda_property(field) for field in fields}
    properties = {field_id: prop for field_id, (prop, _) in converted.items()}
    required = [field_id for field_id, (_, is_required) in converted.items() if is_required]
    schema: dict[str, Any] = {"$schema": _DRAFT, "type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return FormDefinition(schema, {"ui:order": list(properties)}, source="camunda")


def _join(path: Any) -> str:
    return ".".join(str(p) for p in path)


def _message(error: ValidationError) -> str:
    """An English message for one jsonschema error that never echoes the submitted value."""
    kind, expected = error.validator, error.validator_value
    if kind == "type":
        names = [expected] if isinstance(expected, str) else list(expected)
        return "must be " + " or ".join(_TYPE_NAMES.get(n, n) for n in names)
    if kind == "format":
        return _FORMATS[expected][1] if expected in _FORMATS else f"is not a valid {expected}"
    if kind == "enum":
        return "must be one of: " + ", ".join(str(v) for v in expected)
    return _MESSAGES.get(kind, f"is not valid ({kind})").format(expected)


def _errors_of(error: ValidationError) -> Iterator[FieldError]:
    """Turn one jsonschema error into field errors, pointing at missing/unexpected properties."""
    path, instance = list(error.absolute_path), error.instance
    if error.validator == "required" and isinstance(instance, dict):
        for name in error.validator_value:
            if name not in instance:
                yield FieldError(_join([*path, name]), "is required")
    elif error.validator == "additionalProperties" and isinstance(instance, dict):
        known, patterns = error.schema.get("properties", {}), error.schema.get("patternProperties")
        for name in instance:
            if name not in known and not any(re.search(p, name) for p in patterns or {}):
                yield FieldError(_join([*path, name]), "is not allowed")
    else:
        limit = error.validator_value
        yield FieldError(_join(path), _message(error), rule=str(error.validator),
                         limit=limit if isinstance(limit, int | float | str) else None)


def _walk(schema: Any, value: Any, path: tuple) -> Iterator[tuple[tuple, dict, Any]]:
    """Yield (path, subschema, value) for every submitted value under properties/items."""
    if not isinstance(schema, dict):
        return
    yield path, schema, value
    if isinstance(value, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if name in value:
                yield from _walk(sub, value[name], (*path, name))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from _walk(schema["items"], item, (*path, index))


#: Date bounds that JSON Schema cannot express. A bound is an ISO date, or an expression that
#: `resolve_bounds` turns into one when the form is checked (e.g. "today()").
BOUND_KEYWORDS = ("x-min", "x-max", "x-exclusiveMin", "x-exclusiveMax")


def bound_expressions(schema: Any) -> Iterator[str]:
    """The date bounds of a schema that are expressions (resolved before validation)."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key in BOUND_KEYWORDS and isinstance(value, str) and not _DATE_RE.match(value):
                yield value
            else:
                yield from bound_expressions(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from bound_expressions(item)


def resolve_bounds(schema: Any, evaluate: Callable[[str], Any]) -> Any:
    """A copy of `schema` whose expression date bounds are evaluated to ISO dates.

    A bound whose expression cannot be evaluated (e.g. a field the data lacks) is dropped: the
    field's own rules (required, format) report what is missing.
    """
    if isinstance(schema, list):
        return [resolve_bounds(item, evaluate) for item in schema]
    if not isinstance(schema, dict):
        return schema
    resolved: dict[str, Any] = {}
    for key, value in schema.items():
        if key in BOUND_KEYWORDS and isinstance(value, str) and not _DATE_RE.match(value):
            try:
                bound = evaluate(value)
            except Exception:  # noqa: BLE001 - a bound over missing data does not apply
                continue
            if bound is not None:
                resolved[key] = str(bound.isoformat() if hasattr(bound, "isoformat")
                                    else bound)[:10]
        else:
            resolved[key] = resolve_bounds(value, evaluate)
    return resolved


#: Rules that check submitted values against the case's data (see `validation_rules`).
VALIDATE_KEYWORD = "x-validate"


@dataclass(frozen=True)
class ValidationRule:
    """One `x-validate` rule of a form: an expression that must be true, at a field.

    `path` is the field's path; "*" stands for every item of a list (`items`)."""

    path: tuple[str, ...]
    expression: str
    message: str
    message_en: str | None = None

    @property
    def field(self) -> str:
        """The field's dotted path as deploy problems name it (`selectedCandidates.*`)."""
        return _join(self.path)


#: What a rule's expression calls the submitted value of its field (or list item).
RULE_VALUE = "value"


def validation_rules(schema: Any, path: tuple[str, ...] = ()) -> Iterator[ValidationRule | str]:
    """The `x-validate` rules of a schema: at its root, under (nested) `properties` and under
    `items` (checked for each item of the submitted list).

    A rule is `{"expression": "...", "message": "...", "x-message-en": "..."}`; the keyword
    takes a rule or a list of rules. A malformed rule is yielded as a problem (a string).
    """
    if not isinstance(schema, dict):
        return
    where = _join(path) or "(root)"
    rules = schema.get(VALIDATE_KEYWORD)
    if rules is not None:
        for rule in rules if isinstance(rules, list) else [rules]:
            if not isinstance(rule, dict) or not isinstance(rule.get("expression"), str) \
                    or not rule["expression"].strip() or not isinstance(rule.get("message"), str):
                yield (f"{VALIDATE_KEYWORD} of {where}: a rule is an object with an "
                       "\"expression\" and a \"message\"")
                continue
            english = rule.get("x-message-en")
            yield ValidationRule(path, rule["expression"], rule["message"],
                                 english if isinstance(english, str) else None)
    properties = schema.get("properties")
    for name, sub in properties.items() if isinstance(properties, dict) else ():
        yield from validation_rules(sub, (*path, name))
    yield from validation_rules(schema.get("items"), (*path, "*"))


def _rule_targets(path: tuple[str, ...], value: Any, at: tuple = ()
                  ) -> Iterator[tuple[tuple, Any]]:
    """(concrete path, submitted value) of every place a rule's path names in the data; a field
    that was not submitted gives the value `_MISSING` (list items: none)."""
    if not path:
        yield at, value
        return
    head, rest = path[0], path[1:]
    if head == "*":
        if isinstance(value, list):
            for index, item in enumerate(value):
                yield from _rule_targets(rest, item, (*at, index))
    elif isinstance(value, dict) and head in value:
        yield from _rule_targets(rest, value[head], (*at, head))
    elif "*" not in rest:
        yield (*at, *path), _MISSING


_MISSING = object()


def check_rules(schema: dict, data: dict, evaluate: Callable[[str, dict[str, Any]], Any],
                skip: Iterable[FieldError] = ()) -> list[FieldError]:
    """Evaluate the `x-validate` rules of a schema over submitted `data`: a false result is an
    error at the rule's field (a list item's rule: at that item, e.g. `selectedCandidates.1`).

    `evaluate(expression, names)` runs an expression with extra names: `value` is the submitted
    value of the rule's field or item. A rule whose expression fails (e.g. over data that is
    missing) does not apply, nor does a rule at a field that already has an error in `skip`.
    """
    failed = {e.field for e in skip}
    errors = []
    for rule in validation_rules(schema):
        if not isinstance(rule, ValidationRule):
            continue
        for at, value in _rule_targets(rule.path, data):
            field = _join(at)
            if field and any(field == f or field.startswith(f + ".") or f.startswith(field + ".")
                             for f in failed):
                continue
            try:
                ok = evaluate(rule.expression, {} if value is _MISSING else {RULE_VALUE: value})
            except Exception:  # noqa: BLE001 - a rule over missing data does not apply
                continue
            if not ok:
                errors.append(FieldError(field, rule.message, rule.message_en))
    return errors


def _extra_errors(schema: dict, data: dict, previous: dict) -> Iterator[FieldError]:
    """Checks JSON Schema cannot express: read-only fields and date bounds."""
    for name, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, dict) and sub.get("readOnly") and name in data:
            unchanged = previous[name] if name in previous else sub.get("default")
            if data[name] != unchanged:
                yield FieldError(name, "is read-only")
    for path, sub, value in _walk(schema, data, ()):
        iso = _iso_date(value) if isinstance(value, str) and _DATE_RE.match(value) else None
        if iso is None:
            continue
        if isinstance(sub.get("x-min"), str) and iso < sub["x-min"]:
            yield FieldError(_join(path), f"must be on or after {sub['x-min']}", rule="x-min",
                             limit=sub["x-min"])
        if isinstance(sub.get("x-max"), str) and iso > sub["x-max"]:
            yield FieldError(_join(path), f"must be on or before {sub['x-max']}", rule="x-max",
                             limit=sub["x-max"])
        if isinstance(sub.get("x-exclusiveMin"), str) and iso <= sub["x-exclusiveMin"]:
            yield FieldError(_join(path), f"must be after {sub['x-exclusiveMin']}",
                             rule="x-exclusiveMin", limit=sub["x-exclusiveMin"])
        if isinstance(sub.get("x-exclusiveMax"), str) and iso >= sub["x-exclusiveMax"]:
            yield FieldError(_join(path), f"must be before {sub['x-exclusiveMax']}",
                             rule="x-exclusiveMax", limit=sub["x-exclusiveMax"])


def validate_form_data(
    form: FormDefinition, data: dict, *, previous: dict | None = None
) -> list[FieldError]:
    """Validate submitted task data against a form and return every problem, sorted by field.

    Uses draft 2020-12 with format checks for date, date-time, email, fi-business-id /
    y-tunnus and fi-personal-id / henkilotunnus. A ``readOnly`` top-level property may only be
    submitted unchanged (equal to ``previous[name]``, or to its default if ``previous`` lacks
    it). Date ``x-min``/``x-max`` bounds are checked. Bad data never raises; a broken schema
    (which :func:`check_schema` rejects at deploy time) may.
    """
    if not isinstance(data, dict):
        return [FieldError("", "must be an object")]
    validator = Draft202012Validator(form.schema, format_checker=_FORMAT_CHECKER)
    errors: set[FieldError] = set()
    for error in validator.iter_errors(data):
        errors.update(_errors_of(error))
    errors.update(_extra_errors(form.schema, data, previous or {}))
    return sorted(errors, key=lambda e: (e.field, e.message))
