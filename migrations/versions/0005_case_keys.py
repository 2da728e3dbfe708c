"""case keys and the team task-list index

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 14:30:00.000000
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('case_keys',
    sa.Column('instance_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instances.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('instance_id', 'name', 'value')
    )
    with op.batch_alter_table('case_keys', schema=None) as batch_op:
        batch_op.create_index('ix_case_keys_value_name', ['value', 'name'], unique=False)

    with op.batch_alter_table('process_instances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_keys', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))

    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_status_team')
        batch_op.create_index('ix_tasks_status_team_created', ['status', 'team', 'created_at'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_status_team_created')
        batch_op.create_index('ix_tasks_status_team', ['status', 'team'], unique=False)

    with op.batch_alter_table('process_instances', schema=None) as batch_op:
        batch_op.drop_column('search_keys')

    with op.batch_alter_table('case_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_case_keys_value_name')

    op.drop_table('case_keys')
    
