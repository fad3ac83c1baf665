"""What real BuyPower answers carry: debt and what the money bought; the requery schedule.

- debt_repayment (check/meter), amount_generated, tax, debt_amount, debt_remaining (vend and
  requery): exact decimal text, like units and customer_debt already are.
- requery_schedule: the provider's 202 `delay` list, followed requery by requery.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DECIMALS = ("debt_repayment", "amount_generated", "tax", "debt_amount", "debt_remaining")


def upgrade() -> None:
    with op.batch_alter_table("recipient") as batch:
        for name in DECIMALS:
            batch.add_column(sa.Column(name, sa.String(), nullable=True))
        batch.add_column(sa.Column("requery_schedule", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recipient") as batch:
        for name in (*DECIMALS, "requery_schedule"):
            batch.drop_column(name)
