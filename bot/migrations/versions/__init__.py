"""Alembic revisions (one module each); alembic itself skips this file."""
