"""Users, teams, passwords (argon2) and bearer tokens."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from engine import audit, clock
from engine.authorization import ROLES, Principal
from engine.db import after_commit
from engine.errors import AlreadyExists, InputInvalid, NotAuthenticated, TooManyFailedLogins
from engine.models import ApiToken, LoginThrottle, SystemSetting, Team, User, UserTeam
from engine.reference import SUB_GROUPS, TEAMS

#: Failed logins within `LOCKOUT` that lock a username for `LOCKOUT`.
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
#: The languages of the pages and of e-mail.
LANGUAGES = ("fi", "en")

_hasher = PasswordHasher()
#: A hash to verify against when the user does not exist, so that timing does not tell.
_dummy_hash: str | None = None


def _dummy() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash("not a password")
    return _dummy_hash


def hash_password(password: str) -> str:
    """Return the argon2id hash of a password."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password against its argon2 hash."""
    try:
        return _hasher.verify(password_hash or _dummy(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def principal_for(session: Session, user: User) -> Principal:
    """Build the engine's view of a user, with the team ids of their memberships."""
    teams = session.scalars(select(UserTeam.team_id).where(UserTeam.user_id == user.id)).all()
    return Principal(user.id, user.username, frozenset(user.roles), frozenset(teams))


def resolve_team_ids(session: Session, names: list[str]) -> list[str]:
    """Map team ids or names to ids; raise `InputInvalid` for unknown teams."""
    ids, problems = [], []
    for i, name in enumerate(names):
        team_id = session.scalar(select(Team.id).where(or_(Team.id == name, Team.name == name)))
        if team_id is None:
            problems.append({"field": f"teams.{i}", "message": f"unknown team {name!r}"})
        else:
            ids.append(team_id)
    if problems:
        raise InputInvalid(problems)
    return ids


def create_user(
    session: Session, *, username: str, password: str | None, roles: list[str],
    teams: list[str], actor: str | None, email: str | None = None, language: str = "fi",
) -> User:
    """Create a user with roles and team memberships.

    Raises `InputInvalid` for an unknown role or team and `AlreadyExists` for a taken name.
    """
    problems = [
        {"field": f"roles.{i}", "message": f"unknown role {r!r}"}
        for i, r in enumerate(roles) if r not in ROLES
    ]
    if not username.strip():
        problems.append({"field": "username", "message": "must not be empty"})
    if language not in LANGUAGES:
        problems.append({"field": "language", "message": f"must be one of {LANGUAGES}"})
    if problems:
        raise InputInvalid(problems)
    team_ids = resolve_team_ids(session, teams)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AlreadyExists(f"user {username!r} exists")
    user = User(username=username, password_hash=hash_password(password) if password else None,
                roles=sorted(set(roles)), active=True, created_at=clock.now(), email=email,
                language=language)
    session.add(user)
    session.flush()
    for team_id in dict.fromkeys(team_ids):
        session.add(UserTeam(user_id=user.id, team_id=team_id))
    audit.record(session, type="user_created", actor=actor,
                 data={"username": username, "roles": user.roles, "teams": team_ids})
    return user


#: Team names and ids change rarely; a process looks them up at most every this many seconds.
TEAM_CACHE_SECONDS = 30.0
_teams: dict[str, str] = {}
_teams_loaded_at = 0.0
_teams_lock = threading.Lock()


def team_id_for(session: Session, name: str) -> str:
    """The id of the team whose id or name is `name` (a lane's name); `name` if none is."""
    global _teams_loaded_at
    with _teams_lock:
        fresh = time.monotonic() - _teams_loaded_at < TEAM_CACHE_SECONDS
        if fresh and name in _teams:
            return _teams[name]
    rows = session.execute(select(Team.id, Team.name)).all()
    with _teams_lock:
        _teams.clear()
        for team_id, team_name in rows:
            _teams[team_id] = team_id
            _teams[team_name] = team_id
        _teams_loaded_at = time.monotonic()
        return _teams.get(name, name)


def _forget_teams() -> None:
    global _teams_loaded_at
    with _teams_lock:
        _teams.clear()
        _teams_loaded_at = 0.0


def create_team(session: Session, *, team_id: str, name: str, actor: str | None) -> Team:
    """Create a team; `AlreadyExists` when the id or the name is taken."""
    taken = session.scalar(select(Team.id).where(or_(Team.id == team_id, Team.name == name)))
    if taken is not None:
        raise AlreadyExists(f"team {team_id!r} exists")
    team = Team(id=team_id, name=name, created_at=clock.now())
    session.add(team)
    after_commit(session, _forget_teams)
    audit.record(session, type="team_created", actor=actor, data={"id": team_id, "name": name})
    return team


def ensure_reference_teams(session: Session, extra: Iterable[tuple[str, str]] = ()) -> None:
    """Create the teams and sub-groups of PROCESSES.md, and `extra` (id, name) teams, that do
    not exist yet."""
    existing = set(session.scalars(select(Team.id)))
    for team_id, name in (*TEAMS, *SUB_GROUPS, *extra):
        if team_id not in existing:
            session.add(Team(id=team_id, name=name, created_at=clock.now()))


def ensure_admin(session: Session, username: str, password: str) -> None:
    """Create the bootstrap admin (`VIRTA_ADMIN_*`) if no user has that name."""
    if session.scalar(select(User.id).where(User.username == username)) is None:
        create_user(session, username=username, password=password, roles=["admin"], teams=[],
                    actor="bootstrap")


def login(session: Session, username: str, password: str) -> User | None:
    """Check a username and password; None when they are wrong.

    Failures are counted per username (existing or not) in the caller's transaction, which
    must commit them even though the login failed. After `MAX_FAILED_LOGINS` failures within
    `LOCKOUT` the name is locked for `LOCKOUT`: `TooManyFailedLogins` says for how long.
    """
    now = clock.now()
    throttle = session.get(LoginThrottle, username, with_for_update=True)
    if throttle is not None and throttle.locked_until is not None:
        if throttle.locked_until > now:
            raise TooManyFailedLogins(int((throttle.locked_until - now).total_seconds()) + 1)
        session.delete(throttle)
        session.flush()
        throttle = None
    user = session.scalar(select(User).where(User.username == username))
    ok = verify_password(user.password_hash if user else None, password)
    if user is not None and ok and user.active:
        if throttle is not None:
            session.delete(throttle)
        return user
    if throttle is None or now - throttle.first_failure_at > LOCKOUT:
        if throttle is not None:
            session.delete(throttle)
            session.flush()
        throttle = LoginThrottle(username=username, failures=0, first_failure_at=now)
        session.add(throttle)
    throttle.failures += 1
    if throttle.failures >= MAX_FAILED_LOGINS:
        throttle.locked_until = now + LOCKOUT
    return None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User, ttl: timedelta) -> str:
    """Create a bearer token for a user; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    session.add(ApiToken(token_hash=_token_hash(token), user_id=user.id, created_at=now,
                         expires_at=now + ttl))
    return token


def user_for_token(session: Session, token: str) -> User:
    """Return the user of a valid, unexpired, unrevoked token, or raise `NotAuthenticated`."""
    row = session.get(ApiToken, _token_hash(token))
    if row is None or row.revoked_at is not None or row.expires_at <= clock.now():
        raise NotAuthenticated("invalid or expired token")
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise NotAuthenticated("invalid or expired token")
    return user


#: How long a process trusts a token it has checked, in seconds. A revoked token stops at
#: once in the process that revoked it, and within this time in the others; the same holds
#: for changed roles and teams.
PRINCIPAL_CACHE_SECONDS = 10.0
_principals: dict[str, tuple[Principal, datetime]] = {}
_principals_lock = threading.Lock()


def cached_principal(token: str) -> Principal | None:
    """The principal of a bearer token checked within `PRINCIPAL_CACHE_SECONDS`, without a
    database query; None when it has to be checked (`principal_for_token`)."""
    key = _token_hash(token)
    with _principals_lock:
        cached = _principals.get(key)
    if cached is not None and cached[1] > clock.now():
        return cached[0]
    return None


def principal_for_token(session: Session, token: str) -> Principal:
    """The principal of a valid bearer token, cached briefly; raises `NotAuthenticated`."""
    cached = cached_principal(token)
    if cached is not None:
        return cached
    key = _token_hash(token)
    now = clock.now()
    user = user_for_token(session, token)
    principal = principal_for(session, user)
    expires = session.get(ApiToken, key).expires_at  # type: ignore[union-attr]
    with _principals_lock:
        if len(_principals) > 10_000:
            _principals.clear()
        _principals[key] = (principal,
                            min(now + timedelta(seconds=PRINCIPAL_CACHE_SECONDS), expires))
    return principal


def revoke_token(session: Session, token: str) -> None:
    """Invalidate a token at once (logout)."""
    with _principals_lock:
        _principals.pop(_token_hash(token), None)
    row = session.get(ApiToken, _token_hash(token))
    if row is not None:
        row.revoked_at = clock.now()


def purge_expired_tokens(session: Session) -> None:
    """Delete tokens that can no longer be used."""
    session.execute(delete(ApiToken).where(ApiToken.expires_at <= clock.now()))


def secret_key(session: Session, configured: str | None) -> str:
    """The key that signs sessions: configured, or generated once and kept in the database."""
    if configured:
        return configured
    row = session.get(SystemSetting, "secret_key")
    if row is None:
        row = SystemSetting(key="secret_key", value=secrets.token_urlsafe(48))
        session.add(row)
        session.flush()
    return row.value
