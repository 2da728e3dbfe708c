"""Partial indexes of the ready tasks for the staff task list, each WHERE status = 'ready':
(team, due_at IS NULL, due_at, created_at, id), (team, created_at, id),
(due_at IS NULL, due_at, created_at, id) and (id);
task_candidates rows that only repeat a task's primary team are deleted

The staff task list (`engine.worklist`) reads each of its teams' ready tasks from the first two
in the list's order and stops at the end of the page, so a page costs the same with 100 000
open tasks as with 100; the third does the same for those who see every task; the fourth
finds which tasks of a further candidate team (`task_candidates`) are still open. Only open
tasks are in them, however many are finished.

Migration 0008 copied every task's primary team into task_candidates, although only the
further teams belong there (`engine.candidates`); every reader also checks `tasks.team`, and
no task changes its primary team, so those rows say nothing. Deleted, they no longer cost
the team task lists a lookup each (one per finished task of the team).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 17:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

READY = sa.text("status = 'ready'")
#: "due" sorts by (due_at IS NULL, due_at): without a due date last, on both databases.
DUE = sa.text('(due_at IS NULL)')
INDEXES = {
    'ix_tasks_ready_team_due': ['team', DUE, 'due_at', 'created_at', 'id'],
    'ix_tasks_ready_team_created': ['team', 'created_at', 'id'],
    'ix_tasks_ready_due': [DUE, 'due_at', 'created_at', 'id'],
    'ix_tasks_ready_id': ['id'],
}


def upgrade() -> None:
    op.execute("DELETE FROM task_candidates WHERE EXISTS (SELECT 1 FROM tasks "
               "WHERE tasks.id = task_candidates.task_id AND tasks.team = task_candidates.team)")
    for name, columns in INDEXES.items():
        op.create_index(name, 'tasks', columns, postgresql_where=READY, sqlite_where=READY)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name='tasks')
