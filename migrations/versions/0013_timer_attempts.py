"""Timers count the firings that raised: after a few the timer fails as an incident

A timer whose firing keeps raising (its case cannot be loaded, a bug) was handed out again
every time its lease ran out, forever, and slowed down every batch it landed in. Now each
such firing is counted with its error, and the last allowed one takes the timer out of the
schedule (status "failed") with an incident that a person can retry.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24 03:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('timers') as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('last_error', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('timers') as batch_op:
        batch_op.drop_column('last_error')
        batch_op.drop_column('attempts')
