"""Forms on the pages: the input fields of a JSON Schema form, and reading them back.

Both styles of the contract arrive here as JSON Schema (`engine.forms` converts Camunda's
formData). An input's name is the property's path (`children.0.name`), the same path that the
server's per-field errors name, so an error finds its field.

Widgets by schema: string → text (`format: date` → date, `x-widget: textarea` or a long
`maxLength` → textarea, `format: file` → file upload), integer/number → number, `enum` →
choice (radio buttons for a few options), boolean → yes/no, array of an enum → checkboxes,
array of objects → a repeating group, object → a group of fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData, UploadFile

from api.i18n import localized

#: Options up to this many are radio buttons, more are a drop-down list.
RADIO_LIMIT = 4
#: A string that may be longer than this is a text area.
TEXTAREA_FROM = 200
FILE_FORMAT = "file"


@dataclass
class Field:
    """One input (or group of inputs) of a form, ready for the template."""

    name: str
    kind: str
    label: str
    required: bool = False
    description: str | None = None
    value: Any = None
    options: list[tuple[str, str]] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    readonly: bool = False
    #: A repeating group: one list of fields per row; an object: one row.
    rows: list[list[Field]] = field(default_factory=list)
    #: A repeating group's errors that name the group itself (e.g. too few rows).
    min_rows: int = 0

    @property
    def input_id(self) -> str:
        """An HTML id for the input (dots are awkward in CSS selectors)."""
        return "f-" + self.name.replace(".", "-")


def _label(name: str, schema: dict[str, Any]) -> str:
    return str(localized(schema.get("title"), schema.get("x-title-en")) or name)


def _options(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """(value, label) pairs of an enum or a oneOf of consts."""
    if isinstance(schema.get("enum"), list):
        labels = localized(schema.get("x-labels"), schema.get("x-labels-en")) or {}
        return [(str(v), str(labels.get(str(v), v))) for v in schema["enum"] if v is not None]
    alternatives = schema.get("oneOf") or schema.get("anyOf") or []
    return [(str(a["const"]), str(localized(a.get("title"), a.get("x-title-en")) or a["const"]))
            for a in alternatives if isinstance(a, dict) and "const" in a]


def _kind(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "array":
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        return "checkboxes" if _options(items) else "group"
    if kind == "object":
        return "object"
    if _options(schema):
        return "radio" if len(_options(schema)) <= RADIO_LIMIT else "select"
    if kind == "boolean":
        return "yesno"
    if kind in ("integer", "number"):
        return kind
    if schema.get("format") == FILE_FORMAT:
        return "file"
    if schema.get("format") == "date":
        return "date"
    if schema.get("x-widget") == "textarea" or schema.get("maxLength", 0) > TEXTAREA_FROM:
        return "textarea"
    return "text"


def _attrs(schema: dict[str, Any], kind: str) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    if kind in ("integer", "number"):
        for keyword, attr in (("minimum", "min"), ("maximum", "max")):
            if isinstance(schema.get(keyword), int | float):
                attrs[attr] = schema[keyword]
        attrs["step"] = "1" if kind == "integer" else "any"
    if kind in ("text", "textarea"):
        for keyword, attr in (("maxLength", "maxlength"), ("minLength", "minlength")):
            if isinstance(schema.get(keyword), int):
                attrs[attr] = schema[keyword]
    if kind == "date":
        for keyword, attr in (("x-min", "min"), ("x-max", "max")):
            bound = schema.get(keyword)
            if isinstance(bound, str) and len(bound) == 10 and bound[4] == "-":
                attrs[attr] = bound
    if kind == "file" and isinstance(schema.get("x-accept"), list):
        attrs["accept"] = ",".join(str(a) for a in schema["x-accept"])
    return attrs


def _ordered(schema: dict[str, Any], ui: dict[str, Any] | None) -> list[str]:
    names = list((schema.get("properties") or {}).keys())
    order = (ui or {}).get("ui:order") or schema.get("x-order")
    if isinstance(order, list):
        first = [n for n in order if n in names]
        return first + [n for n in names if n not in first]
    return names


def _display(value: Any, kind: str) -> Any:
    if value is None:
        return [] if kind == "checkboxes" else ""
    if kind == "yesno":
        return "true" if value is True else "false" if value is False else str(value)
    if kind == "checkboxes":
        return [str(v) for v in value] if isinstance(value, list) else []
    return value


def build_fields(schema: dict[str, Any], values: dict[str, Any], errors: dict[str, str],
                 ui: dict[str, Any] | None = None, prefix: str = "") -> list[Field]:
    """The fields of an object schema, filled with `values` and the errors at their paths."""
    required = set(schema.get("required") or [])
    hidden = {n for n, hint in (ui or {}).items()
              if isinstance(hint, dict) and hint.get("ui:widget") == "hidden"}
    fields: list[Field] = []
    for name in _ordered(schema, ui):
        sub = schema["properties"][name]
        if not isinstance(sub, dict) or name in hidden:
            continue
        path = f"{prefix}{name}"
        kind = _kind(sub)
        item = Field(name=path, kind=kind, label=_label(name, sub), required=name in required,
                     description=localized(sub.get("description"), sub.get("x-description-en")),
                     options=_options(sub.get("items", {}) if kind == "checkboxes" else sub),
                     attrs=_attrs(sub, kind), error=errors.get(path),
                     readonly=bool(sub.get("readOnly")))
        value = values.get(name) if isinstance(values, dict) else None
        if kind == "object":
            item.rows = [build_fields(sub, value if isinstance(value, dict) else {}, errors,
                                      (ui or {}).get(name), f"{path}.")]
        elif kind == "group":
            rows = value if isinstance(value, list) else []
            item.min_rows = int(sub.get("minItems") or 0)
            count = max(len(rows), item.min_rows, 1 if item.required else 0)
            items = sub.get("items") or {}
            item.rows = [build_fields(items, rows[i] if i < len(rows) else {}, errors,
                                      (ui or {}).get(name), f"{path}.{i}.")
                         for i in range(count)]
            if "maxItems" in sub:
                item.attrs["max_rows"] = sub["maxItems"]
        else:
            item.value = _display(value if value is not None else sub.get("default"), kind)
        fields.append(item)
    return fields


def _number(text: str, kind: str) -> Any:
    cleaned = text.replace(" ", "").replace("\u00a0", "").replace(",", ".")
    try:
        return int(cleaned) if kind == "integer" else (
            int(cleaned) if cleaned.lstrip("+-").isdigit() else float(cleaned))
    except ValueError:
        return text  # kept as typed: validation names the field


def _row_indexes(form: FormData, path: str) -> list[int]:
    prefix = f"{path}."
    found = set()
    for key in form.keys():
        if key.startswith(prefix):
            head = key[len(prefix):].split(".", 1)[0]
            if head.isdigit():
                found.add(int(head))
    return sorted(found)


def read_submission(schema: dict[str, Any], form: FormData, prefix: str = ""
                    ) -> tuple[dict[str, Any], dict[str, UploadFile]]:
    """The typed data of a posted form, and the files to store (by path).

    Empty inputs are left out, so that `required` names them; a number that does not parse is
    kept as typed, so that validation names it and the page shows it again.
    """
    data: dict[str, Any] = {}
    uploads: dict[str, UploadFile] = {}
    for name, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict):
            continue
        path = f"{prefix}{name}"
        kind = _kind(sub)
        if kind == "object":
            value, files = read_submission(sub, form, f"{path}.")
            uploads.update(files)
            if value:
                data[name] = value
        elif kind == "group":
            rows = []
            for index in _row_indexes(form, path):
                value, files = read_submission(sub.get("items") or {}, form, f"{path}.{index}.")
                uploads.update({k.replace(f"{path}.{index}.", f"{path}.{len(rows)}.", 1): v
                                for k, v in files.items()})
                if value or files:
                    rows.append(value)
            if rows:
                data[name] = rows
        elif kind == "checkboxes":
            chosen = [v for v in form.getlist(path) if isinstance(v, str) and v]
            if chosen or path in form:
                data[name] = chosen
        elif kind == "file":
            upload = form.get(path)
            if isinstance(upload, UploadFile) and upload.filename:
                uploads[path] = upload
            kept = form.get(f"{path}.kept")
            if isinstance(kept, str) and kept:
                data[name] = kept
        else:
            raw = form.get(path)
            if not isinstance(raw, str) or not raw.strip():
                continue
            text = raw.strip()
            if kind in ("integer", "number"):
                data[name] = _number(text, kind)
            elif kind == "yesno":
                data[name] = {"true": True, "false": False}.get(text, text)
            else:
                data[name] = text
    return data, uploads


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Put `value` at a dotted path (`children.0.cv`), making the containers on the way."""
    parts = path.split(".")
    target: Any = data
    for part, following in zip(parts, parts[1:], strict=False):
        key: Any = int(part) if part.isdigit() else part
        nxt: Any = [] if following.isdigit() else {}
        if isinstance(target, list):
            while len(target) <= key:
                target.append({})
            target = target[key]
        else:
            target = target.setdefault(key, nxt)
    last = parts[-1]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value


