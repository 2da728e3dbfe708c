"""SQLAlchemy models: the database is Virta's source of truth."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: JSON everywhere, JSONB on PostgreSQL so that it can be indexed.
JsonType = JSON().with_variant(JSONB(), "postgresql")
#: Integer primary keys that autoincrement on SQLite and are 64-bit on PostgreSQL.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database (SQLite has no time zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every Virta table."""


class Team(Base):
    """A team of staff; a BPMN lane is bound to the team whose id or name equals its name."""

    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class User(Base):
    """A person (or a system account) who logs in."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    #: "fi" or "en": the language of the user's pages and e-mail.
    language: Mapped[str] = mapped_column(String(5), default="fi", server_default="fi")
    roles: Mapped[list[str]] = mapped_column(JsonType, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The OpenID Connect `sub` of a user provisioned at an OIDC login (engine.oidc); None for
    #: a user made in Virta. Such a user has no password and logs in only through the provider.
    oidc_subject: Mapped[str | None] = mapped_column(String(255), unique=True, index=True)


class UserTeam(Base):
    """Membership of a user in a team."""

    __tablename__ = "user_teams"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[str] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SystemSetting(Base):
    """Key/value settings that the platform generates and keeps (e.g. the secret key)."""

    __tablename__ = "system_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ModelFile(Base):
    """One immutable deployed file (BPMN, DMN or form), addressed by name and content hash."""

    __tablename__ = "model_files"
    __table_args__ = (UniqueConstraint("name", "sha256"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(255), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deployed_by: Mapped[str | None] = mapped_column(String(150))


class ProcessVersion(Base):
    """An immutable, numbered version of an executable process and the files it runs with."""

    __tablename__ = "process_versions"
    __table_args__ = (UniqueConstraint("process_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    process_id: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(255))
    dialect: Mapped[str] = mapped_column(String(20))
    content_hash: Mapped[str] = mapped_column(String(64))
    #: The file that defines the process.
    bpmn_file_id: Mapped[int] = mapped_column(ForeignKey("model_files.id"))
    #: Ids of every BPMN/DMN file the spec is built from (called processes, decisions).
    file_ids: Mapped[list[int]] = mapped_column(JsonType)
    #: Form file name -> model file id, as resolved at deploy.
    form_files: Mapped[dict[str, int]] = mapped_column(JsonType, default=dict)
    #: Names of messages that start this process.
    start_messages: Mapped[list[str]] = mapped_column(JsonType, default=list)
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deployed_by: Mapped[str | None] = mapped_column(String(150))


class ProcessInstance(Base):
    """A case: one running or finished process instance."""

    __tablename__ = "process_instances"
    __table_args__ = (
        Index("ix_instances_process_status", "process_id", "status"),
        #: The retention purge: finished cases by end time.
        Index("ix_process_instances_status_ended", "status", "ended_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    process_version_id: Mapped[int] = mapped_column(ForeignKey("process_versions.id"), index=True)
    process_id: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), index=True)
    #: Serialized workflow state, without the spec (the spec is per version).
    state: Mapped[str] = mapped_column(Text)
    #: Bumped on every save; a save with a stale revision is a lost update and is refused.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    started_by: Mapped[str | None] = mapped_column(String(150))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When the retention period ran out and the case's personal data was pseudonymised.
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Hash of the newest audit event of this case: the head of its hash chain.
    last_event_hash: Mapped[str | None] = mapped_column(String(64))
    #: The case's business key (e.g. V-2025-000001), when its model assigns one.
    business_key: Mapped[str | None] = mapped_column(String(40), index=True)
    #: The parameter set the case started with; it keeps it to the end.
    parameter_set: Mapped[str | None] = mapped_column(String(40))
    #: The key values last written to `case_keys` ({name: [value, ...]}), so that a save writes
    #: them only when they change; None = never indexed.
    search_keys: Mapped[dict[str, list[str]] | None] = mapped_column(JsonType)

    # Every UPDATE checks the revision it read: a concurrent save makes it fail (StaleDataError)
    # instead of silently overwriting the other change.
    __mapper_args__ = {"version_id_col": revision}


class CaseKey(Base):
    """A value a case can be found by (a Y-tunnus, a customer id, ...): see `engine.case_keys`.

    Kept in step with the case's data on every save; removed with the case.
    """

    __tablename__ = "case_keys"
    #: Serves both a lookup by name and value (`open_cases`) and by value alone (search).
    __table_args__ = (Index("ix_case_keys_value_name", "value", "name"),)

    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instances.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(String(255), primary_key=True)


class HumanTask(Base):
    """A user/manual task that is (or was) ready for a person: task lists read only this."""

    __tablename__ = "tasks"
    __table_args__ = (
        #: The team task list of the API: tasks of some teams in a status, oldest first.
        Index("ix_tasks_status_team_created", "status", "team", "created_at"),
        #: The staff task list (`engine.worklist`): one team's ready tasks in the list's
        #: order, soonest due first / oldest first / newest first (backwards); all ready
        #: tasks soonest due first or oldest first (those who read everything, the API's
        #: list); the ready tasks by id (the tasks of a further candidate team) and by
        #: assignee, with the list's sort keys so that its parts and counts read the index
        #: alone. Partial, so they hold only the open tasks, however many are finished.
        Index("ix_tasks_ready_team_due", "team", text("(due_at IS NULL)"), "due_at",
              "created_at", "id",
              postgresql_where=text("status = 'ready'"), sqlite_where=text("status = 'ready'")),
        Index("ix_tasks_ready_team_created", "team", "created_at", "id",
              postgresql_where=text("status = 'ready'"), sqlite_where=text("status = 'ready'")),
        Index("ix_tasks_ready_due", text("(due_at IS NULL)"), "due_at", "created_at", "id",
              postgresql_where=text("status = 'ready'"), sqlite_where=text("status = 'ready'")),
        Index("ix_tasks_ready_created", "created_at", "id",
              postgresql_where=text("status = 'ready'"), sqlite_where=text("status = 'ready'")),
        Index("ix_tasks_ready_id", "id", "team", "due_at", "created_at",
              postgresql_where=text("status = 'ready'"), sqlite_where=text("status = 'ready'")),
        Index("ix_tasks_ready_assignee", "assignee", "team", "due_at", "created_at", "id",
              postgresql_where=text("status = 'ready'"), sqlite_where=text("status = 'ready'")),
        Index("ix_tasks_status_assignee", "status", "assignee"),
        #: A case's ready tasks (every save reads them): a long case's finished tasks are
        #: not scanned.
        Index("ix_tasks_instance_status", "instance_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instances.id", ondelete="CASCADE")
    )
    element_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    lane: Mapped[str | None] = mapped_column(String(255))
    #: The team that works on it: candidateTeam/candidateGroups, else the lane's team.
    team: Mapped[str | None] = mapped_column(String(255))
    #: The form's file name or "camunda" for inline Camunda formData; None = no form.
    form_key: Mapped[str | None] = mapped_column(String(255))
    assignee: Mapped[str | None] = mapped_column(String(150))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_by: Mapped[str | None] = mapped_column(String(150))
    #: When the team was reminded of the coming due date, and alerted that it passed.
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    overdue_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The other teams that may see and work on it besides `team` (`engine.candidates`).
    candidates: Mapped[list[TaskCandidate]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="TaskCandidate.team")

    @property
    def candidate_teams(self) -> list[str]:
        """The task's teams: its primary `team` first, then the other candidates."""
        others = [c.team for c in self.candidates if c.team != self.team]
        return ([self.team] if self.team is not None else []) + others


