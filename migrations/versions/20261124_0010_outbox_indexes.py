"""indexes: outbox rows by message, and replies never sent

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 01:30:00.000000

The scheduler's housekeeping looks for stored replies that were never sent (a serve died
between its turn and the send) and asks, for each, whether it already has an outbox row: both
scanned their whole table before. Deleting a contact's messages (GDPR) cascades to the outbox by
`message_id`, which now has an index too.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSENT_REPLY = "direction = 'out' AND status = 'pending' AND reply_to_id IS NOT NULL"


def upgrade() -> None:
    op.create_index('ix_outbox_message_id', 'outbox', ['message_id'])
    op.create_index(
        'ix_messages_unsent_replies',
        'messages',
        ['id'],
        postgresql_where=sa.text(UNSENT_REPLY),
        sqlite_where=sa.text(UNSENT_REPLY),
    )


def downgrade() -> None:
    op.drop_index('ix_messages_unsent_replies', table_name='messages')
    op.drop_index('ix_outbox_message_id', table_name='outbox')
