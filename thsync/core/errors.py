"""Errors that cross module boundaries.

Each class's docstring is its message when raised without arguments. The worker maps
them onto the job state machine: TransientError → retry with backoff, RateLimited →
reschedule without spending an attempt, PermanentError → failed at once,
NeedsReauthorisation → failed and the tenant marked for re-authorisation. A SyncError raised
inside a job carries the job's decision (as stored), so the failed job shows what was rendered.

DomainError and its kinds are what support's requests may run into (an unknown tenant, a hold
already decided): the CLI reports those and nothing else, so a real bug is never dressed up as
one.
"""

from typing import Any, Self


class SyncError(Exception):
    """The sync failed."""

    def __init__(
        self,
        message: str | None = None,
        *,
        service: str | None = None,
        status: int | None = None,
        body: str | None = None,
        decision: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message or self.__doc__)
        self.service = service  # "eh" or "th"
        self.status = status  # HTTP status, when there was a response
        self.body = body  # response excerpt (already truncated), when there was one
        self.decision: dict[str, Any] | None = decision  # the job's decision (Decision.as_dict())

    def with_decision(self, decision: dict[str, Any]) -> Self:
        """The same error, now carrying the decision of the job it stopped."""
        self.decision = decision
        return self


class TransientError(SyncError):
    """A temporary failure (timeout, connection error or 5xx): it will be retried."""


class RateLimited(SyncError):
    """The service asked us to slow down (429): the job waits and is tried again."""

    def __init__(
        self, message: str | None = None, *, retry_after: float = 60.0, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class PermanentError(SyncError):
    """The request cannot succeed as it is (validation error, clash, missing field)."""


class NeedsReauthorisation(SyncError):
    """Employment Hero refused the stored refresh token: the customer must connect again."""


class NotConnected(SyncError):
    """This tenant has not connected Employment Hero yet."""


class ConfigError(Exception):
    """A tenant or rule file is invalid."""


class UnknownSource(ConfigError):
    """A tenant file names an HR source this server does not know."""


class DomainError(Exception):
    """Support asked for something that cannot be done as asked."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)


class UnknownTenant(DomainError):
    """There is no such tenant (or its file does not load)."""


class UnknownMode(DomainError):
    """A tenant's mode is shadow, live or paused."""


class HoldNotOpen(DomainError):
    """The hold does not exist or was already decided."""


class AlreadyReconciling(DomainError):
    """Another reconciliation of this tenant is running: try again when it has finished."""
