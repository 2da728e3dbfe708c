"""(instance_id, status) indexes of tasks and timers instead of (instance_id)

Every save of a case reads its ready tasks (and, with timers, its pending timers). By
instance_id alone that read scanned every task and timer the case ever had, so a long case
(a loop run a thousand times) paid more for each round. With the status in the index it reads
only the open ones; the index still serves every lookup by case.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 18:15:00
"""
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ('tasks', 'timers'):
        op.create_index(f'ix_{table}_instance_status', table, ['instance_id', 'status'])
        op.drop_index(f'ix_{table}_instance_id', table_name=table)


def downgrade() -> None:
    for table in ('tasks', 'timers'):
        op.create_index(f'ix_{table}_instance_id', table, ['instance_id'])
        op.drop_index(f'ix_{table}_instance_status', table_name=table)
