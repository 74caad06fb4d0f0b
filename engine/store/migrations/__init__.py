"""Alembic migrations of gridloop's schema."""
