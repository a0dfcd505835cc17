"""paging: each page row's outcome; a heartbeat watched before it ever arrived

Revision ID: 0009_paging
Revises: 0005_first_start
Create Date: 2026-12-03 13:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel column types)
from alembic import op


revision: str = '0009_paging'
down_revision: str | None = '0008_timeline_mrkdwn'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('page', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=16),
                                      nullable=False, server_default='sent'))
    with op.batch_alter_table('heartbeat', schema=None) as batch_op:
        batch_op.add_column(sa.Column('watching_since', sqlmodel.sql.sqltypes.UTCDateTime(),
                                      nullable=True))
        batch_op.alter_column('last_seen', existing_type=sqlmodel.sql.sqltypes.UTCDateTime(),
                              nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM heartbeat WHERE last_seen IS NULL")
    with op.batch_alter_table('heartbeat', schema=None) as batch_op:
        batch_op.alter_column('last_seen', existing_type=sqlmodel.sql.sqltypes.UTCDateTime(),
                              nullable=False)
        batch_op.drop_column('watching_since')
    with op.batch_alter_table('page', schema=None) as batch_op:
        batch_op.drop_column('outcome')
