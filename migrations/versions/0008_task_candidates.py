"""Several candidate teams per task: task_candidates(task_id, team), filled from tasks.team

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 15:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'task_candidates',
        sa.Column('task_id', sa.String(length=36), nullable=False),
        sa.Column('team', sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('task_id', 'team'),
    )
    op.create_index('ix_task_candidates_team_task', 'task_candidates', ['team', 'task_id'])
    # Every existing task keeps its one team as its only candidate.
    op.execute("INSERT INTO task_candidates (task_id, team) "
               "SELECT id, team FROM tasks WHERE team IS NOT NULL")


def downgrade() -> None:
    op.drop_index('ix_task_candidates_team_task', table_name='task_candidates')
    op.drop_table('task_candidates')
