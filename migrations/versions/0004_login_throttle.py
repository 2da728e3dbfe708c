"""login throttle

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 12:35:35.695318
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('login_throttle',
    sa.Column('username', sa.String(length=150), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('first_failure_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('username')
    )
    


def downgrade() -> None:
    
    op.drop_table('login_throttle')
    
