"""Ready tasks by id and by assignee with the task list's sort keys in the index; all ready
tasks oldest first

The staff task list (`engine.worklist`) merges several parts: each team's tasks, the tasks of
a further candidate team (looked up by id) and those assigned to the user in none of the
teams. Each part gives the ids and sort keys of its first tasks, and only the page's tasks
are read from the table. With (team, due_at, created_at) next to the id, and
(team, due_at, created_at, id) next to the assignee, those parts and the list's counts are
read from the index alone. The API's list (`GET /api/tasks`) is oldest first: for those who
see every task, (created_at, id) gives its first tasks without sorting all open ones.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 20:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

READY = sa.text("status = 'ready'")


def upgrade() -> None:
    op.drop_index('ix_tasks_ready_id', table_name='tasks')
    op.create_index('ix_tasks_ready_id', 'tasks', ['id', 'team', 'due_at', 'created_at'],
                    postgresql_where=READY, sqlite_where=READY)
    op.create_index('ix_tasks_ready_assignee', 'tasks',
                    ['assignee', 'team', 'due_at', 'created_at', 'id'],
                    postgresql_where=READY, sqlite_where=READY)
    op.create_index('ix_tasks_ready_created', 'tasks', ['created_at', 'id'],
                    postgresql_where=READY, sqlite_where=READY)


def downgrade() -> None:
    op.drop_index('ix_tasks_ready_created', table_name='tasks')
    op.drop_index('ix_tasks_ready_assignee', table_name='tasks')
    op.drop_index('ix_tasks_ready_id', table_name='tasks')
    op.create_index('ix_tasks_ready_id', 'tasks', ['id'],
                    postgresql_where=READY, sqlite_where=READY)
