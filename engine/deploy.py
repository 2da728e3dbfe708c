"""Deploying BPMN, DMN and form files as immutable, versioned process models.

A deployment is all or nothing: every file is checked first (well-formed XML, the BPMN XSD,
SpiffWorkflow's own validation, Python syntax of every script and expression, forms that exist
and are valid JSON Schema), and only then is anything written. A process whose content (its BPMN
and DMN files and the forms it uses) is unchanged keeps its version; a changed one gets
version + 1.
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.util import BPMN_MODEL_NS
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity
from SpiffWorkflow.exceptions import SpiffWorkflowException
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from engine import audit, clock, sandbox
from engine.errors import DeploymentInvalid, NotFound
from engine.forms import (
    VALIDATE_KEYWORD,
    ValidationRule,
    bound_expressions,
    check_schema,
    form_from_camunda_fields,
    validation_rules,
)
from engine.models import ModelFile, ProcessVersion
from engine.scripting import script_engine
from engine.settings import get_settings
from engine.specs import (
    SourceFile,
    SpecBundle,
    add_files,
    build_bundle,
    detect_dialect,
    make_parser,
    parse_xml,
    spec_cache,
    start_message_names,
    task_meta,
)
from engine.timers import schedule_start_timers

BPMN_SUFFIXES = (".bpmn", ".bpmn20.xml", ".xml")
DMN_SUFFIXES = (".dmn",)
FORM_SUFFIXES = (".json",)


@dataclass
class _Candidate:
    """A process to version: its id, dialect, defining file and bundle of files."""

    process_id: str
    name: str | None
    dialect: str
    defining_file: str
    files: dict[str, SourceFile]
    forms: dict[str, str]  # form name -> sha256
    start_messages: list[str]


def file_kind(name: str) -> str | None:
    """"bpmn", "dmn" or "form" by file name; None for anything else."""
    lower = name.lower()
    if lower.endswith(DMN_SUFFIXES):
        return "dmn"
    if lower.endswith(BPMN_SUFFIXES):
        return "bpmn"
    if lower.endswith(FORM_SUFFIXES):
        return "form"
    return None


def _sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _problem(file: str | None, message: str, element_id: str | None = None,
             line: int | None = None) -> dict[str, Any]:
    return {"file": file, "element_id": element_id or None, "line": line, "message": message}


def _line_of(roots: dict[str, Any], file: str | None, element_id: str | None) -> int | None:
    """The source line of the element with this id in a deployed file, if known."""
    if file not in roots or not element_id:
        return None
    found = roots[file].xpath("//*[@id=$id]", id=element_id)
    return found[0].sourceline if found else None


def _exception_problem(exc: SpiffWorkflowException, roots: dict[str, Any]) -> dict[str, Any]:
    file = getattr(exc, "file_name", None) or None
    element_id = getattr(exc, "id", None) or None
    line = getattr(exc, "line_number", None) or None
    if line is None and element_id and file in roots:
        found = roots[file].xpath("//*[@id=$id]", id=element_id)
        line = found[0].sourceline if found else None
    message = str(exc.args[0]) if exc.args else exc.__class__.__name__
    notes = getattr(exc, "notes", None) or getattr(exc, "__notes__", None) or []
    if notes:
        message = f"{message} ({' '.join(notes)})"
    return _problem(file, message, element_id, int(line) if line else None)


def _dangling_flows(file: str, root: Any) -> list[dict[str, Any]]:
    """A problem for every sequence flow whose source or target element does not exist.

    (SpiffWorkflow reports these with a misleading message about duplicate ids.)
    """
    ids = set(root.xpath("//@id"))
    return [
        _problem(file, f"sequence flow {flow.get('id')!r}: {attr} {flow.get(attr)!r} is not "
                 "an element of the model", flow.get("id"), flow.sourceline)
        for flow in root.iter(f"{{{BPMN_MODEL_NS}}}sequenceFlow")
        for attr in ("sourceRef", "targetRef")
        if flow.get(attr) and flow.get(attr) not in ids
    ]


def _code_snippets(task_spec: Any) -> list[tuple[str, str, str]]:
    """(what, code, mode) for every Python snippet a task spec will run."""
    out: list[tuple[str, str, str]] = []
    for attr in ("script", "prescript", "postscript"):
        code = getattr(task_spec, attr, None)
        if isinstance(code, str) and code.strip():
            out.append((attr, code, "exec"))
    for condition, _target in getattr(task_spec, "cond_task_specs", None) or []:
        # BPMN gateways wrap the expression in a `_BpmnCondition` operator: the code is args[0]
        if getattr(condition, "args", None):
            condition = condition.args[0]
        if isinstance(condition, str) and condition.strip():
            out.append(("condition", condition, "eval"))
    edef = getattr(task_spec, "event_definition", None)
    for attr in ("expression", "condition"):
        code = getattr(edef, attr, None)
        if isinstance(code, str) and code.strip():
            out.append((f"event {attr}", code, "eval"))
    for prop in getattr(edef, "correlation_properties", None) or []:
        out.append(("correlation", prop.retrieval_expression, "eval"))
    meta = task_meta(task_spec) if hasattr(task_spec, "extensions") else None
    if meta is not None:
        for what, code in (("candidateTeam", meta.team_expr), ("dueDate", meta.due_expr),
                           ("assignee", meta.assignee_expr),
                           ("excludedCompleters", meta.excluded_expr)):
            if code:
                out.append((what, code, "eval"))
    for name, param in (getattr(task_spec, "operation_params", None) or {}).items():
        value = param.get("value") if isinstance(param, dict) else None
        if isinstance(value, str) and value.strip():
            out.append((f"parameter {name}", value, "eval"))
    return out


def _syntax_problems(bundle_specs: list[Any], file_of: dict[str, str],
                     roots: dict[str, Any]) -> list[dict[str, Any]]:
    problems = []
    for spec in bundle_specs:
        file = file_of.get(spec.name)
        for ts in spec.task_specs.values():
            bpmn_id = getattr(ts, "bpmn_id", None)
            if bpmn_id is None:
                continue
            for what, code, mode in _code_snippets(ts):
                line = None
                if file in roots:
                    found = roots[file].xpath("//*[@id=$id]", id=bpmn_id)
                    line = found[0].sourceline if found else None
                try:
                    ast.parse(code, mode=mode)
                except SyntaxError as exc:
                    problems.append(_problem(
                        file, f"Python syntax error in {what}: {exc.msg} (line {exc.lineno} of "
                        f"the {what})", bpmn_id, line))
                    continue
                for message in sandbox.problems(code, mode):
                    problems.append(_problem(
                        file, f"not allowed in a BPMN {what}: {message}", bpmn_id, line))
    return problems


def _latest_version(session: Session, process_id: str) -> ProcessVersion | None:
    return session.scalar(
        select(ProcessVersion).where(ProcessVersion.process_id == process_id)
        .order_by(ProcessVersion.version.desc()).limit(1)
    )


def _latest_form(session: Session, name: str) -> ModelFile | None:
    return session.scalar(
        select(ModelFile).where(ModelFile.name == name, ModelFile.kind == "form")
        .order_by(ModelFile.id.desc()).limit(1)
    )


def _stored_sources(session: Session, file_ids: list[int]) -> list[SourceFile]:
    rows = session.scalars(select(ModelFile).where(ModelFile.id.in_(file_ids))).all()
    return [SourceFile(r.name, r.kind, r.content.encode()) for r in rows]


def deploy(session: Session, files: list[tuple[str, bytes]], *, actor: str | None
           ) -> list[ProcessVersion]:
    """Deploy files as process model versions; return the versions of every process touched.

    Raises `DeploymentInvalid` with per-file, per-element problems; then nothing is written.
    """
    settings = get_settings()
    problems: list[dict[str, Any]] = []
    sources: dict[str, SourceFile] = {}
    forms: dict[str, bytes] = {}
    roots: dict[str, Any] = {}
    if not files:
        raise DeploymentInvalid([_problem(None, "no files were given")])
    for name, content in files:
        kind = file_kind(name)
        if kind is None:
            problems.append(_problem(name, "unknown file type: use .bpmn, .dmn or .json"))
        elif len(content) > settings.max_model_bytes:
            problems.append(_problem(name, f"file is larger than {settings.max_model_bytes} bytes"))
        elif name in sources or name in forms:
            problems.append(_problem(name, "the same file name was given twice"))
        elif kind == "form":
            try:
                schema = json.loads(content)
            except (ValueError, UnicodeDecodeError) as exc:
                problems.append(_problem(name, f"not valid JSON: {exc}",
                                         line=getattr(exc, "lineno", None)))
                continue
            for message in check_schema(schema):
                problems.append(_problem(name, f"not a valid form: {message}"))
            for expression in bound_expressions(schema):
                for message in sandbox.problems(expression, "eval"):
                    problems.append(_problem(name, f"date bound {expression!r}: {message}"))
            problems.extend(_rule_problems(name, schema))
            forms[name] = content
        else:
            try:
                roots[name] = parse_xml(content)
            except etree.XMLSyntaxError as exc:
                problems.append(_problem(name, f"not well-formed XML: {exc.msg}",
                                         line=exc.lineno))
                continue
            if kind == "bpmn":
                problems.extend(_dangling_flows(name, roots[name]))
            sources[name] = SourceFile(name, kind, content)
    if problems:
        raise DeploymentInvalid(problems)

    candidates, candidate_problems = _candidates(session, sources, forms, roots)
    problems.extend(candidate_problems)
    if problems:
        raise DeploymentInvalid(problems)
    return _write_versions(session, candidates, sources, forms, actor)


def _rule_problems(name: str, schema: Any) -> list[dict[str, Any]]:
    """Problems of a form's `x-validate` rules: malformed rules, and expressions that do not
    compile in the sandbox; `element_id` is the rule's field ("" at the root)."""
    problems = []
    for rule in validation_rules(schema):
        if not isinstance(rule, ValidationRule):
            problems.append(_problem(name, rule))
            continue
        for message in sandbox.problems(rule.expression, "eval"):
            problems.append(_problem(
                name, f"{VALIDATE_KEYWORD} of {rule.field or '(root)'}: "
                f"{rule.expression!r}: {message}", rule.field or None))
    return problems


