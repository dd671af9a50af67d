"""The database both backends share: the engine, transactions, and the helpers every repository
uses. SQLite by default (WAL, one writer at a time: every transaction starts with BEGIN
IMMEDIATE so claims and rate reservations are serialised), PostgreSQL when DATABASE_URL says so
(row locks and SKIP LOCKED let many worker processes claim jobs safely).

Only the store package speaks SQL; each aggregate has a repository module of its own
(deliveries, jobs, history, people, connections, budgets, schedule, reconciliations, holds,
access, tenant_state, alerts, outbox), built once over one Database by thsync.store.Store.
"""

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from thsync.core.clock import Clock, SystemClock
from thsync.store import migrate


class StoreUnavailable(Exception):
    """The database cannot take the write right now."""


def loads(text: str | None, default: Any = None) -> Any:
    return json.loads(text) if text else default


def dumps(value: object) -> str:
    return json.dumps(value, default=str)


def inserted_id(result: sa.CursorResult[Any]) -> int:
    """The primary key of the one row an INSERT wrote."""
    key = result.inserted_primary_key
    assert key is not None  # a single-row INSERT always has one
    return key[0]


def sqlite_url_for(instance_path: str) -> str:
    os.makedirs(instance_path, exist_ok=True)
    return "sqlite:///" + os.path.join(os.path.abspath(instance_path), "thsync.db")


def create_engine(url: str) -> sa.Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
    _serialise_sqlite_writes(engine)
    return engine


def _serialise_sqlite_writes(engine: sa.Engine) -> None:
    """pysqlite's own transaction handling defers BEGIN; take the write lock up front instead.

    SQLite's busy handler sleeps 1, 2, 5, 10 … 100 ms between tries, which caps throughput as
    soon as two processes write. The write lock is short, so BEGIN IMMEDIATE is retried here
    with sub-millisecond naps instead (up to the same 30 s). WAL readers never wait for it.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        begin_immediate(cast(sqlite3.Connection, conn.connection.dbapi_connection))


def begin_immediate(dbapi_conn: sqlite3.Connection, patience: float = 30.0) -> None:
    """BEGIN IMMEDIATE with SQLite's own busy wait switched off for the attempt."""
    dbapi_conn.execute("PRAGMA busy_timeout=0")
    try:
        begin_with_naps(dbapi_conn, patience)
    finally:
        dbapi_conn.execute("PRAGMA busy_timeout=30000")


def begin_with_naps(dbapi_conn: sqlite3.Connection, patience: float = 30.0) -> None:
    """Retry BEGIN IMMEDIATE with sub-millisecond naps until the write lock is ours."""
    nap, deadline = 0.0002, time.monotonic() + patience
    while True:
        try:
            dbapi_conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(nap)
            nap = min(nap * 2, 0.005)


class Database:
    """One engine and its transactions; SQLite writes of one process queue on a lock."""

    def __init__(self, url: str, clock: Clock | None = None) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.clock = clock or SystemClock()
        self.dialect = self.engine.dialect.name
        # Threads of one process queue here instead of in SQLite's busy handler, which sleeps.
        self.sqlite_writes = threading.RLock() if self.dialect == "sqlite" else None

    def insert(self, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def upgrade(self) -> list[str]:
        """Run every Alembic revision not yet applied, in one transaction; returns their ids."""
        with self.engine.begin() as conn:
            return migrate.upgrade(conn)

    def schema_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return migrate.current_revision(conn)

    def write_revision(self, message: str, autogenerate: bool = True) -> str | None:
        with self.engine.begin() as conn:
            return migrate.write_revision(conn, message, autogenerate)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        if self.sqlite_writes is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self.sqlite_writes, self.engine.begin() as conn:
            yield conn

    def insert_ignore(
        self, conn: sa.Connection, table: sa.Table, values: Mapping[str, Any]
    ) -> bool:
        """INSERT that reports False instead of failing on a key clash."""
        try:
            with conn.begin_nested():
                conn.execute(table.insert().values(**values))
            return True
        except IntegrityError:
            return False

    def one(self, query: sa.Executable) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return dict(row._mapping) if row is not None else None

    def all(self, query: sa.Executable) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]


class Repository:
    """The SQL of one aggregate, over the shared Database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.clock = db.clock
