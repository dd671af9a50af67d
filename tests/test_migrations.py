"""Alembic's migrations on a real empty database of each backend: from empty to head, from a
database the hand-written migrations built (version 3) to head without losing a row, concurrent
starts, the tables and the revisions agreeing, and the `db` commands through Flask's runner."""

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from server import create_app
from tests.conftest import ScratchPostgres
from thsync.store import migrate, schema
from thsync.store.database import create_engine
from thsync.store.repositories import Store

LEGACY_DDL = Path(__file__).parent / "data" / "legacy_v3"
HEAD = "0002"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request, tmp_path):
    """A database with nothing in it; PostgreSQL's fails under CI when there is no server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    scratch = ScratchPostgres(request.getfixturevalue("postgres").admin_url)
    yield scratch.url
    scratch.drop()


@pytest.fixture
def engine(empty_url):
    engine = create_engine(empty_url)
    yield engine
    engine.dispose()


def build_hand_written_v3(engine: sa.Engine) -> None:
    """What the release before Alembic left behind: its recorded DDL and versions 1 to 3."""
    ddl = (LEGACY_DDL / f"{engine.dialect.name}.sql").read_text()
    with engine.begin() as conn:
        for statement in filter(str.strip, ddl.split(";\n")):
            conn.execute(sa.text(statement))
        for version in (1, 2, 3):
            conn.execute(
                sa.text("INSERT INTO schema_version (version, applied_at) VALUES (:v, 1.0)"),
                {"v": version},
            )


def insert_legacy_rows(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            schema.deliveries.insert().values(
                tenant_id="acme",
                received_at=1.0,
                status="accepted",
                http_status=202,
                employee_id="e1",
                dedup_key="id:evt-1",
                headers="{}",
                body="{}",
                body_size=2,
                job_id=1,
            )
        )
        conn.execute(
            schema.jobs.insert().values(
                tenant_id="acme",
                employee_id="e1",
                status="failed",
                event_types='["employee_updated"]',
                delivery_ids="[1]",
                created_at=1.0,
                updated_at=2.0,
                run_after=1.0,
                attempts=3,
                outcome="failed",
                reason="TH said 500",
            )
        )


def table_names(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def differences(engine: sa.Engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), schema.metadata)


def upgraded(url: str) -> Store:
    store = Store(url)
    store.upgrade()
    return store


def test_an_empty_database_is_built_by_every_revision_up_to_head(empty_url, engine):
    store = Store(empty_url)
    assert store.schema_revision() is None
    assert store.upgrade() == ["0001", HEAD]
    assert store.upgrade() == []
    assert store.schema_revision() == HEAD == migrate.head_revision()
    assert table_names(engine) == set(schema.metadata.tables) | {"alembic_version"}
    store.close()


def test_the_tables_and_the_revisions_agree(empty_url, engine):
    upgraded(empty_url).close()
    assert differences(engine) == []


def test_the_revisions_form_one_line_from_base_to_head():
    chain = migrate.revisions()
    assert [r.id for r in chain] == [HEAD, "0001"]
    assert [r.parent for r in chain] == ["0001", None]
    assert [r.head for r in chain] == [True, False]


def test_a_hand_written_v3_database_is_stamped_and_keeps_its_rows(empty_url, engine):
    build_hand_written_v3(engine)
    insert_legacy_rows(engine)
    store = Store(empty_url)
    assert store.upgrade() == [HEAD]  # 0001 was stamped, not run again
    assert store.schema_revision() == HEAD
    assert "schema_version" not in table_names(engine)
    assert differences(engine) == []
    delivery = store.deliveries.get(1)
    assert (delivery["dedup_key"], delivery["job_id"]) == ("id:evt-1", 1)
    [job] = store.history.find()
    assert (job.id, job.status, job.reason, job.attempts) == (1, "failed", "TH said 500", 3)
    store.close()


def test_a_stamped_database_takes_new_rows_after_the_old_ones(empty_url, engine):
    build_hand_written_v3(engine)
    insert_legacy_rows(engine)
    store = upgraded(empty_url)
    meta = {"event_type": "e", "event_id": "evt-2", "employee_id": "e2", "dedup_key": "id:evt-2"}
    accepted = store.deliveries.accept("acme", headers={}, body="{}", meta=meta)
    assert accepted.delivery_id == 2
    assert store.jobs.dispatch(0) == 1
    assert [job.id for job in store.history.find()] == [2, 1]
    store.close()


def test_a_hand_written_database_before_version_3_is_refused(empty_url, engine):
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE schema_version (version INTEGER, applied_at FLOAT)"))
        conn.execute(sa.text("INSERT INTO schema_version VALUES (1, 1.0), (2, 1.0)"))
    store = Store(empty_url)
    with pytest.raises(migrate.LegacySchemaTooOld) as caught:
        store.upgrade()
    assert str(caught.value) == (
        "the database is at hand-written schema version 2; Alembic adopts hand-written schema "
        "version 3 only: start the release before Alembic once."
    )
    assert table_names(engine) == {"schema_version"}  # the failed upgrade left nothing behind
    store.close()


def test_concurrent_starts_upgrade_once(empty_url, engine):
    stores = [Store(empty_url) for _ in range(4)]
    results, errors = [], []

    def start(store):
        try:
            results.append(store.upgrade())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [[], [], [], ["0001", HEAD]]
    assert differences(engine) == []
    for s in stores:
        s.close()


def test_downgrade_to_0001_gives_the_release_before_alembic_its_version_3(empty_url, engine):
    upgraded(empty_url).close()
    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0001")
    with engine.connect() as conn:
        versions = conn.execute(sa.text("SELECT version FROM schema_version ORDER BY 1"))
        assert versions.scalars().all() == [1, 2, 3]
    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "base")
    assert table_names(engine) == {"alembic_version"}
    store = upgraded(empty_url)
    assert store.schema_revision() == HEAD
    store.close()


@pytest.fixture
def cli_app(empty_url, tmp_path):
    app = create_app(
        {
            "DATABASE_URL": empty_url,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "TENANTS_DIR": str(tmp_path),
            "RUN_WORKER": False,
            "ENV": {},
        }
    )
    yield app
    app.extensions["thsync"].close()


def run(app, *args):
    result = app.test_cli_runner().invoke(args=["db", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_db_current_and_upgrade_through_the_cli(cli_app, engine):
    assert run(cli_app, "current") == f"{HEAD} (head)\n"  # the app upgraded as it started
    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0001")
    assert run(cli_app, "current") == f"0001 (behind {HEAD}: run `db upgrade`)\n"
    assert run(cli_app, "upgrade") == f"applied {HEAD}; now at {HEAD}\n"
    assert run(cli_app, "upgrade") == f"already at {HEAD} (head)\n"


def test_db_history_marks_head_and_current(cli_app):
    assert run(cli_app, "history").splitlines() == [
        f"0001 -> {HEAD} (head) (current): Drop schema_version, the hand-written migrations' "
        "record, where a database still has one.",
        "<base> -> 0001: The whole schema the hand-written migrations built by their version 3.",
    ]


def test_db_revision_writes_nothing_while_the_tables_and_database_agree(cli_app):
    assert run(cli_app, "revision", "-m", "nothing") == (
        "the tables and the database agree: no revision written\n"
    )
    assert sorted(p.name for p in (migrate.MIGRATIONS_DIR / "versions").glob("*.py")) == [
        "0001_baseline.py",
        "0002_drop_schema_version.py",
    ]


def test_db_revision_refuses_a_database_behind_head(cli_app, engine):
    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0001")
    result = cli_app.test_cli_runner().invoke(args=["db", "revision", "-m", "too early"])
    assert result.exit_code == 1
    assert result.output == "Error: Target database is not up to date.\n"