def _candidates(
    session: Session, sources: dict[str, SourceFile], forms: dict[str, bytes],
    roots: dict[str, Any],
) -> tuple[list[_Candidate], list[dict[str, Any]]]:
    problems: list[dict[str, Any]] = []
    candidates: list[_Candidate] = []
    dmn = [s for s in sources.values() if s.kind == "dmn"]
    by_dialect: dict[str, list[SourceFile]] = {}
    for s in sources.values():
        if s.kind == "bpmn":
            by_dialect.setdefault(detect_dialect(s.content), []).append(s)
    for dialect, bpmn_files in by_dialect.items():
        parser = make_parser(dialect)
        try:
            add_files(parser, [*dmn, *bpmn_files])
            extra = _add_stored_dependencies(session, parser)
        except SpiffWorkflowException as exc:
            problems.append(_exception_problem(exc, roots))
            continue
        deployed_names = {f.name for f in bpmn_files}
        all_files = {f.name: f for f in [*dmn, *bpmn_files, *extra]}
        for pid in parser.get_process_ids():
            pparser = parser.get_process_parser(pid)
            if pparser.filename not in deployed_names:
                continue
            try:
                spec = parser.get_spec(pid)
                missing_calls = _missing_called_processes(parser, spec, pparser.filename, roots)
                if missing_calls:
                    problems.extend(missing_calls)
                    continue
                subs = parser.get_subprocess_specs(pid)
            except SpiffWorkflowException as exc:
                problems.append(_exception_problem(exc, roots))
                continue
            file_of = {pid: pparser.filename}
            for sub_id in subs:
                sub_parser = parser.get_process_parser(sub_id)
                if sub_parser is not None:
                    file_of[sub_id] = sub_parser.filename
            specs = [spec, *subs.values()]
            problems.extend(_syntax_problems(specs, file_of, roots))
            used_forms, form_problems = _resolve_forms(session, specs, forms, file_of, roots)
            problems.extend(form_problems)
            bundle_files = {n: all_files[n] for n in set(file_of.values()) if n in all_files}
            bundle_files.update({f.name: f for f in dmn})
            bundle_files.update({f.name: f for f in extra if f.kind == "dmn"})
            candidates.append(_Candidate(
                pid, pparser.get_name(), dialect, pparser.filename, bundle_files, used_forms,
                start_message_names(spec)))
    candidates.extend(_form_only_candidates(session, forms, candidates))
    return candidates, problems


