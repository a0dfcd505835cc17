"""confidence: a triage's state and due time, a high-confidence automatic runbook's window

Revision ID: 0012_confidence
Revises: 0011_storm
Create Date: 2026-12-03 16:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel column types)
from alembic import op


revision: str = '0012_confidence'
down_revision: str | None = '0011_storm'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('triage_state', sqlmodel.sql.sqltypes.AutoString(length=16),
                                      nullable=True))
        batch_op.add_column(sa.Column('triage_due_at', sqlmodel.sql.sqltypes.UTCDateTime(),
                                      nullable=True))
        batch_op.add_column(sa.Column('auto_state', sqlmodel.sql.sqltypes.AutoString(length=16),
                                      nullable=True))
        batch_op.add_column(sa.Column('auto_due_at', sqlmodel.sql.sqltypes.UTCDateTime(),
                                      nullable=True))
        batch_op.create_index(batch_op.f('ix_incident_triage_due_at'), ['triage_due_at'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_incident_auto_due_at'), ['auto_due_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_auto_due_at'))
        batch_op.drop_index(batch_op.f('ix_incident_triage_due_at'))
        batch_op.drop_column('auto_due_at')
        batch_op.drop_column('auto_state')
        batch_op.drop_column('triage_due_at')
        batch_op.drop_column('triage_state')