class TaskCandidate(Base):
    """A team that may work on a task besides its primary `team`: the further ones its
    candidateTeam / candidateGroups names, and those `add_candidate_team` adds."""

    __tablename__ = "task_candidates"
    __table_args__ = (
        Index("ix_task_candidates_team_task", "team", "task_id"),
        #: The team task lists: the open tasks of some teams (an index-only lookup of their
        #: ids, which stays small however many tasks are finished).
        Index("ix_task_candidates_ready_team", "team", "task_id",
              postgresql_where=text("status = 'ready'"), sqlite_where=text("status = 'ready'")),
    )

    task_id: Mapped[str] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    team: Mapped[str] = mapped_column(String(255), primary_key=True)
    #: The task's status, kept in step by the runner (`ready`, `completed`, `cancelled`).
    status: Mapped[str] = mapped_column(String(20), default="ready", server_default="ready")


class Event(Base):
    """An append-only audit event, hash-chained per case."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int | None] = mapped_column(BigId, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    type: Mapped[str] = mapped_column(String(50))
    actor: Mapped[str | None] = mapped_column(String(150))
    element_id: Mapped[str | None] = mapped_column(String(255))
    task_id: Mapped[str | None] = mapped_column(String(36))
    data: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    #: SHA-256 of `data`; the event's hash covers this digest, not the data itself, so that a
    #: purge can pseudonymise the data and the chain still verifies. None on the oldest events
    #: (their hash covers the data).
    data_digest: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Incident(Base):
    """Something that needs a person: a failed step, an unmatched message."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int | None] = mapped_column(BigId, index=True)
    kind: Mapped[str] = mapped_column(String(30))
    element_id: Mapped[str | None] = mapped_column(String(255))
    task_id: Mapped[str | None] = mapped_column(String(36))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    status: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(150))


