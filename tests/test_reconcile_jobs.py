"""A reconciliation is a tenant-wide job: the schedule (or "Reconcile now") queues it, any worker
claims it, and a tenant never has two reconciliations running at once, whoever started them."""

import threading
import time

from tests.auth_helpers import support_client
from tests.fixtures_app import ORG
from thsync.store.states import WHOLE_TENANT

JORDAN = "a1e2c3d4-0000-4000-8000-000000000042"


def services(app):
    return app.extensions["thsync"]


def ask_for_one(app) -> None:
    svc = services(app)
    svc.store.schedule.plan("acme", "", "reconcile", svc.clock.now(), "asked for on the dashboard")


def test_housekeeping_queues_a_due_reconciliation_and_a_worker_runs_it(
    connected, worker, sandboxes, clock
):
    store = services(connected).store
    ask_for_one(connected)
    [fired] = worker.housekeeping.ticker.tick()  # the worker loop's housekeeping
    assert store.reconciliations.find("acme") == []  # not run inside the tick
    assert sandboxes.th_users() == {}
    queued = store.history.get(fired["job_id"])
    assert (queued.employee_id, queued.status) == (WHOLE_TENANT, "queued")
    assert queued.event_types == ["reconciliation"]

    assert worker.drain() == 1
    [rec] = store.reconciliations.find("acme")
    assert (rec["trigger"], rec["status"], rec["summary"]["created"]) == ("schedule", "done", 3)
    job = store.history.get(queued.id)
    assert (job.status, job.outcome, job.attempts) == ("succeeded", "reconciled", 1)
    assert (
        job.reason == f"reconciliation #{rec['id']}: created 3, skipped 1, recovered 3, unchanged 1"
    )
    assert job.decision["reconciliation"] == rec["id"]
    [attempt] = store.history.attempts(job.id)
    assert attempt["outcome"] == "succeeded"
    [following] = store.schedule.find("acme")
    assert (following["action"], following["due_at"]) == ("reconcile", clock.now() + 24 * 3600)
    event = support_client(connected).get(f"/tenants/acme/events/{job.id}.json").get_json()
    assert event["outcome"] == {
        "status": "succeeded",
        "outcome": "reconciled",
        "reason": job.reason,
    }


def test_the_cli_is_refused_while_a_reconciliation_job_runs(connected, worker, sandboxes):
    store = services(connected).store
    slow = {"kind": "slow", "path": f"/api/v1/organisations/{ORG}/employees", "delay": 2.0}
    sandboxes.eh_admin("POST", "/_admin/faults", slow)  # the job's EH listing answers late
    ask_for_one(connected)
    runner = threading.Thread(target=worker.drain)
    runner.start()
    while store.reconciliations.running("acme") is None:
        assert runner.is_alive()
        time.sleep(0.01)
    refused = connected.test_cli_runner().invoke(args=["reconcile", "run", "acme"])
    runner.join()
    assert (refused.exit_code, refused.output) == (
        1,
        "Error: a reconciliation of acme is already running (#1, trigger schedule): "
        "try again later\n",
    )
    [rec] = store.reconciliations.find("acme")
    assert (rec["trigger"], rec["status"]) == ("schedule", "done")


def test_a_reconciliation_job_is_skipped_while_another_run_holds_the_tenant(connected, worker):
    store = services(connected).store
    ask_for_one(connected)
    with store.reconciliations.exclusive("acme") as ours:  # as a CLI run in another process
        assert ours
        assert worker.drain() == 1
    [job] = store.history.find()
    assert (job.employee_id, job.status) == (WHOLE_TENANT, "skipped")
    assert job.reason == "a reconciliation of acme is already running: try again later"
    assert store.reconciliations.find("acme") == []
    assert [a["action"] for a in store.schedule.find("acme")] == ["reconcile"]  # the next one


def test_person_jobs_run_while_a_reconciliation_job_is_running(connected, worker, fire, sandboxes):
    store = services(connected).store
    ask_for_one(connected)
    worker.housekeeping.ticker.tick()
    held = store.jobs.claim("another-worker", 600)  # the reconciliation, running elsewhere
    assert held.employee_id == WHOLE_TENANT
    fire("employee_created", JORDAN)
    assert worker.drain() == 1
    assert sandboxes.th_users()[JORDAN]["first_name"] == "Jordan"
    assert store.history.get(held.id).status == "running"


def test_a_run_whose_process_died_is_marked_failed_by_the_next(connected):
    store = services(connected).store
    dead = store.reconciliations.start("acme", dry_run=False, trigger="cli")  # never finished
    result = connected.test_cli_runner().invoke(args=["reconcile", "run", "acme", "--dry-run"])
    assert result.exit_code == 0, result.output
    stale = store.reconciliations.get(dead)
    assert (stale["status"], stale["error"]) == (
        "failed",
        "stopped mid-run: the process running it ended before it finished",
    )


def test_a_failed_reconciliation_job_is_kept_not_retried_and_the_next_is_planned(
    connected, worker, sandboxes, clock
):
    store = services(connected).store
    fault = {"kind": "500", "path": f"/api/v1/organisations/{ORG}/employees"}
    sandboxes.eh_admin("POST", "/_admin/faults", fault)
    ask_for_one(connected)
    assert worker.drain() == 1  # once: a retry would have run at once here
    [rec] = store.reconciliations.find("acme")
    assert (rec["trigger"], rec["status"]) == ("schedule", "failed")
    [job] = store.history.find()
    assert (job.status, job.outcome, job.attempts) == ("failed", "failed", 1)
    assert job.reason.startswith("the reconciliation failed: TransientError: Employment Hero")
    [attempt] = store.history.attempts(job.id)
    assert (attempt["outcome"], attempt["error"]) == ("failed", job.reason)
    [following] = store.schedule.find("acme")
    assert (following["action"], following["due_at"]) == ("reconcile", clock.now() + 24 * 3600)
