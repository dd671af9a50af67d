"""The worker's chores on their own cadence: a worker that runs for good claims and runs jobs
while dispatch, the schedule, the alert desk and the list of waiting tenants run beside it, so
a claim costs the same however many tenants there are."""

import threading
import time

import sqlalchemy as sa

from thsync.pipeline.worker import Worker

JORDAN = "a1e2c3d4-0000-4000-8000-000000000042"


def statements_of(engine: sa.Engine, action) -> list[str]:
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        action()
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    return seen


def test_with_housekeeping_in_the_background_a_claim_is_one_statement(connected):
    services = connected.extensions["thsync"]
    worker = Worker(services)
    worker.housekeeping.start()
    try:
        worker.housekeeping._scheduler.pause()  # hold the chores still while we count
        claim_only = statements_of(services.store.db.engine, worker.run_once)
    finally:
        worker.housekeeping.stop()
    inline = statements_of(services.store.db.engine, Worker(services).run_once)
    assert [s.split()[0] for s in claim_only] == ["SELECT"]
    assert len(inline) > len(claim_only)  # drain's run_once still does every chore first


def test_a_worker_running_for_good_syncs_a_webhook_with_its_chores_in_the_background(
    connected, fire, sandboxes, clock
):
    services = connected.extensions["thsync"]
    worker = Worker(services)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        fire("employee_created", JORDAN)
        deadline = time.monotonic() + 60
        while JORDAN not in sandboxes.th_users() and time.monotonic() < deadline:
            clock.advance(1)  # past the coalescing window of the test's manual clock
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert JORDAN in sandboxes.th_users()
    [job] = services.store.history.find(tenant_id="acme")
    assert (job.status, job.outcome) == ("succeeded", "created")
    assert not thread.is_alive()
    assert worker.housekeeping.in_background is False  # stopped with the worker
