"""recipient.extras: the sheet's other columns, kept by the import ({header as written: cell text}).

Before this an import reported the columns it did not know and dropped them; now it keeps them
(a flat, a block, an estate), so that they can be shown, exported and grouped by. Rows imported
before have none (NULL), as rows of a sheet without such columns.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a plain ADD COLUMN on SQLite too (no copy of the table): a 100,000-row store upgrades at once
    op.add_column("recipient", sa.Column("extras", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recipient") as batch:
        batch.drop_column("extras")
