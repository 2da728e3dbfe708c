"""Who may do what. Every route and page asks here; no check is written anywhere else."""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import NotAllowed
from engine.models import HumanTask

ADMIN = "admin"
PROCESS_OWNER = "process_owner"
STAFF = "staff"
AUDITOR = "auditor"
#: The roles of CONTRACT.md.
ROLES = frozenset({ADMIN, PROCESS_OWNER, STAFF, AUDITOR})
#: The account that timers, workers and the scheduler act as in the audit trail.
SYSTEM_ACTOR = "system"


@dataclass(frozen=True)
class Principal:
    """The logged-in user as the engine sees it."""

    user_id: int | None
    username: str
    roles: frozenset[str]
    teams: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    @property
    def reads_everything(self) -> bool:
        """Admins, auditors and process owners see every case."""
        return bool(self.roles & {ADMIN, AUDITOR, PROCESS_OWNER})


#: The principal of automatic work (timers, workers, the demo loader).
SYSTEM = Principal(None, SYSTEM_ACTOR, frozenset({ADMIN}), frozenset())


def can_work_on_task(principal: Principal, task: HumanTask) -> bool:
    """Staff work on the tasks of their teams (the task's primary team or another candidate
    team, `engine.candidates`) and on tasks assigned to them."""
    if principal.is_admin:
        return True
    if AUDITOR in principal.roles and not (principal.roles & {STAFF, PROCESS_OWNER}):
        return False
    if task.assignee is not None and task.assignee == principal.username:
        return True
    if not principal.teams:
        return False
    if task.team is not None and task.team in principal.teams:
        return True
    return any(c.team in principal.teams for c in task.candidates)


def can_see_task(principal: Principal, task: HumanTask) -> bool:
    """Readers of everything see every task; others only the tasks they may work on."""
    return principal.reads_everything or can_work_on_task(principal, task)


def require_task_work(principal: Principal, task: HumanTask) -> None:
    """Raise `NotAllowed` unless the principal may claim or complete the task."""
    if not can_work_on_task(principal, task):
        raise NotAllowed("this task belongs to another team")


def require_deploy(principal: Principal) -> None:
    """Only process owners and admins deploy models."""
    if not principal.roles & {ADMIN, PROCESS_OWNER}:
        raise NotAllowed("only process owners and admins deploy models")


def require_admin(principal: Principal) -> None:
    """Raise `NotAllowed` unless the principal is an admin."""
    if not principal.is_admin:
        raise NotAllowed("only admins may do this")


def require_start(principal: Principal) -> None:
    """Staff, process owners and admins start cases; auditors only read."""
    if not principal.roles & {ADMIN, PROCESS_OWNER, STAFF}:
        raise NotAllowed("you may not start cases")


def require_case_change(principal: Principal) -> None:
    """Cancelling cases, retrying incidents and sending messages: not for auditors."""
    if not principal.roles & {ADMIN, PROCESS_OWNER, STAFF}:
        raise NotAllowed("you may not change cases")
