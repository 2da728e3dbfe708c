"""Case keys: the values a case can be found by, e.g. its customer's Y-tunnus or customer id.

Which data fields are keys comes from the model, once per process version (`key_fields`):
- the case variables of message correlation: each `spiffworkflow:processVariableCorrelation`
  of a catching message event whose expression is a variable name (key = the property id),
  and the correlation properties of catching events (key = variable = the property name);
- the top-level fields of the process's forms whose `format` is a Finnish business id or
  personal id (`fi-business-id`, `y-tunnus`, `fi-personal-id`, `henkilotunnus`), also as
  the `items` of a list;
- the process-level property `searchKeys` (`spiffworkflow:property` or `camunda:property`),
  a comma-separated list of data fields, e.g. "businessId,customerId".

On every save the runner writes the case's current values of these fields to `case_keys`,
only when they changed (`sync`). The script functions `open_cases` and `case_count` and
`GET /api/process-instances?search=` read them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lxml import etree
from sqlalchemy import Select, delete, func, insert, select, union
from sqlalchemy.orm import Session

from engine import case_context
from engine.bpmn_xml import process_property
from engine.case_rows import CaseRecord
from engine.models import CaseKey, ProcessInstance

#: Form formats whose fields are keys.
KEY_FORMATS = frozenset({"fi-business-id", "y-tunnus", "fi-personal-id", "henkilotunnus"})
#: The process-level property that names more key fields.
SEARCH_KEYS_PROPERTY = "searchKeys"
MAX_NAME = 100
MAX_VALUE = 255
#: At most this many values of one list field are indexed.
MAX_VALUES = 100
#: At most this many cases are returned by `open_cases`.
MAX_RESULTS = 1000
#: Statuses of a case that is over (runner.FINAL; not imported, the runner imports this).
_FINAL = ("completed", "cancelled")


# ---------------------------------------------------------------- which fields are keys


def key_fields(process_id: str, specs: Iterable[Any], forms: dict[str, Any],
               roots: Iterable[etree._Element]) -> dict[str, str]:
    """{key name: data field} of a process version (see the module docstring)."""
    fields: dict[str, str] = {}
    for spec in specs:
        for ts in spec.task_specs.values():
            if not hasattr(ts, "catch"):
                continue  # only the values a case is correlated by when it waits
            edef = getattr(ts, "event_definition", None)
            for sub in getattr(edef, "event_definitions", None) or [edef]:
                for prop in getattr(sub, "process_correlations", None) or []:
                    expression = (prop.retrieval_expression or "").strip()
                    if expression.isidentifier():
                        fields.setdefault(prop.name, expression)
                for prop in getattr(sub, "correlation_properties", None) or []:
                    if str(prop.name).isidentifier():
                        fields.setdefault(prop.name, prop.name)
    for schema in forms.values():
        properties = schema.get("properties") if isinstance(schema, dict) else None
        for name, sub in (properties or {}).items():
            if not isinstance(sub, dict):
                continue
            items = sub.get("items") if isinstance(sub.get("items"), dict) else {}
            if sub.get("format") in KEY_FORMATS or items.get("format") in KEY_FORMATS:
                fields.setdefault(name, name)
    for root in roots:
        for name in search_keys_property(root, process_id):
            fields.setdefault(name, name)
    return {k: v for k, v in fields.items() if len(k) <= MAX_NAME}


def search_keys_property(root: etree._Element, process_id: str) -> list[str]:
    """The fields named by the process's `searchKeys` property in a BPMN document."""
    names = []
    for value in process_property(root, process_id, SEARCH_KEYS_PROPERTY):
        names.extend(n.strip() for n in value.split(",") if n.strip().isidentifier())
    return names


# ---------------------------------------------------------------- values


def key_strings(value: Any) -> list[str]:
    """How a value is stored as a key: strings, one per list item; nothing for empty values."""
    items = value if isinstance(value, list | tuple) else [value]
    out: set[str] = set()
    for item in items[:MAX_VALUES]:
        if isinstance(item, bool):
            text = "true" if item else "false"
        elif isinstance(item, str | int | float):
            text = str(item).strip()
        else:
            continue
        if text and len(text) <= MAX_VALUE:
            out.add(text)
    return sorted(out)


