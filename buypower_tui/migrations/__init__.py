"""The store's schema history: Alembic migrations, shipped inside the package (see core/schema.py).

A released migration is never edited: every change to a table is a new one, and each runs on
SQLite and PostgreSQL alike.
"""
