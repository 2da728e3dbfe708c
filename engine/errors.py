"""Virta's error hierarchy. The engine raises these; the edges map them to HTTP or CLI output."""

from __future__ import annotations

from typing import Any


class VirtaError(Exception):
    """Base class of every error that Virta raises on purpose."""


class NotFound(VirtaError):
    """Raised when a model, case, task or user does not exist (or must not be seen)."""


class NotAllowed(VirtaError):
    """Raised when the user may not do this."""


class NotAuthenticated(VirtaError):
    """Raised when no valid login was given."""


class TooManyFailedLogins(NotAuthenticated):
    """Raised while an account is locked after repeated failed logins."""

    def __init__(self, resets_in: int) -> None:
        super().__init__(f"too many failed logins; try again in {resets_in} s")
        self.resets_in = resets_in


class InvalidTransition(VirtaError):
    """Raised when the target is in a state that does not allow the action."""


class TaskNotReady(InvalidTransition):
    """Raised when a task is completed, cancelled, or held by someone else."""


class AlreadyExists(VirtaError):
    """Raised when an id or name is taken."""


class Conflict(VirtaError):
    """Raised when a concurrent change won the race; the whole unit of work may be retried."""


class InputInvalid(VirtaError):
    """Raised when request data is invalid; carries per-field problems."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{p.get('field')}: {p.get('message')}" for p in problems))
        self.problems = problems


class FormInvalid(InputInvalid):
    """Raised when submitted task data does not match the task's form."""


class DeploymentInvalid(VirtaError):
    """Raised when a deployment is refused; carries problems naming file, element and line."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(str(p.get("message")) for p in problems))
        self.problems = problems


class NotMigratable(VirtaError):
    """Raised when a case cannot move to another model version."""
