"""A running job keeps its lease: a heartbeat thread extends it every third of LEASE_SECONDS
until the job ends, so a job that runs longer than its lease (a slow TH answer, a
reconciliation of thousands) is never taken over by another worker while this one lives.

A thread rather than an extension between HTTP calls: one call may hang for HTTP_TIMEOUT, a
reconciliation waits for budget slots and TH pauses without calling anyone, and judging every
person calls nobody either; the thread beats whatever the job is doing. It waits in real time
(not on the services' clock, which tests move by hand): leases guard against real stalls.
"""

import logging
import threading

from thsync.store.jobs import Job, Jobs

log = logging.getLogger(__name__)


class Heartbeat:
    """`with Heartbeat(jobs, job, lease):` around a job's run. If another worker took the job
    over meanwhile (this one's lease had run out), the beat stops and finish() is refused."""

    def __init__(self, jobs: Jobs, job: Job, lease_seconds: float) -> None:
        self.jobs, self.job, self.lease = jobs, job, lease_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{job.id}", daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.lease / 3):
            try:
                held = self.jobs.extend_lease(self.job, self.lease)
            except Exception:  # the database may be briefly away: try again at the next beat
                log.exception("job %s: could not extend its lease", self.job.id)
                continue
            if not held:
                log.warning(
                    "job %s: another worker took it over; this one can no longer finish it",
                    self.job.id,
                )
                return