def key_values(fields: dict[str, str], data: dict[str, Any]) -> dict[str, list[str]]:
    """The case's keys: {key name: [value, ...]} for every key field with a value."""
    keys = {}
    for name, field in fields.items():
        values = key_strings(data.get(field))
        if values:
            keys[name] = values
    return keys


def sync(session: Session, row: CaseRecord, fields: dict[str, str]) -> None:
    """Write the case's keys to `case_keys` when they differ from those written last.

    Cheap when nothing changed (the usual save): a comparison with `row.search_keys`.
    """
    if not fields and not row.search_keys:
        return
    new = key_values(fields, row.data or {})
    old = row.search_keys
    if old == new:
        return
    old_pairs = {(n, v) for n, vs in (old or {}).items() for v in vs}
    new_pairs = {(n, v) for n, vs in new.items() for v in vs}
    for name, value in sorted(old_pairs - new_pairs):
        session.execute(delete(CaseKey).where(CaseKey.instance_id == row.id,
                                              CaseKey.name == name, CaseKey.value == value))
    added = sorted(new_pairs - old_pairs)
    if added:
        session.execute(insert(CaseKey), [{"instance_id": row.id, "name": n, "value": v}
                                          for n, v in added])
    row.search_keys = new


# ---------------------------------------------------------------- finding cases


def matching_ids(value: str) -> Select[Any]:
    """Ids of cases whose business key or any key equals `value` (for the case search)."""
    value = value.strip()
    return union(select(CaseKey.instance_id).where(CaseKey.value == value),
                 select(ProcessInstance.id).where(ProcessInstance.business_key == value))


def _cases(process_id: str, keys: dict[str, Any]) -> Select[Any] | None:
    """Cases of a process (other than the running one) whose keys match all `keys`;
    None when a key's value can match nothing (empty)."""
    query = select(ProcessInstance.id, ProcessInstance.business_key).where(
        ProcessInstance.process_id == str(process_id))
    context = case_context.current()
    if context.instance.id is not None:
        query = query.where(ProcessInstance.id != context.instance.id)
    for name, value in keys.items():
        values = key_strings(value)
        if not values:
            return None
        if len(values) > 1:
            raise ValueError(f"key {name!r}: give one value, not a list")
        # Driven by the key index (value, name), not by a scan of the process's cases.
        query = query.where(ProcessInstance.id.in_(select(CaseKey.instance_id).where(
            CaseKey.value == values[0], CaseKey.name == name)))
    return query


def open_cases(process_id: str, **keys: Any) -> list[str | int]:
    """Open (not completed or cancelled) cases of `process_id`, other than the running case,
    whose keys equal every given value, e.g. `open_cases("jobseeker_service",
    customerId=customerId)`: their business keys (a case's id when it has none), oldest first.
    """
    query = _cases(process_id, keys)
    if query is None:
        return []
    query = query.where(ProcessInstance.status.notin_(_FINAL)).order_by(ProcessInstance.id)
    session = case_context.current().session
    return [key or case_id for case_id, key in session.execute(query.limit(MAX_RESULTS))]


def case_count(process_id: str, status: str | list[str] | None = None, **keys: Any) -> int:
    """How many cases of `process_id`, other than the running case, have keys equal to every
    given value; `status` is one status, a list of them, "open" (not completed or cancelled)
    or None (any), e.g. `case_count("trial_placement", status="completed", customerId=c)`."""
    query = _cases(process_id, keys)
    if query is None:
        return 0
    if status == "open":
        query = query.where(ProcessInstance.status.notin_(_FINAL))
    elif isinstance(status, str):
        query = query.where(ProcessInstance.status == status)
    elif status is not None:
        query = query.where(ProcessInstance.status.in_([str(s) for s in status]))
    session = case_context.current().session
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
