"""Reference data and process parameters (PROCESSES.md §1.4–§1.6), and the script functions
that read them: `parameter(name)`, `reference(kind, code)` and `new_case_key(prefix)`.

Files in `processes/reference/` are loaded on start: `parameters-<name>.json` are parameter
sets (`{"name", "valid_from", "values"}`); every other `<kind>.json` is a list of items with a
`code`. A parameter set is immutable once loaded: a case keeps the set it started with, so a
change is a new set with a later `valid_from`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from engine import case_context, clock
from engine.models import KeyCounter, ParameterSet, ReferenceItem
from engine.state import to_jsonable

log = logging.getLogger(__name__)

_cache_lock = threading.Lock()
_parameter_cache: dict[str, dict[str, Any]] = {}
_reference_cache: dict[tuple[str, str], dict[str, Any] | None] = {}


def clear_caches() -> None:
    """Forget cached parameter sets and reference items (a new database, in tests)."""
    with _cache_lock:
        _parameter_cache.clear()
        _reference_cache.clear()


def load_folder(session: Session, folder: Path) -> list[str]:
    """Load every reference file in `folder`; returns what was loaded."""
    loaded: list[str] = []
    if not folder.is_dir():
        return loaded
    for path in sorted(folder.glob("*.json")):
        content = json.loads(path.read_text(encoding="utf-8"))
        if path.name.startswith("parameters-"):
            _load_parameters(session, content)
            loaded.append(f"parameters {content['name']}")
        else:
            kind = path.stem
            for item in content:
                row = session.get(ReferenceItem, (kind, str(item["code"])))
                if row is None:
                    session.add(ReferenceItem(kind=kind, code=str(item["code"]), data=item))
                else:
                    row.data = item
            loaded.append(f"{kind} ({len(content)})")
    clear_caches()
    return loaded


def reviewer_groups(session: Session) -> list[tuple[str, str]]:
    """The (team id, name) of every reference item that names a `reviewerGroup` (§1.5: one
    group per development company), so that such groups exist as teams."""
    groups = set()
    for row in session.scalars(select(ReferenceItem)):
        group = row.data.get("reviewerGroup") if isinstance(row.data, dict) else None
        if isinstance(group, str):
            groups.add((group, str(row.data.get("name") or row.code)))
    return sorted(groups)


def _load_parameters(session: Session, content: dict[str, Any]) -> None:
    values = content["values"]
    digest = hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()
    row = session.get(ParameterSet, content["name"])
    if row is None:
        session.add(ParameterSet(name=content["name"], values=values, sha256=digest,
                                 valid_from=content.get("valid_from", "1970-01-01"),
                                 loaded_at=clock.now()))
    elif row.sha256 != digest:
        log.error("parameter set %s changed on disk; sets are immutable, keeping the loaded "
                  "one: give the change a new name and valid_from", content["name"])


_sets = ParameterSet.__table__
_ACTIVE_SET = select(_sets.c.name).where(_sets.c.valid_from <= bindparam("today")) \
    .order_by(_sets.c.valid_from.desc()).limit(1)


def active_parameter_set(session: Session) -> str | None:
    """The newest parameter set already in force today, by its `valid_from`."""
    today = clock.local_today().isoformat()
    if any(isinstance(o, ParameterSet) for o in session.new):
        session.flush()  # a set loaded in this transaction counts
    # A Core statement built once: every case start asks this.
    return session.connection().execute(_ACTIVE_SET, {"today": today}).scalar()


def parameter_values(session: Session, name: str | None) -> dict[str, Any]:
    """The values of a parameter set (cached: sets never change)."""
    if name is None:
        return {}
    with _cache_lock:
        cached = _parameter_cache.get(name)
    if cached is None:
        row = session.get(ParameterSet, name)
        cached = dict(row.values) if row is not None else {}
        with _cache_lock:
            _parameter_cache[name] = cached
    return cached


# ---------------------------------------------------------------- script functions


def parameter(name: str) -> Any:
    """The value of a parameter in the running case's parameter set (e.g. `firstContactBd`)."""
    values = case_context.current().parameters
    if name not in values:
        raise KeyError(f"unknown parameter {name!r}")
    return values[name]


def reference(kind: str, code: str) -> dict[str, Any] | None:
    """A reference item, e.g. `reference("municipalities", "276")["serviceAreaCode"]`."""
    key = (str(kind), str(code))
    with _cache_lock:
        if key in _reference_cache:
            return _reference_cache[key]
    row = case_context.current().session.get(ReferenceItem, key)
    data = dict(row.data) if row is not None else None
    with _cache_lock:
        _reference_cache[key] = data
    return data


#: Marks a reference item that a case wrote (`save_reference`); only such items may change.
WRITTEN_BY = "writtenByCase"


def save_reference(kind: str, code: str, item: dict[str, Any]) -> dict[str, Any]:
    """Create or update a reference item from a case, e.g. a temporary service point:
    `save_reference("service_points", "SP-TMP-001", {...})`. Items loaded from the reference
    files cannot be changed this way (`PermissionError`), nor can another case's. Returns the
    item as stored, which names the case in `writtenByCase`."""
    if not isinstance(item, dict):
        raise TypeError("a reference item is an object")
    context = case_context.current()
    key = (str(kind), str(code))
    row = context.session.get(ReferenceItem, key, with_for_update=True)
    owner = row.data.get(WRITTEN_BY) if row is not None and isinstance(row.data, dict) else None
    if row is not None and owner != context.instance.id:
        raise PermissionError(f"reference item {kind}/{code} is not this case's to change")
    data = {**to_jsonable(item), "code": key[1], WRITTEN_BY: context.instance.id}
    if row is None:
        context.session.add(ReferenceItem(kind=key[0], code=key[1], data=data))
    else:
        row.data = data
    with _cache_lock:
        _reference_cache.pop(key, None)
    return data


def current_user() -> str | None:
    """The user whose action runs this code (who completed the task or started the case);
    None when a timer, a message or a worker moved the case."""
    actor = case_context.current().actor
    return None if actor is None or actor.startswith("system") else actor


def new_case_key(prefix: str) -> str:
    """The next business key for `prefix` this year, e.g. `V-2025-000001`; also the case's key.

    Numbers come from a counter row locked in the case's transaction, so two cases never get
    the same key, and a rolled-back case gives its number back.
    """
    if not prefix.isalpha() or not prefix.isupper() or len(prefix) > 3:
        raise ValueError("a key prefix is 1 to 3 capital letters")
    context = case_context.current()
    year = clock.local_today().year
    session = context.session
    row = session.get(KeyCounter, (prefix, year), with_for_update=True)
    if row is None:
        row = KeyCounter(prefix=prefix, year=year, value=0)
        session.add(row)
    row.value += 1
    session.flush()
    key = f"{prefix}-{year}-{row.value:06d}"
    if context.instance.business_key is None:
        context.instance.business_key = key
    return key
