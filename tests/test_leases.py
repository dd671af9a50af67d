"""Leases in real time, against both sandboxes over real HTTP: the heartbeat keeps a job that
outlasts its lease with its worker, and a worker process killed mid-attempt leaves that attempt
on record, marked cut off, for the worker that takes the job over."""

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.auth_helpers import support_client
from tests.fixtures_app import CLIENT_SECRET, REPO, TH_KEY, TOKEN
from thsync.core.clock import SystemClock
from thsync.pipeline.worker import Worker
from thsync.store.states import AttemptOutcome, JobStatus

LEASE = 2.0  # seconds: a heartbeat every 0.67 s
JORDAN = "a1e2c3d4-0000-4000-8000-000000000042"


@pytest.fixture
def clock():
    return SystemClock()  # a lease must run out by itself here, as in production


@pytest.fixture
def extra_settings():
    return {"LEASE_SECONDS": LEASE}


def store_of(app):
    return app.extensions["thsync"].store


def slow_th(sandboxes, method: str, path: str, seconds: float) -> None:
    fault = {"kind": "slow", "method": method, "path": path, "delay": seconds}
    sandboxes.th_admin("POST", "/_admin/faults", fault)


def running_job(store, worker_prefix: str):
    jobs = store.history.find(status=JobStatus.RUNNING)
    return next((j for j in jobs if (j.worker or "").startswith(worker_prefix)), None)


def test_a_job_that_outlasts_its_lease_is_not_taken_by_another_worker(connected, fire, sandboxes):
    services, store = connected.extensions["thsync"], store_of(connected)
    slow_th(sandboxes, "POST", "/papi/users", 2.5 * LEASE)  # answers 2.5 leases later
    fire("employee_created", JORDAN)
    first = Worker(services, name="first", rand=lambda: 0.5)
    second = Worker(services, name="second", rand=lambda: 0.5)
    runner = threading.Thread(target=first.run_once, kwargs={"ignore_run_after": True})
    runner.start()
    while running_job(store, "first") is None:
        assert runner.is_alive()
        time.sleep(0.02)
    taken = []
    while runner.is_alive():  # the second worker keeps trying the whole time
        taken.append(second.run_once(ignore_run_after=True))
        time.sleep(0.05)
    runner.join()
    assert [job for job in taken if job is not None] == []
    [job] = store.history.find()
    assert (job.status, job.outcome, job.attempts) == ("succeeded", "created", 1)
    [attempt] = store.history.attempts(job.id)
    assert (attempt["worker"], attempt["outcome"]) == ("first", AttemptOutcome.SUCCEEDED)
    assert attempt["finished_at"] - attempt["started_at"] > LEASE  # it did outlast its lease


def test_extend_lease_says_whether_the_worker_still_holds_the_job(connected, fire):
    store = store_of(connected)
    fire("employee_created", JORDAN)
    store.jobs.dispatch(0)
    job = store.jobs.claim("first", LEASE, ignore_run_after=True)
    assert store.jobs.extend_lease(job, LEASE) is True
    while (taken := store.jobs.claim("second", 60)) is None:
        time.sleep(0.05)  # until the first worker's lease runs out
    assert store.jobs.extend_lease(job, LEASE) is False
    assert store.jobs.extend_lease(taken, 60) is True


def worker_process(connected, tmp_path) -> subprocess.Popen:
    """`flask --app server worker` in a process of its own, on the test's database and files."""
    settings = connected.extensions["thsync"].settings
    names = ("DATABASE_URL", "INSTANCE_PATH", "RULES_DIR", "TENANTS_DIR", "PUBLIC_URL")
    env = {**os.environ, **{name: str(settings[name]) for name in names}}
    env.update(
        ACME_EH_CLIENT_SECRET=CLIENT_SECRET,
        ACME_TH_API_KEY=TH_KEY,
        ACME_WEBHOOK_TOKEN=TOKEN,
        LEASE_SECONDS=str(LEASE),
        COALESCE_SECONDS="0",
        RELOAD_SECONDS="0",
        WORKER_POLL_SECONDS="0.05",
        THSYNC_ENCRYPTION_KEY="",  # the development key in INSTANCE_PATH reads the tokens
    )
    command = [sys.executable, "-m", "flask", "--app", "server", "worker"]
    with open(tmp_path / "worker.log", "w") as log:  # the process keeps its own copy open
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_for_its_attempt(store, process, tmp_path):
    prefix = f"{socket.gethostname()}:{process.pid}:"
    while (job := running_job(store, prefix)) is None:
        assert process.poll() is None, (tmp_path / "worker.log").read_text()
        time.sleep(0.02)
    return job


def test_an_attempt_cut_off_by_a_killed_worker_stays_on_record(
    connected, fire, sandboxes, tmp_path
):
    services, store = connected.extensions["thsync"], store_of(connected)
    slow_th(sandboxes, "GET", f"/papi/users/{JORDAN}", 5.0)  # holds it mid-attempt
    fire("employee_created", JORDAN)
    process = worker_process(connected, tmp_path)
    try:
        job = wait_for_its_attempt(store, process, tmp_path)
        [started] = store.history.attempts(job.id)
        assert (started["outcome"], started["finished_at"]) == (AttemptOutcome.RUNNING, None)
    finally:
        process.kill()  # SIGKILL: no clean-up of any kind
        process.wait()

    second = Worker(services, name="second", rand=lambda: 0.5)
    while second.run_once(ignore_run_after=True) is None:
        time.sleep(0.05)  # until the killed worker's lease runs out

    finished = store.history.get(job.id)
    assert (finished.status, finished.outcome, finished.attempts) == ("succeeded", "created", 2)
    cut_off, succeeded = store.history.attempts(job.id)
    assert (cut_off["number"], cut_off["worker"]) == (1, job.worker)
    assert cut_off["outcome"] == AttemptOutcome.CUT_OFF
    assert cut_off["error"].startswith(f"the worker {job.worker} stopped mid-attempt")
    assert cut_off["finished_at"] is not None
    assert (succeeded["number"], succeeded["worker"]) == (2, "second")
    assert succeeded["outcome"] == AttemptOutcome.SUCCEEDED
    assert JORDAN in sandboxes.th_users()

    support = support_client(connected)
    event = support.get(f"/tenants/acme/events/{job.id}.json").get_json()
    assert [a["outcome"] for a in event["attempts"]] == ["cut_off", "succeeded"]
    page = support.get(f"/tenants/acme/events/{job.id}").get_data(as_text=True)
    assert "Attempt 1 ·" in page and "· cut_off ·" in page
    assert f"the worker {job.worker} stopped mid-attempt" in page
