"""Parsing BPMN/DMN into SpiffWorkflow specs, and the per-version spec cache.

A process version's spec is parsed once per process and shared by every case on that version;
cases store only their state (see `engine.state`), never the spec.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator, full_tag
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.simple import NoneEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.util import task as _bpmn_task_util
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.camunda.parser.task_spec import CAMUNDA_MODEL_NS
from SpiffWorkflow.camunda.parser.task_spec import UserTaskParser as CamundaUserTaskParser
from SpiffWorkflow.camunda.specs.user_task import UserTask as CamundaUserTask
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.parser.task_spec import ServiceTaskParser
from SpiffWorkflow.spiff.parser.task_spec import UserTaskParser as SpiffUserTaskParser
from SpiffWorkflow.spiff.specs.defaults import UserTask as SpiffUserTask
from SpiffWorkflow.spiff.specs.event_definitions import (
    MessageEventDefinition as SpiffMessageEventDefinition,
)
from SpiffWorkflow.util import task as _task_util

from engine import bpmn_semantics, case_keys, spiff_speedups
from engine.bpmn_xml import BPMN_NS, parse_xml
from engine.forms import FormDefinition, form_from_camunda_fields
from engine.service_tasks import DeferredServiceTask

SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
#: BPMN event semantics patched into SpiffWorkflow (event-based gateways, non-interrupting
#: boundary events): see `engine.bpmn_semantics`.
SEMANTICS = bpmn_semantics
#: Performance patches that keep SpiffWorkflow's behaviour: see `engine.spiff_speedups`.
SPEEDUPS = spiff_speedups

#: SpiffWorkflow's task iterators stop at depth 1000, so a case that loops a few hundred times
#: would silently look stuck or even completed (notes/spiffworkflow.md §1a). Virta also prunes
#: finished rounds, but the depth limit must never be what stops a walk.
MAX_TREE_DEPTH = 10_000_000

for _cls in (_task_util.TaskIterator, _bpmn_task_util.BpmnTaskIterator):
    _defaults = list(_cls.__init__.__defaults__ or ())
    _cls.__init__.__defaults__ = tuple(MAX_TREE_DEPTH if d == 1000 else d for d in _defaults)

def _update_task_data(self: Any, my_task: Any) -> None:
    # A message caught without `spiffworkflow:messageVariable` hands its payload's keys to the
    # case, as BPMN's plain message events (and Camunda) do; SpiffWorkflow would drop them.
    if self.message_var is None:
        payload = my_task.internal_data.pop(self.name, None)
        if isinstance(payload, dict):
            my_task.set_data(**payload)
        return
    _spiff_update_task_data(self, my_task)


_spiff_update_task_data = SpiffMessageEventDefinition.update_task_data
SpiffMessageEventDefinition.update_task_data = _update_task_data  # type: ignore[method-assign]

#: How many parsed versions each process keeps in memory.
SPEC_CACHE_SIZE = 256

def detect_dialect(content: bytes) -> str:
    """Return "camunda" for Camunda Modeler files, "spiff" for SpiffWorkflow/plain BPMN."""
    text = content.decode("utf-8", "replace")
    if CAMUNDA_MODEL_NS in text and SPIFF_NS not in text:
        return "camunda"
    return "spiff"


def _camunda_extras(node: etree._Element) -> dict[str, Any]:
    """Read the Camunda attributes and formData that Virta understands on a user task."""
    ns = {"camunda": CAMUNDA_MODEL_NS}
    extras: dict[str, Any] = {}
    for attr in ("candidateGroups", "candidateUsers", "assignee", "dueDate", "formKey"):
        value = node.get(f"{{{CAMUNDA_MODEL_NS}}}{attr}")
        if value:
            extras[f"camunda:{attr}"] = value
    fields = []
    for xml_field in node.xpath(".//camunda:formData/camunda:formField", namespaces=ns):
        fields.append({
            "id": xml_field.get("id"),
            "label": xml_field.get("label"),
            "type": xml_field.get("type"),
            "default": xml_field.get("defaultValue"),
            "values": [
                {"id": v.get("id"), "name": v.get("name")}
                for v in xml_field.xpath("./camunda:value", namespaces=ns)
            ],
            "validation": [
                {"name": c.get("name"), "config": c.get("config")}
                for c in xml_field.xpath("./camunda:validation/camunda:constraint", namespaces=ns)
            ],
            "properties": {
                p.get("id"): p.get("value")
                for p in xml_field.xpath("./camunda:properties/camunda:property", namespaces=ns)
            },
        })
    if fields:
        extras["camunda:formData"] = fields
    return extras


class _SpiffUserTaskParser(SpiffUserTaskParser):
    def parse_extensions(self, node: Any = None) -> dict[str, Any]:
        extensions = super().parse_extensions(node)
        extensions.update(_camunda_extras(self.node if node is None else node))
        return extensions


class _CamundaUserTaskParser(CamundaUserTaskParser):
    def parse_extensions(self, node: Any = None) -> dict[str, Any]:
        extensions = super().parse_extensions(node)
        extensions.update(_camunda_extras(self.node if node is None else node))
        return extensions


class VirtaSpiffParser(SpiffBpmnParser):
    """The SpiffWorkflow parser; also reads Camunda formData on user tasks, and hands service
    tasks to the workers (`engine.service_tasks`)."""

    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        full_tag("userTask"): (_SpiffUserTaskParser, SpiffUserTask),
        full_tag("serviceTask"): (ServiceTaskParser, DeferredServiceTask),
    }


class VirtaCamundaParser(CamundaParser):
    """The Camunda parser; also keeps candidateGroups, dueDate and formData without formKey."""

    OVERRIDE_PARSER_CLASSES = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        full_tag("userTask"): (_CamundaUserTaskParser, CamundaUserTask),
    }


def make_parser(dialect: str) -> SpiffBpmnParser | CamundaParser:
    """Return a fresh parser for a dialect, validating against the BPMN XSD."""
    if dialect == "camunda":
        return VirtaCamundaParser(validator=BpmnValidator())
    return VirtaSpiffParser(validator=VALIDATOR)


@dataclass(frozen=True)
class SourceFile:
    """A BPMN or DMN file as stored."""

    name: str
    kind: str
    content: bytes


def add_files(parser: Any, files: Iterable[SourceFile]) -> None:
    """Add BPMN and DMN files to a parser; raises `ValidationException` naming the file."""
    for f in files:
        try:
            root = parse_xml(f.content)
        except etree.XMLSyntaxError as exc:
            raise ValidationException(
                f"not well-formed XML: {exc.msg}", file_name=f.name, line_number=exc.lineno
            ) from None
        if f.kind == "dmn":
            parser.add_dmn_xml(root, filename=f.name)
        else:
            parser.add_bpmn_xml(root.getroottree(), filename=f.name)


@dataclass(frozen=True)
class TaskMeta:
    """What Virta needs to know about a user task, read from its extensions."""

    form_key: str | None = None
    #: `camunda:formKey`: an external form; it is a deployed form file if one has that name.
    external_form_key: str | None = None
    ui_key: str | None = None
    camunda_fields: tuple[dict[str, Any], ...] | None = None
    team_expr: str | None = None
    team_literal: str | None = None
    due_expr: str | None = None
    assignee_expr: str | None = None
    #: Separation of duties: who may not complete the task (a username or a list of them).
    excluded_expr: str | None = None
    instructions: str | None = None


def task_meta(task_spec: Any) -> TaskMeta:
    """Read form, team and due-date settings of a user task from either dialect."""
    ext: dict[str, Any] = getattr(task_spec, "extensions", None) or {}
    props: dict[str, str] = ext.get("properties") or {}
    camunda_fields = ext.get("camunda:formData")
    form_key = props.get("formJsonSchemaFilename")
    external = ext.get("camunda:formKey")
    if form_key is None and external:
        form_key = external
    elif form_key is None and camunda_fields:
        # Camunda Modeler's "generated task form": the inline fields are the form. With a
        # formKey the author chose an external form instead, and inline fields are left-overs.
        form_key = "camunda"
    team_expr = props.get("candidateTeam")
    team_literal = None
    groups = ext.get("camunda:candidateGroups")
    if team_expr is None and groups:
        groups = groups.strip()
        if groups.startswith("${") and groups.endswith("}"):
            team_expr = groups[2:-1]
        else:
            team_literal = groups  # comma-separated: the first is the primary team
    due = props.get("dueDate")
    camunda_due = ext.get("camunda:dueDate")
    if due is None and camunda_due:
        due = camunda_due[2:-1] if camunda_due.startswith("${") else repr(camunda_due)
    assignee = props.get("assignee")
    camunda_assignee = ext.get("camunda:assignee")
    if assignee is None and camunda_assignee:
        assignee = camunda_assignee[2:-1] if camunda_assignee.startswith("${") \
            else repr(camunda_assignee)
    instructions = ext.get("instructionsForEndUser") or getattr(task_spec, "documentation", None)
    return TaskMeta(
        form_key=form_key,
        external_form_key=external if form_key == external else None,
        ui_key=props.get("formUiSchemaFilename"),
        camunda_fields=tuple(camunda_fields) if camunda_fields else None,
        team_expr=team_expr,
        team_literal=team_literal,
        due_expr=due,
        assignee_expr=assignee,
        excluded_expr=props.get("excludedCompleters"),
        instructions=instructions,
    )


@dataclass
class SpecBundle:
    """A process version ready to run: its parsed spec, called specs and forms."""

    version_id: int
    process_id: str
    dialect: str
    spec: BpmnProcessSpec
    subprocess_specs: dict[str, BpmnProcessSpec]
    forms: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Elements whose messages go to an external party: {element id: participant name}.
    external_targets: dict[str, str] = field(default_factory=dict)
    #: The data fields the case is found by: {key name: data field} (`engine.case_keys`).
    key_fields: dict[str, str] = field(default_factory=dict)
    _form_cache: dict[str, FormDefinition | None] = field(default_factory=dict)
    _kinds: set[type] | None = None
    _task_classes: set[type] | None = None
    _manual: bool | None = None

    def form_for(self, task_spec: Any) -> FormDefinition | None:
        """Return the form of a user task, or None when it has none."""
        key = f"{task_spec._wf_spec.name}:{task_spec.name}"
        if key not in self._form_cache:
            meta = task_meta(task_spec)
            form: FormDefinition | None = None
            if meta.form_key == "camunda" and meta.camunda_fields:
                form = form_from_camunda_fields(list(meta.camunda_fields))
            elif meta.form_key is not None:
                schema = self.forms.get(meta.form_key)
                ui = self.forms.get(meta.ui_key) if meta.ui_key else None
                if schema is not None:
                    form = FormDefinition(schema=schema, ui_schema=ui)
            self._form_cache[key] = form
        return self._form_cache[key]

    def start_form(self) -> FormDefinition | None:
        """The form of the process's plain start event (a manual start), if it has one."""
        for ts in self.spec.task_specs.values():
            if isinstance(ts, StartEvent) \
                    and isinstance(getattr(ts, "event_definition", None), NoneEventDefinition):
                form = self.form_for(ts)
                if form is not None:
                    return form
        return None

    def _event_kinds(self) -> set[type]:
        if self._kinds is None:
            self._kinds = {type(edef) for spec in self.all_specs()
                           for ts in spec.task_specs.values()
                           for edef in event_definitions(getattr(ts, "event_definition", None))}
        return self._kinds

    def has_task_kind(self, cls: type) -> bool:
        """Whether any element of the version is a task spec of class `cls` (or a subclass)."""
        if self._task_classes is None:
            self._task_classes = {type(ts) for spec in self.all_specs()
                                  for ts in spec.task_specs.values()}
        return any(issubclass(k, cls) for k in self._task_classes)

    @property
    def has_manual_tasks(self) -> bool:
        """Whether any element of the version waits for a person (a user or manual task)."""
        if self._manual is None:
            self._manual = any(getattr(ts, "manual", False) for spec in self.all_specs()
                               for ts in spec.task_specs.values())
        return self._manual

    @property
    def has_message_events(self) -> bool:
        """Whether any element of the version sends or waits for a message."""
        return any(issubclass(k, MessageEventDefinition) for k in self._event_kinds())

    @property
    def has_timer_events(self) -> bool:
        """Whether any element of the version waits for a timer."""
        return any(issubclass(k, TimerEventDefinition) for k in self._event_kinds())

    @property
    def has_cycle_timers(self) -> bool:
        """Whether any element of the version waits for a repeating (cycle) timer."""
        return any(issubclass(k, CycleTimerEventDefinition) for k in self._event_kinds())

    def all_specs(self) -> list[BpmnProcessSpec]:
        """The top spec and every called/embedded spec."""
        return [self.spec, *self.subprocess_specs.values()]


