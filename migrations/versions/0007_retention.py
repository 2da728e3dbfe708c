"""Retention: events.data_digest (the hash chain covers a digest of the data, so that a purge
can pseudonymise the data) and process_instances.purged_at

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 15:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('events') as batch:
        batch.add_column(sa.Column('data_digest', sa.String(length=64), nullable=True))
    with op.batch_alter_table('process_instances') as batch:
        batch.add_column(sa.Column('purged_at', sa.DateTime(timezone=True), nullable=True))
        batch.create_index('ix_process_instances_status_ended', ['status', 'ended_at'])


def downgrade() -> None:
    with op.batch_alter_table('process_instances') as batch:
        batch.drop_index('ix_process_instances_status_ended')
        batch.drop_column('purged_at')
    with op.batch_alter_table('events') as batch:
        batch.drop_column('data_digest')
