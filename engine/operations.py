"""Named operations that BPMN service tasks call (`spiffworkflow:serviceTaskOperator`).

Two kinds:
- *case operations* run inside the transaction that completes the service task, with the
  session: `notify` (in-app and e-mail notification), `render_document` and
  `add_candidate_team` (another team may work on an open user task, `engine.candidates`).
- *external operations* run in a worker outside any transaction, and may fail and be retried:
  `http_call` (an HTTP endpoint named in `VIRTA_HTTP_ENDPOINTS`). Deployments and tests may
  register more with `register_external`.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy.orm import Session

from engine import candidates, clock, notifications
from engine.case_rows import CaseRecord
from engine.models import Document
from engine.settings import get_settings

ExternalOperation = Callable[..., Any]
CaseOperation = Callable[[Session, CaseRecord, dict[str, Any]], Any]

_external: dict[str, ExternalOperation] = {}
_in_case: dict[str, CaseOperation] = {}


def register_external(name: str, fn: ExternalOperation) -> None:
    """Make `fn(**params) -> JSON-able` callable from service tasks as `name`."""
    _external[name] = fn


def unregister(name: str) -> None:
    """Remove an operation (tests)."""
    _external.pop(name, None)
    _in_case.pop(name, None)


def is_case_operation(name: str) -> bool:
    """Whether an operation runs inside the case's transaction."""
    return name in _in_case


def known(name: str) -> bool:
    """Whether an operation of this name exists."""
    return name in _in_case or name in _external


def call_external(name: str, params: dict[str, Any]) -> Any:
    """Run an external operation; raises `LookupError` when it does not exist."""
    fn = _external.get(name)
    if fn is None:
        raise LookupError(f"unknown service operation {name!r}")
    return fn(**params)


def call_in_case(name: str, session: Session, case: CaseRecord,
                 params: dict[str, Any]) -> Any:
    """Run a case operation in the caller's transaction."""
    return _in_case[name](session, case, params)


def _notify(session: Session, case: CaseRecord, params: dict[str, Any]) -> Any:
    kind = params.get("template") or "message"
    context = {"case_id": case.id, "subject": params.get("subject", ""),
               "body": params.get("body", ""), **(params.get("context") or {})}
    rows = notifications.notify(session, kind=kind, context=context, team=params.get("team"),
                                username=params.get("user"), instance_id=case.id)
    return {"notified": len(rows)}


_documents = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


def _render_document(session: Session, case: CaseRecord, params: dict[str, Any]) -> Any:
    template = params.get("template")
    if not isinstance(template, str):
        raise ValueError("render_document needs a 'template' text")
    data = {**case.data, **(params.get("data") or {})}
    content = _documents.from_string(template).render(**data)
    doc = Document(instance_id=case.id, name=str(params.get("name") or "document.txt"),
                   media_type=str(params.get("media_type") or "text/plain"), content=content,
                   sha256=hashlib.sha256(content.encode()).hexdigest(), created_at=clock.now())
    session.add(doc)
    session.flush()
    return {"document_id": doc.id, "name": doc.name, "sha256": doc.sha256}


def _http_call(*, endpoint: str, method: str = "POST", path: str = "",
               body: Any = None) -> Any:
    base = get_settings().http_endpoints.get(endpoint)
    if base is None:
        raise LookupError(f"no HTTP endpoint named {endpoint!r} is configured")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base.rstrip("/") + ("/" + path.lstrip("/") if path else ""),
                                     data=data, method=method.upper(),
                                     headers={"Content-Type": "application/json",
                                              "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=get_settings().http_timeout) as answer:
            raw = answer.read()
            status = answer.status
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{endpoint} answered HTTP {exc.code}") from None
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = raw.decode("utf-8", "replace")
    return {"status": status, "body": payload}


_in_case["notify"] = _notify
_in_case["render_document"] = _render_document
_in_case["add_candidate_team"] = candidates.add_candidate_team
_external["http_call"] = _http_call
