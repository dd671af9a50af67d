"""The store on a real database: dedup, coalescing, claims, per-employee order, leases, retries."""

import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from thsync.store import migrate
from thsync.store.repositories import Store

REPO = Path(__file__).resolve().parents[1]


def deliver(store, employee="e1", event="employee_updated", event_id=None, body="{}", coalesce=3):
    meta = {
        "event_type": event,
        "event_id": event_id,
        "employee_id": employee,
        "dedup_key": f"id:{event_id}" if event_id else f"sha256:{employee}{event}{body}",
    }
    accepted = store.deliveries.accept(
        "acme", headers={"Content-Type": "application/json"}, body=body, meta=meta
    )
    store.jobs.dispatch(coalesce)
    accepted.job_id = store.deliveries.get(accepted.delivery_id)["job_id"]
    return accepted


def test_upgrade_is_idempotent_and_versioned(store):
    assert store.upgrade() == []
    with store.db.engine.connect() as conn:
        applied = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    # Alembic records the head alone; every revision before it is on the one line down to base.
    assert applied == [migrate.head_revision()] == [store.schema_revision()]
    chain = migrate.revisions()
    assert [r.id for r in chain][0] == applied[0]
    assert [r.parent for r in chain] == [r.id for r in chain][1:] + [None]


def test_intake_is_one_insert_and_the_dispatcher_queues_the_job(store):
    meta = {
        "event_type": "employee_updated",
        "event_id": "e",
        "employee_id": "e1",
        "dedup_key": "id:e",
    }
    accepted = store.deliveries.accept("acme", headers={}, body="{}", meta=meta)
    assert store.deliveries.get(accepted.delivery_id)["job_id"] is None
    assert store.history.find() == []
    assert store.jobs.dispatch(3) == 1
    assert store.jobs.dispatch(3) == 0
    [job] = store.history.find()
    assert store.deliveries.get(accepted.delivery_id)["job_id"] == job.id


def test_duplicate_event_id_is_recorded_but_queues_nothing(store):
    first = deliver(store, event_id="evt-1")
    second = deliver(store, event_id="evt-1")
    assert (first.duplicate, second.duplicate) == (False, True)
    assert second.job_id is None
    stored = store.deliveries.get(second.delivery_id)
    assert (stored["status"], stored["duplicate_of"]) == ("duplicate", first.delivery_id)
    assert len(store.history.find()) == 1


def test_a_burst_for_one_employee_becomes_one_job(store):
    ids = [
        deliver(store, event=e, event_id=e).job_id
        for e in ("employee_created", "employee_updated", "employee_onboarded")
    ]
    assert len(set(ids)) == 1
    job = store.history.get(ids[0])
    assert job.event_types == ["employee_created", "employee_updated", "employee_onboarded"]
    assert len(job.delivery_ids) == 3


def test_coalescing_window_defers_the_job_then_it_is_claimable(store, clock):
    deliver(store, event_id="a")
    assert store.jobs.claim("w1", 60) is None
    clock.advance(3.1)
    assert store.jobs.claim("w1", 60) is not None


def test_a_running_job_is_not_joined_and_the_next_waits_for_it(store, clock):
    first = deliver(store, event_id="a", coalesce=0)
    job = store.jobs.claim("w1", 60)
    assert job.id == first.job_id
    second = deliver(store, event_id="b", coalesce=0)
    assert second.job_id != first.job_id
    assert store.jobs.claim("w2", 60) is None  # same employee, earlier job still running
    assert store.jobs.finish(job, status="succeeded", outcome="updated", reason="ok")
    assert store.jobs.claim("w2", 60).id == second.job_id


def test_other_employees_run_while_one_is_busy(store):
    deliver(store, employee="e1", event_id="a", coalesce=0)
    deliver(store, employee="e2", event_id="b", coalesce=0)
    first = store.jobs.claim("w1", 60)
    second = store.jobs.claim("w2", 60)
    assert {first.employee_id, second.employee_id} == {"e1", "e2"}


def test_an_expired_lease_lets_another_worker_take_the_job(store, clock):
    deliver(store, event_id="a", coalesce=0)
    crashed = store.jobs.claim("w1", 60)
    assert store.jobs.claim("w2", 60) is None
    clock.advance(61)
    taken = store.jobs.claim("w2", 60)
    assert (taken.id, taken.attempts) == (crashed.id, 2)
    # The crashed worker can no longer move the job on.
    assert not store.jobs.finish(crashed, status="succeeded")
    assert store.jobs.finish(taken, status="succeeded")


def test_an_attempt_is_on_record_from_its_claim_and_cut_off_when_taken_over(store, clock):
    deliver(store, event_id="a", coalesce=0)
    crashed = store.jobs.claim("w1", 60)
    [started] = store.history.attempts(crashed.id)
    assert (started["number"], started["worker"], started["outcome"]) == (1, "w1", "running")
    assert (started["started_at"], started["finished_at"]) == (clock.now(), None)
    lease_ran_out = clock.now() + 60
    clock.advance(61)
    taken = store.jobs.claim("w2", 60)
    cut_off, running = store.history.attempts(taken.id)
    assert (cut_off["outcome"], cut_off["finished_at"]) == ("cut_off", lease_ran_out)
    assert cut_off["error"] == (
        "the worker w1 stopped mid-attempt (its lease ran out before the attempt ended): "
        "what it did before it stopped, a TH write perhaps, is not known"
    )
    assert (running["number"], running["worker"], running["outcome"]) == (2, "w2", "running")
    store.jobs.record_attempt(taken, outcome="succeeded", error=None, decision=None, calls=[])
    assert [a["outcome"] for a in store.history.attempts(taken.id)] == ["cut_off", "succeeded"]


