"""task_candidates.status mirrors its task's status, with a partial index of the ready ones

The team task lists find the tasks that one of the teams may work on as a further candidate
(`engine.candidates`). Without a status of their own, those lookups read every candidate row
of the teams, of finished tasks too, and kept the ready ones: a cost that grew with every task
ever finished. The runner now ends a task's candidate rows in the same transaction as the task,
and `ix_task_candidates_ready_team (team, task_id) WHERE status = 'ready'` holds only the
open ones. Rows of finished tasks stay: `engine.case_access` reads them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 18:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

READY = sa.text("status = 'ready'")


def upgrade() -> None:
    with op.batch_alter_table('task_candidates') as batch:
        batch.add_column(sa.Column('status', sa.String(length=20), nullable=False,
                                   server_default='ready'))
    op.execute("UPDATE task_candidates SET status = (SELECT tasks.status FROM tasks "
               "WHERE tasks.id = task_candidates.task_id)")
    op.create_index('ix_task_candidates_ready_team', 'task_candidates', ['team', 'task_id'],
                    postgresql_where=READY, sqlite_where=READY)


def downgrade() -> None:
    op.drop_index('ix_task_candidates_ready_team', table_name='task_candidates')
    with op.batch_alter_table('task_candidates') as batch:
        batch.drop_column('status')
