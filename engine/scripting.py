"""The script engine that runs BPMN scripts and expressions, with the contract's functions.

SpiffWorkflow evaluates timers, conditions, scripts and service parameters through this engine.
Service calls do not go through it: `engine.service_tasks` hands them to the workers.
"""

from __future__ import annotations

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine

from engine.expressions import script_functions
from engine.sandbox import SandboxEnvironment


class VirtaScriptEngine(PythonScriptEngine):
    """SpiffWorkflow's Python engine, sandboxed, with the contract's helper functions."""

    def __init__(self) -> None:
        super().__init__(environment=SandboxEnvironment(script_functions()))


script_engine = VirtaScriptEngine()