def add_row(data: dict[str, Any], path: str) -> None:
    """Add an empty row to the repeating group at `path` (the form's "add" button)."""
    rows: Any = data
    for part in path.split("."):
        rows = rows[int(part)] if isinstance(rows, list) else rows.setdefault(part, [])
    if isinstance(rows, list):
        rows.append({})


def remove_row(data: dict[str, Any], path: str) -> None:
    """Remove the row at `path` (`children.1`) of a repeating group."""
    *group, index = path.split(".")
    rows: Any = data
    for part in group:
        rows = rows[int(part)] if isinstance(rows, list) else rows.get(part, [])
    if isinstance(rows, list) and index.isdigit() and int(index) < len(rows):
        rows.pop(int(index))


def read_row_action(form: FormData) -> tuple[str, str] | None:
    """The repeating-group button that was pressed: ("add", "children") or
    ("remove", "children.1"); None for a plain submit."""
    action = form.get("_action")
    if isinstance(action, str) and ":" in action:
        verb, _, path = action.partition(":")
        if verb in ("add", "remove"):
            return verb, path
    return None


def _labels(fields: list[Field], into: dict[str, str]) -> dict[str, str]:
    for item in fields:
        into[item.name] = item.label
        for row in item.rows:
            _labels(row, into)
    return into


def split_errors(fields: list[Field], errors: dict[str, str]
                 ) -> tuple[list[str], list[tuple[str, str, str]]]:
    """The errors for the summary: those of no field of the form, and (path, label, text) of
    those that have a field (the summary links to it)."""
    labels = _labels(fields, {})
    general = [text for name, text in errors.items() if name not in labels]
    named = [(name, labels[name], text) for name, text in errors.items() if name in labels]
    return general, named
