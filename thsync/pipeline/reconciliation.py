"""A tenant-wide job: the tenant's reconciliation, scheduled or asked for with "Reconcile now".

It is claimed like any other job, so it holds a lease with a heartbeat, runs on whichever
worker is free, and the job ordering keeps a tenant's reconciliations one at a time (at most
one waiting, more requests join it). Its drift report is the reconciliation's own record; the
job says how it went and links the two. A failure is not retried: it is recorded, and the next
periodic run is planned, whatever happened.
"""

import logging
from typing import TYPE_CHECKING

from thsync.core.errors import AlreadyReconciling
from thsync.people.reconcile import reconcile
from thsync.people.scheduler import plan_next_reconciliation
from thsync.pipeline.job import Result
from thsync.store.jobs import Job
from thsync.store.states import JobStatus, Outcome

if TYPE_CHECKING:  # handed in by the worker
    from thsync.services import Services

log = logging.getLogger(__name__)


def run_reconciliation_job(job: Job, services: "Services") -> Result:
    """Never raises: the outcome of the run is the job's."""
    try:
        done = reconcile(services, job.tenant_id, trigger="schedule")
    except AlreadyReconciling as exc:  # one from the CLI is bringing TH in line already
        return Result(JobStatus.SKIPPED, Outcome.SKIPPED, str(exc), {"action": "reconcile"})
    except Exception as exc:  # recorded with the run; the next one is planned below
        log.exception("reconciliation of %s failed", job.tenant_id)
        reason = f"the reconciliation failed: {type(exc).__name__}: {exc}"
        return Result(JobStatus.FAILED, Outcome.FAILED, reason, {"action": "reconcile"})
    finally:
        plan_next_reconciliation(services, job.tenant_id)
    reason = describe_run(done["id"], done["summary"])
    decision = {"action": "reconcile", "reason": reason, "reconciliation": done["id"]}
    return Result(JobStatus.SUCCEEDED, Outcome.RECONCILED, reason, decision)


def describe_run(rec_id: int, summary: dict[str, int]) -> str:
    counts = ", ".join(f"{name} {n}" for name, n in summary.items() if n)
    return f"reconciliation #{rec_id}: {counts or 'nothing to do'}"
