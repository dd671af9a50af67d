"""The job state machine, written down once, with the named values it moves between.

A delivery is stored by the intake in one INSERT (the 2xx waits for it and nothing else).
The dispatcher turns accepted deliveries into jobs, in delivery order.

    queued   --claim-->          running   a worker holds a lease (lease_until) on it
    retry    --claim-->          running   same, once run_after has passed
    running  --succeeded-->      succeeded TH in step (created/updated/unchanged/deactivated)
    running  --skipped-->        skipped   a rule said skip, or there was nothing to do
    running  --transient error-> retry     run_after = now + backoff; attempts counted
    running  --rate limited-->   retry     run_after = end of the pause; no attempt spent
    running  --permanent error-> failed    reason kept; never deleted
    running  --attempts spent--> failed    "gave up after N attempts: …"
    running  --lease expired-->  (claimable again: a crashed worker's job is picked up)
    running  --heartbeat-->      running   the worker extends its lease while the job runs
    failed   --retry command-->  queued    support asked to try again
    queued/retry absorb new deliveries for the same employee (coalescing): at most one
    waiting job per employee, enforced by a partial unique index.

Jobs of one employee run in id order and never concurrently: a job is claimable only when no
earlier job of the same employee is still queued, waiting to retry or running. A tenant-wide job
(a reconciliation) has the employee id WHOLE_TENANT, so the same rules keep a tenant's
reconciliations one at a time and at most one waiting.

An attempt row is written when a worker claims the job (RUNNING, no finished_at) and completed
when the attempt ends. If the worker dies mid-attempt, the next claim after its lease ran out
marks that row CUT_OFF: whatever it did before it stopped (a TH write, perhaps) stays visible.
"""

from enum import StrEnum


class DeliveryStatus(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RETRY = "retry"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"
    FAILED = "failed"


WHOLE_TENANT = ""  # the employee id of a tenant-wide job: a reconciliation

WAITING = (JobStatus.QUEUED, JobStatus.RETRY)
UNFINISHED = (JobStatus.QUEUED, JobStatus.RETRY, JobStatus.RUNNING)
FINISHED = (JobStatus.SUCCEEDED, JobStatus.SKIPPED, JobStatus.FAILED)


class AttemptOutcome(StrEnum):
    """How one attempt ended (an attempt row is written when it starts: RUNNING until then)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"
    RETRY = "retry"
    RATE_LIMITED = "rate_limited"
    FAILED = "failed"
    CUT_OFF = "cut_off"  # the worker stopped mid-attempt (killed, or lost its lease)


class Outcome(StrEnum):
    """What a finished job did to the person in TH, as the pages and alerts name it."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DEACTIVATED = "deactivated"
    ALREADY_INACTIVE = "already_inactive"
    SKIPPED = "skipped"
    ABSENT = "absent"  # not in TH, and the rule does not create
    SCHEDULED = "scheduled"  # not in TH until the start date
    HELD = "held"  # a safeguard holds it for support
    SWITCHED_OFF = "switched_off"  # the tenant switched this kind of write off
    NOT_IN_SOURCE = "not_in_eh"  # the HR source no longer shows the person
    SUPERSEDED = "superseded"  # a newer job covers the person
    RECONCILED = "reconciled"  # a tenant-wide job ran the tenant's reconciliation
    WOULD_CREATE = "would_create"  # shadow mode: recorded, not sent
    WOULD_UPDATE = "would_update"
    WOULD_DEACTIVATE = "would_deactivate"
    RETRY = "retry"
    RATE_LIMITED = "rate_limited"
    FAILED = "failed"


SHADOW_OUTCOMES = (Outcome.WOULD_CREATE, Outcome.WOULD_UPDATE, Outcome.WOULD_DEACTIVATE)
