"""Users who log in through an OpenID Connect provider (the protocol is in api/pages/oidc.py).

A user is provisioned at their first OIDC login, with no password and their `sub` in
`User.oidc_subject` (the marker that they come from OIDC), and found by that subject afterwards.
At each login their teams become the values of the groups claim that are team ids (unknown
groups are ignored), and `staff` follows: they have it exactly when they have a team. With a
role claim configured, their other roles are the claim's values that are Virta roles; without
one, the roles given in Virta are kept. A user deactivated in Virta is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import accounts, audit
from engine.authorization import ROLES, STAFF
from engine.errors import AlreadyExists
from engine.models import Team, User, UserTeam

#: Why a login through the provider is refused (`OidcRefused.reason`).
INACTIVE = "inactive"
CONFLICT = "conflict"
NO_USERNAME = "no_username"


class OidcRefused(Exception):  # noqa: N818 - a refusal, answered on the login page
    """The provider vouched for the person, but Virta does not let them in."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Identity:
    """What Virta takes from a validated ID token."""

    subject: str
    username: str
    groups: tuple[str, ...]
    #: The role claim's values; None when no role claim is configured.
    roles: tuple[str, ...] | None = None
    email: str | None = None


def claim_values(value: Any) -> tuple[str, ...]:
    """A claim's values as strings: a list of strings, or one string as a single value."""
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list | tuple):
        return tuple(v for v in value if isinstance(v, str) and v)
    return ()


def _known_teams(session: Session, groups: Iterable[str]) -> list[str]:
    wanted = sorted(set(groups))
    if not wanted:
        return []
    return sorted(session.scalars(select(Team.id).where(Team.id.in_(wanted))))


def _roles(current: Iterable[str], identity: Identity, has_team: bool) -> list[str]:
    if identity.roles is not None:
        roles = {r for r in identity.roles if r in ROLES}
    else:
        roles = set(current)
    roles.discard(STAFF)
    if has_team:
        roles.add(STAFF)
    return sorted(roles)


def login(session: Session, identity: Identity) -> User:
    """The Virta user of a person the provider vouched for: provisioned at the first login,
    teams and roles synced at each. Raises `OidcRefused`."""
    username = identity.username.strip()
    if not username or len(username) > 150:
        raise OidcRefused(NO_USERNAME)
    user = session.scalar(select(User).where(User.oidc_subject == identity.subject))
    teams = _known_teams(session, identity.groups)
    if user is None:
        if session.scalar(select(User.id).where(User.username == username)) is not None:
            # A user made in Virta (or another subject) has this name: never taken over.
            raise OidcRefused(CONFLICT)
        try:
            user = accounts.create_user(
                session, username=username, password=None,
                roles=_roles([], identity, bool(teams)), teams=teams, actor="oidc",
                email=identity.email)
        except AlreadyExists as exc:
            raise OidcRefused(CONFLICT) from exc
        user.oidc_subject = identity.subject
        session.flush()
        return user
    if not user.active:
        raise OidcRefused(INACTIVE)
    _sync(session, user, teams, _roles(user.roles, identity, bool(teams)))
    if identity.email and user.email != identity.email:
        user.email = identity.email
    return user


def _sync(session: Session, user: User, teams: list[str], roles: list[str]) -> None:
    current = set(session.scalars(select(UserTeam.team_id).where(UserTeam.user_id == user.id)))
    added, removed = sorted(set(teams) - current), sorted(current - set(teams))
    for team_id in removed:
        session.delete(session.get(UserTeam, (user.id, team_id)))
    for team_id in added:
        session.add(UserTeam(user_id=user.id, team_id=team_id))
    old_roles = sorted(user.roles or [])
    if roles != old_roles:
        user.roles = roles
    if added or removed or roles != old_roles:
        session.flush()
        audit.record(session, type="user_synced", actor="oidc",
                     data={"username": user.username, "teams_added": added,
                           "teams_removed": removed, "roles": roles, "old_roles": old_roles})