class MessageSubscription(Base):
    """A case waiting for a message: routes `POST /api/messages` without loading cases."""

    __tablename__ = "message_subscriptions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instances.id", ondelete="CASCADE"), index=True
    )
    message_name: Mapped[str] = mapped_column(String(255), index=True)
    element_id: Mapped[str | None] = mapped_column(String(255))
    #: The case's own correlation values, flat: {property id: value}.
    correlation: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)


class Notification(Base):
    """An in-app notification to a user or to a team."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    team_id: Mapped[str | None] = mapped_column(String(100), index=True)
    instance_id: Mapped[int | None] = mapped_column(BigId)
    task_id: Mapped[str | None] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(50))
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Timer(Base):
    """A BPMN timer that will fire: the durable copy; the scheduler finds due ones by index."""

    __tablename__ = "timers"
    __table_args__ = (
        Index("ix_timers_status_due", "status", "due_at"),
        #: A case's pending timers (every save of a case with timers reads them).
        Index("ix_timers_instance_status", "instance_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: "task" (a waiting catch or boundary event of a case) or "start" (a timer start event).
    kind: Mapped[str] = mapped_column(String(10))
    instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("process_instances.id", ondelete="CASCADE")
    )
    process_version_id: Mapped[int | None] = mapped_column(ForeignKey("process_versions.id"))
    task_id: Mapped[str | None] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(255))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: pending -> fired | cancelled | failed (its firing kept raising: an incident).
    status: Mapped[str] = mapped_column(String(12))
    #: While a scheduler hands the timer to a worker, others leave it alone until this passes.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Firings that raised, and the last one's error (`engine.timers.record_failure`).
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    #: Start timers: {"cycles": firings left (-1 = forever), "every": seconds between them}.
    details: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OutboxMessage(Base):
    """Work that a state change causes, written in the same transaction as the change.

    The scheduler's relay hands pending rows to Dramatiq; the handler marks them done in the
    same transaction as its own effect, so a redelivered message does nothing twice.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_available", "status", "available_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: What to do: "service_call", "email", "fire_timer", ...
    kind: Mapped[str] = mapped_column(String(30))
    instance_id: Mapped[int | None] = mapped_column(BigId, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    #: pending -> dispatched -> done | failed.
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Document(Base):
    """A document rendered for a case by the `render_document` service operation."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instances.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    content: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ParameterSet(Base):
    """A versioned set of process parameters (PROCESSES.md §1.6), e.g. rule set "2025"."""

    __tablename__ = "parameter_sets"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    values: Mapped[dict[str, Any]] = mapped_column(JsonType)
    sha256: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[str] = mapped_column(String(10))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class KeyCounter(Base):
    """The last number given out for a business-key prefix in a year."""

    __tablename__ = "key_counters"

    prefix: Mapped[str] = mapped_column(String(10), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class ReferenceItem(Base):
    """Reference data: municipalities, service points, development companies, ..."""

    __tablename__ = "reference_items"

    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JsonType)


class LoginThrottle(Base):
    """Failed logins per username (known or not), for lockout after repeated failures."""

    __tablename__ = "login_throttle"

    username: Mapped[str] = mapped_column(String(150), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failure_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
