"""Performance patches of SpiffWorkflow 3.2 that leave its behaviour as it is.

Imported by `engine.specs`, so they apply wherever a model runs:

- Every task state change builds its log message and the record's extras eagerly, whether or
  not the record is then shown: `TaskState.get_name` (which builds a dict of every state name
  on each call) twice, and, when the library's loggers are below INFO, every task of the case
  and the task's data. The state names are cached here, and the `spiff.workflow` and
  `spiff.task` loggers are set to WARNING unless the operator has set a level for them.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from SpiffWorkflow.util.task import TaskState

_state_name = TaskState.get_name.__func__  # type: ignore[attr-defined]


@lru_cache(maxsize=2048)
def _cached_state_name(state: int) -> str:
    return _state_name(TaskState, state)


TaskState.get_name = staticmethod(_cached_state_name)  # type: ignore[method-assign,assignment]

for _name in ("spiff.workflow", "spiff.task"):
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.WARNING)