def _missing_called_processes(parser: Any, spec: Any, file: str,
                              roots: dict[str, Any]) -> list[dict[str, Any]]:
    """A problem for every call activity whose process is neither deployed now nor before."""
    return [
        _problem(file, f"the called process {ts.spec!r} is neither in this deployment nor "
                 "deployed before", ts.bpmn_id, _line_of(roots, file, ts.bpmn_id))
        for ts in spec.task_specs.values()
        if isinstance(ts, CallActivity) and parser.get_process_parser(ts.spec) is None
    ]


def _add_stored_dependencies(session: Session, parser: Any) -> list[SourceFile]:
    """Add the latest deployed versions of called processes that this deployment lacks."""
    added: list[SourceFile] = []
    seen: set[str] = set()
    while True:
        missing = {p for p in parser.get_process_dependencies()
                   if p and parser.get_process_parser(p) is None and p not in seen}
        if not missing:
            return added
        for process_id in missing:
            seen.add(process_id)
            latest = _latest_version(session, process_id)
            if latest is None:
                continue  # get_subprocess_specs names the missing process
            for source in _stored_sources(session, latest.file_ids):
                if source.kind == "bpmn" and source.name not in {a.name for a in added}:
                    add_files(parser, [source])
                    added.append(source)


def _resolve_forms(
    session: Session, specs: list[Any], forms: dict[str, bytes], file_of: dict[str, str],
    roots: dict[str, Any],
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    used: dict[str, str] = {}
    problems = []
    for spec in specs:
        for ts in spec.task_specs.values():
            if not hasattr(ts, "extensions"):
                continue
            meta = task_meta(ts)
            file = file_of.get(spec.name)
            bpmn_id = getattr(ts, "bpmn_id", None)
            if meta.form_key == "camunda" and meta.camunda_fields:
                try:
                    form_from_camunda_fields(list(meta.camunda_fields))
                except ValueError as exc:
                    problems.append(_problem(file, f"Camunda form: {exc}", bpmn_id,
                                             _line_of(roots, file, bpmn_id)))
            for key in (meta.form_key, meta.ui_key):
                if key is None or key == "camunda":
                    continue
                if key in forms:
                    used[key] = _sha(forms[key])
                    continue
                stored = _latest_form(session, key)
                if stored is None and key == meta.external_form_key:
                    continue  # an external form that Virta does not hold: nothing to check
                if stored is None:
                    problems.append(_problem(
                        file, f"form file {key!r} is not deployed", bpmn_id,
                        _line_of(roots, file, bpmn_id)))
                else:
                    used[key] = stored.sha256
    return used, problems


def _form_only_candidates(session: Session, forms: dict[str, bytes],
                          candidates: list[_Candidate]) -> list[_Candidate]:
    """Processes not in this deployment whose forms changed get a new version too."""
    extra: list[_Candidate] = []
    if not forms:
        return extra
    taken = {c.process_id for c in candidates}
    latest_ids = select(func.max(ProcessVersion.id)).group_by(ProcessVersion.process_id)
    for pv in session.scalars(select(ProcessVersion).where(ProcessVersion.id.in_(latest_ids))):
        if pv.process_id in taken or not set(pv.form_files) & set(forms):
            continue
        stored = {s.name: s for s in _stored_sources(session, pv.file_ids)}
        used: dict[str, str] = {}
        for name, file_id in pv.form_files.items():
            if name in forms:
                used[name] = _sha(forms[name])
            else:
                row = session.get(ModelFile, file_id)
                used[name] = row.sha256 if row else ""
        defining = session.get(ModelFile, pv.bpmn_file_id)
        extra.append(_Candidate(pv.process_id, pv.name, pv.dialect,
                                defining.name if defining else "", stored, used,
                                list(pv.start_messages)))
    return extra


def _content_hash(c: _Candidate) -> str:
    parts = sorted((name, _sha(f.content)) for name, f in c.files.items())
    parts += sorted(("form:" + name, sha) for name, sha in c.forms.items())
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _stored_file(session: Session, name: str, kind: str, content: bytes,
                 actor: str | None) -> ModelFile:
    sha = _sha(content)
    row = session.scalar(select(ModelFile).where(ModelFile.name == name, ModelFile.sha256 == sha))
    if row is None:
        row = ModelFile(kind=kind, name=name, sha256=sha, content=content.decode("utf-8"),
                        deployed_at=clock.now(), deployed_by=actor)
        session.add(row)
        session.flush()
    return row


def _write_versions(session: Session, candidates: list[_Candidate],
                    sources: dict[str, SourceFile], forms: dict[str, bytes],
                    actor: str | None) -> list[ProcessVersion]:
    form_rows = {name: _stored_file(session, name, "form", content, actor)
                 for name, content in forms.items()}
    result = []
    for c in candidates:
        digest = _content_hash(c)
        latest = _latest_version(session, c.process_id)
        if latest is not None and latest.content_hash == digest:
            result.append(latest)
            continue
        file_rows = {name: _stored_file(session, name, f.kind, f.content, actor)
                     for name, f in c.files.items()}
        form_ids = {}
        for name in c.forms:
            row = form_rows.get(name) or _latest_form(session, name)
            if row is not None:
                form_ids[name] = row.id
        pv = ProcessVersion(
            process_id=c.process_id, version=(latest.version + 1) if latest else 1, name=c.name,
            dialect=c.dialect, content_hash=digest, bpmn_file_id=file_rows[c.defining_file].id,
            file_ids=sorted(r.id for r in file_rows.values()), form_files=form_ids,
            start_messages=c.start_messages, deployed_at=clock.now(), deployed_by=actor,
        )
        session.add(pv)
        session.flush()
        bundle = load_bundle(session, pv)
        try:
            schedule_start_timers(session, process_id=pv.process_id, version_id=pv.id,
                                  spec=bundle.spec, evaluate=_evaluate_constant)
        except Exception as exc:  # a start timer's expression must be evaluable when deployed
            raise DeploymentInvalid([_problem(c.defining_file, f"timer start event: {exc}")]) \
                from None
        audit.record(session, type=audit.MODEL_DEPLOYED, actor=actor, element_id=c.process_id,
                     data={"process_id": c.process_id, "version": pv.version, "hash": digest})
        result.append(pv)
    return result


def _evaluate_constant(expression: str) -> Any:
    return script_engine.environment.evaluate(expression, {})


def get_version(session: Session, process_id: str, version: int | None = None) -> ProcessVersion:
    """Return a version (default: the latest) of a process, or raise `NotFound`."""
    pv = session.get(ProcessVersion, version_key(session, process_id, version)[0])
    assert pv is not None  # versions are never deleted
    return pv


_pv = ProcessVersion.__table__
#: Every case start looks its version up: Core statements built once, not an ORM query.
_LATEST_KEY = (select(_pv.c.id, _pv.c.version).where(_pv.c.process_id == bindparam("process"))
               .order_by(_pv.c.version.desc()).limit(1))
_NUMBERED_KEY = select(_pv.c.id, _pv.c.version).where(
    _pv.c.process_id == bindparam("process"), _pv.c.version == bindparam("version"))


def version_key(session: Session, process_id: str, version: int | None = None
                ) -> tuple[int, int]:
    """(id, number) of a version (default: the latest) of a process, or raise `NotFound`."""
    params = {"process": process_id, "version": version}
    found = session.connection().execute(
        _LATEST_KEY if version is None else _NUMBERED_KEY, params).first()
    if found is None:
        raise NotFound(f"process model {process_id!r} version {version or 'latest'} not found")
    return found.id, found.version


def latest_versions(session: Session) -> list[ProcessVersion]:
    """The latest version of every process, by process id."""
    latest_ids = select(func.max(ProcessVersion.id)).group_by(ProcessVersion.process_id)
    return list(session.scalars(
        select(ProcessVersion).where(ProcessVersion.id.in_(latest_ids))
        .order_by(ProcessVersion.process_id)
    ))


def load_bundle(session: Session, pv: ProcessVersion) -> SpecBundle:
    """Return the parsed spec of a version, from the cache or by parsing its stored files."""
    bundle = spec_cache.get(pv.id)
    if bundle is None:
        sources = _stored_sources(session, pv.file_ids)
        form_rows = session.scalars(
            select(ModelFile).where(ModelFile.id.in_(list(pv.form_files.values())))).all()
        forms = {r.name: json.loads(r.content) for r in form_rows}
        try:
            bundle = build_bundle(version_id=pv.id, process_id=pv.process_id, dialect=pv.dialect,
                                  files=sources, forms=forms)
        except ValidationException as exc:  # stored files were valid at deploy
            raise DeploymentInvalid([_exception_problem(exc, {})]) from exc
        spec_cache.put(bundle)
    return bundle


def bundle_for_version(session: Session, version_id: int) -> SpecBundle | None:
    """The parsed spec of a version by its id (from the cache without a query); None if the
    version does not exist."""
    bundle = spec_cache.get(version_id)
    if bundle is None:
        pv = session.get(ProcessVersion, version_id)
        bundle = load_bundle(session, pv) if pv is not None else None
    return bundle


def version_bpmn(session: Session, pv: ProcessVersion) -> str:
    """The BPMN XML of the file that defines a version."""
    row = session.get(ModelFile, pv.bpmn_file_id)
    if row is None:
        raise NotFound("model file missing")
    return row.content
