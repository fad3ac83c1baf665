"""Alembic's entry point. buypower-tui runs it in-process (core/schema.py) on the connection it
passes in `config.attributes["connection"]`; there is no alembic.ini and no URL here."""

from alembic import context
from sqlmodel import SQLModel

import buypower_tui.core.models  # noqa: F401 - the tables, for --autogenerate

connection = context.config.attributes["connection"]
# SQLite cannot ALTER most things: batch mode copies the table, which keeps migrations portable.
context.configure(connection=connection, target_metadata=SQLModel.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
