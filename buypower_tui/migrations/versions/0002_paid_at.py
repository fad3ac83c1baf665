"""recipient.paid_at: when we committed SUCCESS (UTC), our own clock.

BuyPower's vendTime is kept as it came (its zone differs between /vend and /transaction);
paid_at is ours. Rows paid before this migration get the time of their SUCCESS event, which
is when that commit happened.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("recipient", sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE recipient SET paid_at = (SELECT MAX(event.at) FROM event WHERE event.recipient_id = "
               "recipient.id AND event.new_state = 'SUCCESS') WHERE state = 'SUCCESS'")


def downgrade() -> None:
    with op.batch_alter_table("recipient") as batch:
        batch.drop_column("paid_at")
