"""The hand-written migrations of schema versions 1 to 3 (Alembic takes over from there)."""

import time

import sqlalchemy as sa

from thsync.store.schema import V1_TABLES, V2_TABLES, V3_TABLES, metadata, schema_version


def _create(tables):
    def step(conn) -> None:
        metadata.create_all(conn, tables=list(tables))

    return step


# Append-only: (version, step). A step receives a connection inside the migration transaction.
MIGRATIONS = ((1, _create(V1_TABLES)), (2, _create(V2_TABLES)), (3, _create(V3_TABLES)))


def upgrade(conn) -> list[int]:
    """Bring the schema up to date; returns the versions applied. Safe to run concurrently."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(74061)"))
    metadata.create_all(conn, tables=[schema_version])
    done = set(conn.execute(sa.select(schema_version.c.version)).scalars())
    applied = []
    for version, step in MIGRATIONS:
        if version in done:
            continue
        step(conn)
        conn.execute(schema_version.insert().values(version=version, applied_at=time.time()))
        applied.append(version)
    return applied


def latest_version() -> int:
    return MIGRATIONS[-1][0]
