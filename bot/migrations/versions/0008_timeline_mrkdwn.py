"""timeline text as Slack mrkdwn: the bot's mentions live, person and alert text escaped

Rows written before this have `mrkdwn` false: their text is escaped whole when shown.

Revision ID: 0005_timeline_mrkdwn
Revises: 0004
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008_timeline_mrkdwn'
down_revision: str | None = '0007_audit'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('timeline_event') as batch:
        batch.add_column(sa.Column('mrkdwn', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('timeline_event') as batch:
        batch.drop_column('mrkdwn')
