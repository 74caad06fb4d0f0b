"""Storage: the database handle and unit of work, the SQLAlchemy models, the hot path's fixed statements,
attachments, and the Alembic migrations.
"""
