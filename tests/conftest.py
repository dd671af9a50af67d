"""Shared fixtures: a real database per test (SQLite file, or a scratch PostgreSQL database when
DATABASE_URL points at PostgreSQL), a clock tests can move, and the sandboxes over real HTTP."""

import os
import uuid

import pytest
import sqlalchemy as sa

from thsync.core.clock import ManualClock
from thsync.store import schema
from thsync.store.repositories import Store

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
pytest_plugins = ["tests.fixtures_app"]


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def _pg_admin_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgresql"):
        return url
    return os.environ.get("THSYNC_TEST_POSTGRES", DEFAULT_PG)


def _reachable(url: str) -> str | None:
    try:
        engine = sa.create_engine(_psycopg_url(url))
        with engine.connect():
            pass
        engine.dispose()
        return None
    except sa.exc.OperationalError as exc:
        return str(exc).splitlines()[0]


class ScratchPostgres:
    """A database of our own inside the PostgreSQL server, emptied between tests."""

    def __init__(self, admin_url: str):
        self.admin_url = admin_url
        self.name = f"thsync_test_{uuid.uuid4().hex[:10]}"
        base, _, _ = admin_url.rpartition("/")
        self.url = f"{base}/{self.name}"
        self._admin(f'CREATE DATABASE "{self.name}"')

    def _admin(self, statement: str) -> None:
        engine = sa.create_engine(_psycopg_url(self.admin_url), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(statement))
        engine.dispose()

    def empty(self) -> None:
        engine = sa.create_engine(_psycopg_url(self.url))
        with engine.begin() as conn:
            names = [t.name for t in schema.metadata.sorted_tables]
            existing = set(sa.inspect(conn).get_table_names())
            present = [n for n in names if n in existing and n != "schema_version"]
            if present:
                conn.execute(sa.text(f"TRUNCATE {', '.join(present)} RESTART IDENTITY"))
        engine.dispose()

    def drop(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres():
    """A scratch PostgreSQL database. Fails under CI when there is none; skips elsewhere."""
    admin = _pg_admin_url()
    problem = _reachable(admin)
    if problem:
        message = f"PostgreSQL at {admin} is not reachable: {problem}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must run the PostgreSQL tests)", pytrace=False)
        pytest.skip(message)
    scratch = ScratchPostgres(admin)
    yield scratch
    scratch.drop()


@pytest.fixture
def pg_url(postgres):
    postgres.empty()
    return postgres.url


@pytest.fixture
def db_url(request, tmp_path):
    """The database this test run targets: PostgreSQL when DATABASE_URL says so, else SQLite."""
    if os.environ.get("DATABASE_URL", "").startswith("postgresql"):
        return request.getfixturevalue("pg_url")
    return f"sqlite:///{tmp_path / 'thsync.db'}"


@pytest.fixture
def clock():
    return ManualClock(start=1_795_000_000.0)  # 2026-11-18, a fixed, repeatable start


@pytest.fixture
def store(db_url, clock):
    store = Store(db_url, clock)
    store.upgrade()
    yield store
    store.close()
