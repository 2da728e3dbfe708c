"""users.oidc_subject: the OpenID Connect subject of a user provisioned at an OIDC login

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 14:45:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('oidc_subject', sa.String(length=255), nullable=True))
        batch.create_index('ix_users_oidc_subject', ['oidc_subject'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.drop_index('ix_users_oidc_subject')
        batch.drop_column('oidc_subject')