def test_retry_waits_for_run_after_and_rate_limit_refunds_the_attempt(store, clock):
    deliver(store, event_id="a", coalesce=0)
    job = store.jobs.claim("w1", 60)
    store.jobs.finish(job, status="retry", run_after=clock.now() + 60, refund_attempt=True)
    assert store.jobs.claim("w1", 60) is None
    clock.advance(60)
    again = store.jobs.claim("w1", 60)
    assert again.attempts == 1


def test_failed_jobs_are_kept_and_can_be_requeued(store):
    deliver(store, event_id="a", coalesce=0)
    job = store.jobs.claim("w1", 60)
    store.jobs.finish(job, status="failed", reason="TH said 422", error="PermanentError")
    assert store.history.get(job.id).status == "failed"
    assert store.jobs.requeue_failed(tenant_id="acme") == [job.id]
    requeued = store.history.get(job.id)
    assert (requeued.status, requeued.attempts) == ("queued", 0)


def test_requeue_skips_a_failed_job_already_covered_by_a_waiting_one(store):
    deliver(store, event_id="a", coalesce=0)
    job = store.jobs.claim("w1", 60)
    store.jobs.finish(job, status="failed", reason="boom")
    newer = deliver(store, event_id="b", coalesce=0)
    assert store.jobs.requeue_failed() == []
    assert store.history.get(job.id).outcome == "superseded"
    assert store.history.get(newer.job_id).status == "queued"


def test_attempts_keep_calls_and_decision(store):
    deliver(store, event_id="a", coalesce=0)
    job = store.jobs.claim("w1", 60)
    calls = [{"service": "th", "method": "GET", "path": "/users/x", "status": 404}]
    store.jobs.record_attempt(
        job,
        outcome="retry",
        error="TransientError: 503",
        decision={"action": "upsert"},
        calls=calls,
    )
    [attempt] = store.history.attempts(job.id)
    assert attempt["calls"] == calls
    assert attempt["decision"] == {"action": "upsert"}
    assert (attempt["number"], attempt["error"]) == (1, "TransientError: 503")


def test_rejected_deliveries_are_recorded(store):
    delivery_id = store.deliveries.record_rejected(
        "acme", http_status=400, headers={}, body="nope", body_size=4, error="the body is not JSON"
    )
    stored = store.deliveries.get(delivery_id)
    assert (stored["status"], stored["http_status"], stored["body"]) == ("rejected", 400, "nope")


def test_oauth_state_is_single_use_and_expires(store, clock):
    store.connections.save_oauth_state("s1", "acme", "enc-verifier")
    assert store.connections.pop_oauth_state("s1", 600)["verifier"] == "enc-verifier"
    assert store.connections.pop_oauth_state("s1", 600) is None
    store.connections.save_oauth_state("s2", "acme", "v")
    clock.advance(601)
    assert store.connections.pop_oauth_state("s2", 600) is None


def test_concurrent_intake_for_one_employee_never_makes_two_waiting_jobs(db_url, clock):
    stores = [Store(db_url, clock) for _ in range(4)]
    stores[0].upgrade()
    errors = []

    def send(n, s):
        try:
            for i in range(10):
                deliver(s, event_id=f"{n}-{i}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(n, s)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    waiting = stores[0].history.find(status=["queued", "retry"])
    assert len(waiting) == 1
    assert len(waiting[0].delivery_ids) == 40
    for s in stores:
        s.close()


@pytest.mark.postgres
def test_many_workers_on_postgres_claim_each_job_once(pg_url, clock):
    setup = Store(pg_url, clock)
    setup.upgrade()
    for n in range(30):
        deliver(setup, employee=f"e{n}", event_id=f"evt-{n}", coalesce=0)
    claimed, lock = [], threading.Lock()

    def work(name):
        s = Store(pg_url, clock)
        while (job := s.jobs.claim(name, 60)) is not None:
            with lock:
                claimed.append(job.id)
            s.jobs.finish(job, status="succeeded")
        s.close()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(set(claimed))
    assert len(claimed) == 30
    setup.close()


DISPATCH_LOOP = """
import sys
from thsync.store.repositories import Store
store, name = Store(sys.argv[1]), sys.argv[2]
sys.stdin.readline()  # every process starts at once
while any(d["job_id"] is None for d in store.deliveries.find("acme", limit=1000)):
    store.jobs.dispatch(0, limit=3)
    job = store.jobs.claim(name, 60)
    if job is not None:  # finished jobs make the next deliveries start new ones
        store.jobs.finish(job, status="succeeded")
store.close()
"""


@pytest.mark.postgres
def test_concurrent_dispatchers_keep_each_persons_deliveries_in_order(pg_url):
    store = Store(pg_url)
    store.upgrade()
    people = [f"e{n}" for n in range(4)]
    for n in range(120):
        meta = {"event_type": "employee_updated", "employee_id": people[n % 4]}
        store.deliveries.accept("acme", headers={}, body="{}", meta={**meta, "dedup_key": f"{n}"})
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", DISPATCH_LOOP, pg_url, f"w{n}"], cwd=REPO, stdin=subprocess.PIPE
        )
        for n in range(4)
    ]
    for process in processes:
        process.stdin.write(b"go\n")
        process.stdin.close()
    assert [process.wait(timeout=120) for process in processes] == [0, 0, 0, 0]
    seen = []
    for person in people:
        jobs = sorted(store.history.find(employee_id=person, limit=1000), key=lambda j: j.id)
        ids = [delivery_id for job in jobs for delivery_id in job.delivery_ids]
        assert ids == sorted(set(ids)), f"{person}'s deliveries out of order: {ids}"
        seen += ids
    assert sorted(seen) == [d["id"] for d in reversed(store.deliveries.find("acme", limit=1000))]
    store.close()
