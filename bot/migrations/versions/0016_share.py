"""share: read-only journal links (hashed token, expiry, revocation, view count) and
incidents published to the status page

Revision ID: 0016_share
Revises: 0015_replicas
Create Date: 2026-12-03 17:05:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel column types)
from alembic import op


revision: str = '0016_share'
down_revision: str | None = '0015_replicas'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'share_link',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('incident_id', sa.Integer(), nullable=True),
        sa.Column('service', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column('teams', sa.JSON(), nullable=False),
        sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('revoked_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column('views', sa.Integer(), nullable=False),
        sa.Column('last_viewed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['incident_id'], ['incident.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    with op.batch_alter_table('share_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_share_link_incident_id'), ['incident_id'],
                              unique=False)


    op.create_table(
        'status_publication',
        sa.Column('incident_id', sa.Integer(), nullable=False),
        sa.Column('published_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('published_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('provider_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column('sent_state', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column('sent_update_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['incident_id'], ['incident.id']),
        sa.PrimaryKeyConstraint('incident_id'),
    )


def downgrade() -> None:
    op.drop_table('status_publication')
    op.drop_table('share_link')
