"""The worker: claim a job, run it, record the attempt, move the job on.

In development it runs as a thread inside the server; in production as `flask --app server
worker`, as many processes as you like (the store makes claims safe and keeps each employee's
jobs in order; the limiter keeps all processes inside the TH and EH budgets).
"""

import logging
import os
import random
import socket
import threading
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING

from thsync.core.calls import CallLog
from thsync.core.errors import SyncError
from thsync.pipeline.housekeeping import Housekeeping
from thsync.pipeline.job import Result, run_job
from thsync.pipeline.lease import Heartbeat
from thsync.pipeline.reconciliation import run_reconciliation_job
from thsync.pipeline.retry import RetryPolicy, next_step
from thsync.store.jobs import Job
from thsync.store.states import WHOLE_TENANT, AttemptOutcome, JobStatus, Outcome

if TYPE_CHECKING:  # handed in by the composition root, which starts the worker
    from thsync.services import Services

log = logging.getLogger(__name__)
KEEPS_FAILING_AFTER = 3  # attempts; the tenant's alert recipients hear of it then


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class Worker:
    def __init__(
        self,
        services: "Services",
        name: str | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.services = services
        self.name = name or worker_name()
        self.rand = rand
        settings = services.settings
        self.policy = RetryPolicy(
            max_attempts=settings["MAX_ATTEMPTS"], max_delay=settings["RETRY_MAX_MINUTES"] * 60
        )
        self.lease = settings["LEASE_SECONDS"]
        self.housekeeping = Housekeeping(services)  # dispatch, schedule, alerts, who waits

    def run_once(self, ignore_run_after: bool = False) -> Job | None:
        """Claim and run one job. Without housekeeping in the background (drain), its chores
        run first, so the claim sees every delivery stored so far."""
        if not self.housekeeping.in_background:
            self.housekeeping.run_all()
        job = self.services.store.jobs.claim(
            self.name,
            self.lease,
            exclude_tenants=self.housekeeping.waiting_tenants(),
            ignore_run_after=ignore_run_after,
        )
        if job is None:
            return None
        self._run(job)
        return job

    def _run(self, job: Job) -> None:
        """The claim started the attempt row; the heartbeat keeps the lease while the job runs
        (it stops before the job is moved on, so it never mistakes that for a takeover)."""
        calls = CallLog(self.services.clock)
        try:
            with Heartbeat(self.services.store.jobs, job, self.lease):
                result = self._perform(job, calls)
        except Exception as exc:  # every failure is classified, recorded and rescheduled
            self._fail(job, exc, calls)
            return
        self._complete(job, result, calls)

    def _perform(self, job: Job, calls: CallLog) -> Result:
        if job.employee_id == WHOLE_TENANT:
            return run_reconciliation_job(job, self.services)
        return run_job(job, self.services, calls)

    def _complete(self, job: Job, result: Result, calls: CallLog) -> None:
        failed = result.status == JobStatus.FAILED  # a reconciliation that failed is not retried
        self.services.store.jobs.record_attempt(
            job,
            outcome=result.status,
            error=result.reason if failed else None,
            decision=result.decision,
            calls=calls.calls,
        )
        self.services.store.jobs.finish(
            job,
            status=result.status,
            outcome=result.outcome,
            reason=result.reason,
            error=result.reason if failed else None,
            decision=result.decision,
        )
        log.info("job %s %s: %s (%s)", job.id, result.status, result.outcome, result.reason)

    def _fail(self, job: Job, exc: Exception, calls: CallLog) -> None:
        step = next_step(self.policy, job.attempts, exc, self.rand())
        error = f"{type(exc).__name__}: {exc}"
        if not hasattr(exc, "service"):
            log.error("job %s crashed:\n%s", job.id, traceback.format_exc())
        decision = exc.decision if isinstance(exc, SyncError) else None  # a crash has none
        outcome = {
            "wait": AttemptOutcome.RATE_LIMITED,
            "retry": AttemptOutcome.RETRY,
            "fail": AttemptOutcome.FAILED,
        }[step.action]
        store = self.services.store
        store.jobs.record_attempt(
            job, outcome=outcome, error=error, decision=decision, calls=calls.calls
        )
        if step.action == "fail":
            store.jobs.finish(
                job,
                status=JobStatus.FAILED,
                outcome=Outcome.FAILED,
                reason=step.reason,
                error=error,
                decision=decision,
            )
            log.warning("job %s failed: %s", job.id, step.reason)
            self.services.alert_failure(job, step.reason)
            return
        store.jobs.finish(
            job,
            status=JobStatus.RETRY,
            outcome=outcome,
            reason=step.reason,
            error=error,
            decision=decision,
            run_after=self.services.clock.now() + step.delay,
            refund_attempt=step.action == "wait",
        )
        log.info("job %s will run again in %.0f s: %s", job.id, step.delay, step.reason)
        if job.attempts == KEEPS_FAILING_AFTER:  # say so long before the attempts run out
            reason = f"still failing after {job.attempts} attempts, and retrying: {step.reason}"
            self.services.alert_failure(job, reason)

    def drain(self, max_jobs: int = 10_000, ignore_run_after: bool = True) -> int:
        """Run jobs until none is runnable (tests, CLI `worker --once`)."""
        done = 0
        while done < max_jobs and self.run_once(ignore_run_after=ignore_run_after):
            done += 1
        return done

    def run_forever(self, stop: threading.Event) -> None:
        """Claim and run jobs until stopped; the chores run beside, each at its own cadence."""
        poll = self.services.settings["WORKER_POLL_SECONDS"]
        self._start_housekeeping(stop, poll)
        try:
            while not stop.is_set():
                try:
                    if self.run_once() is None:
                        stop.wait(poll)
                except Exception:  # the database may be briefly away; keep the loop alive
                    log.exception("worker loop error; retrying in %s s", poll)
                    stop.wait(poll)
        finally:
            self.housekeeping.stop()

    def _start_housekeeping(self, stop: threading.Event, poll: float) -> None:
        while not stop.is_set():
            try:
                self.housekeeping.start()
                return
            except Exception:  # the database is away at start-up: wait for it
                log.exception("could not start housekeeping; retrying in %s s", poll)
                stop.wait(poll)


def start_thread(services: "Services") -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    worker = Worker(services)
    thread = threading.Thread(target=worker.run_forever, args=(stop,), name="worker", daemon=True)
    thread.start()
    return thread, stop
