"""feedback: one verdict per person and incident (feedback row, triage confirm/dismiss)

Revision ID: 0010_feedback
Revises: 0009_paging
Create Date: 2026-12-03 16:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel column types)
from alembic import op


revision: str = '0010_feedback'
down_revision: str | None = '0009_paging'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'feedback',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('incident_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('verdict', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('rule', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column('route_key', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column('team', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['incident_id'], ['incident.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('incident_id', 'user_id', name='uq_feedback_person'),
    )
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_feedback_rule'), ['rule'], unique=False)
        batch_op.create_index(batch_op.f('ix_feedback_at'), ['at'], unique=False)


def downgrade() -> None:
    op.drop_table('feedback')
