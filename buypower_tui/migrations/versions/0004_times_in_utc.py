"""Every store as the models say since times came back aware in UTC and the requery budget
runs from the last send.

- first_sent_at is dropped where it exists: a store upgraded by the first form of 0003 (issue
  11's work before its release) has it; the budget now runs from sent_at, and the first POST's
  time stays in the row's SENDING event.
- on PostgreSQL, a time column created without a zone (a store made from the models before
  UTCDateTime) becomes `timestamp with time zone`, its values read as the UTC they were
  written in. SQLite stores a time the same way with or without a zone: nothing to do there.

A store that already matches is left as it is.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMES = {"batch": ("created_at", "imported_at"), "event": ("at",), "meterlookup": ("fetched_at",),
         "recipient": ("paid_at", "sent_at", "next_requery_at", "created_at", "updated_at")}


def upgrade() -> None:
    bind = op.get_bind()
    if "first_sent_at" in {c["name"] for c in sa.inspect(bind).get_columns("recipient")}:
        with op.batch_alter_table("recipient") as batch:
            batch.drop_column("first_sent_at")
    if bind.dialect.name != "postgresql":
        return
    inspector = sa.inspect(bind)
    for table, names in TIMES.items():
        zoneless = {c["name"] for c in inspector.get_columns(table)
                    if isinstance(c["type"], sa.DateTime) and not c["type"].timezone}
        for name in sorted(zoneless & set(names)):
            op.alter_column(table, name, type_=sa.DateTime(timezone=True),
                            postgresql_using=f"{name} AT TIME ZONE 'UTC'")


def downgrade() -> None:
    """Nothing to put back: the dropped column was replaced, and zones are kept."""
