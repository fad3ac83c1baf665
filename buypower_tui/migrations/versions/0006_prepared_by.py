"""batch.prepared_by / prepared_at: who prepared a batch (everyone who imported or edited it);
store_setting: the rules a store keeps for every operator (`approval`).

With the setting approval = "two-person" no operator who prepared a batch may confirm its
payment (core/approval.py). From now on every preparing change writes these columns in its own
transaction. A store from before kept no such record, so each batch gets every operator (and the
last time) of its events that say it was prepared: the import (or the repeat) that made it, or a
change to its rows' sheet values or to which rows it holds, known by the notes those changes
have always written. Every batch has its import's event, so each gets someone; a lookup, an
approval, a run, a requery, a resolution, closing or reopening a row, a note left by a run and a
rename never make anyone its preparer.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-15
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The notes of the changes that prepare a batch, as the app wrote them before this revision.
# "duplicate accepted by the operator" is not among them: a run wrote it too, for the duplicates
# its operator accepted at the confirmation, which is approving, not preparing.
EXACT = ("edited", "added by the operator", "restored (undo)", "duplicate acceptance undone", "edited with other rows",
         "bulk edit undone", "the fix proposed by the import accepted", "split undone")
LIKE = ("batch created from %", "row % deleted by the operator", "row % deleted: split undone", "copied from row %",
        "split: %", "split from row %", "merged from %")


def upgrade() -> None:
    op.create_table("store_setting", sa.Column("name", sa.String(), primary_key=True),
                    sa.Column("value", sa.String(), nullable=False), sa.Column("set_by", sa.String(), nullable=False),
                    sa.Column("set_at", sa.DateTime(timezone=True), nullable=False))
    op.add_column("batch", sa.Column("prepared_by", sa.String(), nullable=True))
    op.add_column("batch", sa.Column("prepared_at", sa.DateTime(timezone=True), nullable=True))
    batch = sa.table("batch", sa.column("id"), sa.column("prepared_by"), sa.column("prepared_at"))
    event = sa.table("event", sa.column("id"), sa.column("batch_id"), sa.column("recipient_id"), sa.column("at"),
                     sa.column("operator"), sa.column("new_state"), sa.column("note"))
    prepares = sa.or_(sa.and_(event.c.new_state == "IMPORTED", event.c.recipient_id.is_(None)),
                      event.c.note.in_(EXACT), *(event.c.note.like(pattern) for pattern in LIKE))

    # each batch: everyone who prepared it, once each, in the order they first did; the last time
    found: dict[int, tuple[list[str], object]] = {}
    conn = op.get_bind()
    for batch_id, operator, at in conn.execute(sa.select(event.c.batch_id, event.c.operator, event.c.at)
                                               .where(prepares).order_by(event.c.at, event.c.id)):
        names, _ = found.get(batch_id, ([], None))
        names = [n for n in names if (n.rpartition("@")[0] or n) != (operator.rpartition("@")[0] or operator)]
        names.append(operator)
        found[batch_id] = (names, at)
    for batch_id, (names, at) in found.items():
        conn.execute(batch.update().where(batch.c.id == batch_id).values(prepared_by=json.dumps(names),
                                                                         prepared_at=at))


def downgrade() -> None:
    with op.batch_alter_table("batch") as b:
        b.drop_column("prepared_at")
        b.drop_column("prepared_by")
    op.drop_table("store_setting")