def event_definitions(edef: Any) -> list[Any]:
    """The event definitions a catching element waits for: one, or each of a multiple event
    (an event-based gateway waits for all its branches' events at once)."""
    if isinstance(edef, MultipleEventDefinition):
        return list(edef.event_definitions)
    return [edef] if edef is not None else []


def start_message_names(spec: BpmnProcessSpec) -> list[str]:
    """Names of the messages that start a process (message start events)."""
    names = []
    for ts in spec.task_specs.values():
        if isinstance(ts, StartEvent):
            edef = getattr(ts, "event_definition", None)
            if isinstance(edef, MessageEventDefinition):
                names.append(edef.name)
    return names


class SpecCache:
    """A small LRU of parsed process versions, keyed by version id; thread-safe."""

    def __init__(self, size: int = SPEC_CACHE_SIZE) -> None:
        self._size = size
        self._items: OrderedDict[int, SpecBundle] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version_id: int) -> SpecBundle | None:
        with self._lock:
            bundle = self._items.get(version_id)
            if bundle is not None:
                self._items.move_to_end(version_id)
            return bundle

    def put(self, bundle: SpecBundle) -> None:
        with self._lock:
            self._items[bundle.version_id] = bundle
            self._items.move_to_end(bundle.version_id)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


spec_cache = SpecCache()


