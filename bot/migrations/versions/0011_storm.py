"""storm: a channel's storm (one live summary) and the incidents folded into it

Revision ID: 0011_storm
Revises: 0010_feedback
Create Date: 2026-12-03 16:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel column types)
from alembic import op

revision: str = '0011_storm'
down_revision: str | None = '0010_feedback'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'storm',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column('active_channel', sqlmodel.sql.sqltypes.AutoString(length=128),
                  nullable=True),
        sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('last_joined_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('ended_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('summary_channel_id', sqlmodel.sql.sqltypes.AutoString(length=32),
                  nullable=True),
        sa.Column('summary_ts', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column('summary_updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('update_every_s', sa.Float(), nullable=False, server_default='5'),
        sa.Column('counts', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('storm') as batch:
        batch.create_index('ix_storm_channel', ['channel'], unique=False)
        batch.create_index('ix_storm_active_channel', ['active_channel'], unique=True)
    op.create_table(
        'storm_member',
        sa.Column('storm_id', sa.Integer(), nullable=False),
        sa.Column('incident_id', sa.Integer(), nullable=False),
        sa.Column('joined_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('listed', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.ForeignKeyConstraint(['incident_id'], ['incident.id']),
        sa.ForeignKeyConstraint(['storm_id'], ['storm.id']),
        sa.PrimaryKeyConstraint('storm_id', 'incident_id'),
    )
    with op.batch_alter_table('storm_member') as batch:
        batch.create_index('ix_storm_member_incident_id', ['incident_id'], unique=False)


def downgrade() -> None:
    op.drop_table('storm_member')
    op.drop_table('storm')
