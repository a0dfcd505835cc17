"""install_info: when the install first started (no noise reviews of weeks before it)

Revision ID: 0005_first_start
Revises: 0004
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel column types)
from alembic import op


revision: str = '0005_first_start'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('install_info',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('first_started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    # An install that ran before this table existed started no later than its first incident.
    op.execute("INSERT INTO install_info (id, first_started_at) "
               "SELECT 1, MIN(opened_at) FROM incident HAVING MIN(opened_at) IS NOT NULL")


def downgrade() -> None:
    op.drop_table('install_info')
