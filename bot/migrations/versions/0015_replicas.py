"""replicas: a version column for compare-and-set transitions, shared Slack rate budgets

Revision ID: 0015_replicas
Revises: 0014_people
Create Date: 2026-12-03 16:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel column types)
from alembic import op


revision: str = '0015_replicas'
down_revision: str | None = '0014_people'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False,
                                      server_default='0'))
    op.create_table(
        'rate_budget',
        sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column('tokens', sa.Float(), nullable=False),
        sa.Column('updated', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )


def downgrade() -> None:
    op.drop_table('rate_budget')
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_column('version')
