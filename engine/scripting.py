"""The script engine that runs BPMN scripts and expressions, with the contract's functions.

SpiffWorkflow evaluates timers, conditions, scripts and service parameters through this engine.
Service calls do not go through it: `engine.service_tasks` hands them to the workers.
"""

from __future__ import annotations

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

from engine.expressions import script_functions


class VirtaScriptEngine(PythonScriptEngine):
    """SpiffWorkflow's Python engine with the contract's helper functions."""

    def __init__(self) -> None:
        super().__init__(environment=TaskDataEnvironment(script_functions()))


script_engine = VirtaScriptEngine()
