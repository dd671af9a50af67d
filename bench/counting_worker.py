"""A worker process that counts its own SQL: `python -m bench.counting_worker JOBS OUT.json`.

It builds the app as `flask --app server worker` does (`server.create_app()`, settings from the
environment), attaches SQLAlchemy event listeners to the store's engine (every statement sent
through a cursor, every transaction begun and committed, every pool checkout and pre-ping), and
runs the worker's own loop (`Worker(services).run_once()`, idling as run_forever does) until
JOBS jobs have run. Only the run_once calls that ran a job are counted (the steady path;
dispatching is part of it); empty polls are counted apart. The product is not changed.
"""

import json
import re
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import event

from server import create_app
from thsync.pipeline.worker import Worker

WARM_UP = 5  # jobs not counted: the first token refresh, caches filling


class Counts:
    """What the worker's own thread asks of the database; the housekeeping thread's statements
    (dispatch, schedule, alerts, waiting tenants, on their own cadence) are counted apart."""

    def __init__(self):
        self.thread = threading.get_ident()
        self.background = 0
        self.statements = 0
        self.begins = 0
        self.commits = 0
        self.rollbacks = 0
        self.checkouts = 0
        self.pings = 0
        self.sqlite_traced = 0  # SQLite only: every statement SQLite itself ran
        self.shapes = Counter()

    def snapshot(self) -> tuple:
        return (
            self.statements,
            self.begins,
            self.commits,
            self.rollbacks,
            self.checkouts,
            self.pings,
            self.sqlite_traced,
        )


def shape(statement: str) -> str:
    """A statement's kind and table, e.g. 'SELECT jobs' or 'UPDATE rate_limits'."""
    text = " ".join(statement.split())
    verb = text.split(" ", 1)[0].upper()
    table = re.search(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", text, re.IGNORECASE)
    return f"{verb} {table.group(1) if table else ''}".strip()


def attach(engine, counts: Counts) -> None:
    @event.listens_for(engine, "before_cursor_execute")
    def _statement(conn, cursor, statement, parameters, context, executemany):
        if threading.get_ident() != counts.thread:
            counts.background += 1
            return
        counts.statements += 1
        counts.shapes[shape(statement)] += 1

    @event.listens_for(engine, "begin")
    def _begin(conn):
        if threading.get_ident() == counts.thread:
            counts.begins += 1

    @event.listens_for(engine, "commit")
    def _commit(conn):
        if threading.get_ident() == counts.thread:
            counts.commits += 1

    @event.listens_for(engine, "rollback")
    def _rollback(conn):
        if threading.get_ident() == counts.thread:
            counts.rollbacks += 1

    @event.listens_for(engine.pool, "checkout")
    def _checkout(dbapi_conn, record, proxy):
        if threading.get_ident() == counts.thread:
            counts.checkouts += 1
        if engine.dialect.name == "sqlite" and not record.info.get("bench_traced"):
            # the store's own BEGIN IMMEDIATE and PRAGMAs go to the DB-API connection directly,
            # past the cursor events; SQLite's trace callback sees them too
            dbapi_conn.set_trace_callback(lambda _sql: _traced())
            record.info["bench_traced"] = True

    def _traced():
        counts.sqlite_traced += 1

    ping = engine.dialect.do_ping

    def counted_ping(dbapi_connection):
        counts.pings += 1
        return ping(dbapi_connection)

    engine.dialect.do_ping = counted_ping  # pool_pre_ping's query bypasses the cursor events


def main() -> None:
    jobs, out = int(sys.argv[1]), Path(sys.argv[2])
    app = create_app()
    services = app.extensions["thsync"]
    counts = Counts()
    attach(services.store.db.engine, counts)
    worker = Worker(services)
    worker.housekeeping.start()  # as run_forever does: the chores run beside, on their cadence
    started = time.monotonic()
    poll = services.settings["WORKER_POLL_SECONDS"]
    counted = [0] * 7
    idle = [0] * 8  # the seven counts, then how many empty polls
    shapes = Counter()
    done, deadline = 0, time.monotonic() + 1800
    with app.app_context():
        while done < jobs and time.monotonic() < deadline:
            before, shapes_before = counts.snapshot(), counts.shapes.copy()
            job = worker.run_once()
            delta = [a - b for a, b in zip(counts.snapshot(), before, strict=True)]
            if job is None:
                idle = [a + b for a, b in zip(idle, [*delta, 1], strict=True)]
                time.sleep(poll)
                continue
            done += 1
            if done > WARM_UP:
                counted = [a + b for a, b in zip(counted, delta, strict=True)]
                shapes.update(counts.shapes - shapes_before)
    worker.housekeeping.stop()
    elapsed = time.monotonic() - started
    services.close()
    names = (
        "statements",
        "begins",
        "commits",
        "rollbacks",
        "checkouts",
        "pings",
        "sqlite_traced_statements",
    )
    result = {
        "jobs": done,
        "counted_jobs": done - WARM_UP,
        "dialect": services.store.db.dialect,
        "totals": dict(zip(names, counted, strict=True)),
        "idle_polls": idle[7],
        "idle_totals": dict(zip(names, idle[:7], strict=True)),
        "shapes": dict(shapes.most_common()),
        "background_statements": counts.background,
        "background_statements_per_s": round(counts.background / elapsed, 1),
    }
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