def build_bundle(
    *, version_id: int, process_id: str, dialect: str, files: list[SourceFile],
    forms: dict[str, dict[str, Any]],
) -> SpecBundle:
    """Parse a version's files into a `SpecBundle`."""
    parser = make_parser(dialect)
    add_files(parser, files)
    spec = parser.get_spec(process_id)
    subs = parser.get_subprocess_specs(process_id)
    targets: dict[str, str] = {}
    roots = [parse_xml(f.content) for f in files if f.kind == "bpmn"]
    for root in roots:
        targets.update(external_message_targets(root))
    keys = case_keys.key_fields(process_id, [spec, *subs.values()], forms, roots)
    return SpecBundle(version_id, process_id, dialect, spec, subs, forms, targets, keys)


def external_message_targets(root: etree._Element) -> dict[str, str]:
    """Message flows from an element to an external party: {element id: participant name}.

    An external party is a collapsed pool: a participant without an executable process. Its
    name (or id) names the party, e.g. "employer" or "tyomarkkinatori".
    """
    ns = {"bpmn": BPMN_NS}
    executable = {p.get("id") for p in root.xpath("//bpmn:process", namespaces=ns)
                  if p.get("isExecutable", "false").lower() == "true"}
    external = {}
    for part in root.xpath("//bpmn:participant", namespaces=ns):
        if part.get("processRef") not in executable:
            external[part.get("id")] = part.get("name") or part.get("id")
    targets = {}
    for flow in root.xpath("//bpmn:messageFlow", namespaces=ns):
        if flow.get("targetRef") in external:
            targets[flow.get("sourceRef")] = external[flow.get("targetRef")]
    return targets
