"""reference data and business keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 12:25:17.993590
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('key_counters',
    sa.Column('prefix', sa.String(length=10), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('prefix', 'year')
    )
    op.create_table('parameter_sets',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('values', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('valid_from', sa.String(length=10), nullable=False),
    sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('reference_items',
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'code')
    )
    with op.batch_alter_table('process_instances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('business_key', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('parameter_set', sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f('ix_process_instances_business_key'), ['business_key'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('process_instances', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_process_instances_business_key'))
        batch_op.drop_column('parameter_set')
        batch_op.drop_column('business_key')

    op.drop_table('reference_items')
    op.drop_table('parameter_sets')
    op.drop_table('key_counters')
    
