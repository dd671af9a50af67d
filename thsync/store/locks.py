"""Locks that end with their holder, so a crash leaves nothing to clean up.

PostgreSQL: advisory locks, keyed (space, hashtext(name)). A lock held for a whole run lives on a
connection of its own and goes when that connection closes (the process died); a transaction
lock goes at COMMIT. SQLite: an flock on a file beside the database (the kernel drops it when
the process dies); SQLite's write lock already serialises transactions, so there is no
transaction lock to take.
"""

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from thsync.store.database import Database

RECONCILE = 1  # one reconciliation per tenant at a time
DISPATCH = 2  # one dispatcher at a time, so jobs absorb deliveries in delivery order

_TRY_SESSION = sa.text("SELECT pg_try_advisory_lock(:space, hashtext(:name))")
_UNLOCK_SESSION = sa.text("SELECT pg_advisory_unlock(:space, hashtext(:name))")
_TRY_TRANSACTION = sa.text("SELECT pg_try_advisory_xact_lock(:space, hashtext(:name))")


@contextmanager
def held(db: Database, space: int, name: str) -> Iterator[bool]:
    """Hold the lock (space, name) for the block; yields False when another holder has it."""
    if db.dialect == "postgresql":
        with _held_on_postgresql(db, space, name) as ours:
            yield ours
        return
    with _held_by_file(db, space, name) as ours:
        yield ours


def try_transaction_lock(db: Database, conn: sa.Connection, space: int, name: str = "") -> bool:
    """Take (space, name) until this transaction ends; False when another transaction has it.
    Always True on SQLite, whose write lock already lets one transaction in at a time."""
    if db.dialect != "postgresql":
        return True
    return bool(conn.execute(_TRY_TRANSACTION, {"space": space, "name": name}).scalar())


@contextmanager
def _held_on_postgresql(db: Database, space: int, name: str) -> Iterator[bool]:
    key = {"space": space, "name": name}
    conn = db.engine.connect()
    try:
        ours = bool(conn.execute(_TRY_SESSION, key).scalar())
        conn.commit()  # the session keeps the lock; no transaction stays open for the run
        try:
            yield ours
        finally:
            if ours:
                _release(conn, key)
    finally:
        conn.close()


def _release(conn: sa.Connection, key: dict[str, object]) -> None:
    try:
        conn.execute(_UNLOCK_SESSION, key)
        conn.commit()
    except sa.exc.SQLAlchemyError:
        conn.invalidate()  # a closed session lets the lock go; a pooled one would keep it


@contextmanager
def _held_by_file(db: Database, space: int, name: str) -> Iterator[bool]:
    fd = os.open(lock_path(db, space, name), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def lock_path(db: Database, space: int, name: str) -> str:
    """Beside the database file; the file stays (removing it would race with a new holder)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return f"{db.engine.url.database}.lock-{space}-{safe}"
