"""The script engine that runs BPMN scripts and expressions, with the contract's functions.

SpiffWorkflow evaluates timers, conditions, scripts and service parameters through this engine.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

from engine.expressions import script_functions

#: Service operations that service tasks may call: name -> fn(**params) -> JSON-able result.
#: `workers` registers the real ones at start-up (the engine only declares the need).
ServiceOperation = Callable[..., Any]
_service_operations: dict[str, ServiceOperation] = {}


def register_service_operation(name: str, fn: ServiceOperation) -> None:
    """Make `fn` callable from BPMN service tasks as operation `name`."""
    _service_operations[name] = fn


class VirtaScriptEngine(PythonScriptEngine):
    """Spiff's Python engine with the contract's helper functions and service operations."""

    def __init__(self) -> None:
        super().__init__(environment=TaskDataEnvironment(script_functions()))

    def call_service(self, task: Any, **kwargs: Any) -> str:
        """Run a registered service operation; its result goes back to Spiff as JSON.

        Spiff 3.2.0's own `call_service` loses the real error (notes §6), so errors are wrapped
        here into a `WorkflowTaskException` that names the task.
        """
        name = kwargs.get("operation_name")
        params = {k: v.get("value") if isinstance(v, dict) else v
                  for k, v in (kwargs.get("operation_params") or {}).items()}
        fn = _service_operations.get(str(name))
        if fn is None:
            raise WorkflowTaskException(f"unknown service operation {name!r}", task=task)
        try:
            return json.dumps(fn(**params), default=str)
        except WorkflowTaskException:
            raise
        except Exception as exc:
            raise WorkflowTaskException(
                f"service operation {name!r} failed: {exc.__class__.__name__}: {exc}",
                task=task, exception=exc,
            ) from exc


script_engine = VirtaScriptEngine()
