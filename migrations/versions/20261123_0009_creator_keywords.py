"""creator keywords: a creator's own opt-out and opt-in words

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 22:25:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.db


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('creators', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('opt_out_words', engine.db.Json, server_default=sa.text("'[]'"), nullable=False)
        )
        batch_op.add_column(
            sa.Column('opt_in_words', engine.db.Json, server_default=sa.text("'[]'"), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('creators', schema=None) as batch_op:
        batch_op.drop_column('opt_in_words')
        batch_op.drop_column('opt_out_words')
