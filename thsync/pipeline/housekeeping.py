"""The worker's chores, each on its own cadence rather than once per claimed job: turning
deliveries into jobs, the alert desk, the schedule, and which tenants' jobs must wait (a TH
portal blocked after a 429, a paused tenant).

A worker that runs for good (`run_forever`) has APScheduler run the chores in a thread of their
own, so claiming and running jobs never waits for them and the cost of a job does not grow with
the number of tenants. `drain` (the CLI's `worker --once`, the tests) runs them inline before
each claim instead, so what it sees is always up to date.
"""

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler

from thsync.people.modes import paused_tenants
from thsync.people.scheduler import Ticker

if TYPE_CHECKING:
    from thsync.services import Services

log = logging.getLogger(__name__)
DISPATCH_SECONDS = 0.5  # how soon a stored delivery becomes a job (within COALESCE_SECONDS)
WAITING_SECONDS = 1.0  # how soon a 429 block or a pause is seen by the claim
SCHEDULE_SECONDS = 5.0  # scheduled actions are due to the minute; reconciliations by the hour
ALERTS_SECONDS = 30.0  # the alert desk's own tick (grouped repeats, silence, the outbox)


class Housekeeping:
    def __init__(self, services: "Services") -> None:
        self.services = services
        self.ticker = Ticker(services)
        self._waiting: list[str] = []
        self._lock = threading.Lock()
        self._scheduler: BackgroundScheduler | None = None

    @property
    def in_background(self) -> bool:
        return self._scheduler is not None

    def chores(self) -> list[tuple[str, Callable[[], object], float]]:
        return [
            ("dispatch", self.dispatch, DISPATCH_SECONDS),
            ("alerts", self.services.alert_desk.tick_safely, ALERTS_SECONDS),
            ("schedule", self.ticker.tick, SCHEDULE_SECONDS),
            ("waiting tenants", self.refresh_waiting, WAITING_SECONDS),  # last: nearest the claim
        ]

    def run_all(self) -> None:
        """Every chore now, in this thread (before each claim of `drain`)."""
        for _name, chore, _seconds in self.chores():
            chore()

    def dispatch(self) -> int:
        return self.services.store.jobs.dispatch(self.services.settings["COALESCE_SECONDS"])

    def refresh_waiting(self) -> list[str]:
        """Tenants whose jobs wait: their TH portal is paused after a 429, or support paused
        them. Others go on."""
        blocked = self.services.limiter.blocked_until()
        tenants = self.services.registry.tenants()
        waiting = [t.id for t in tenants if t.th_limiter_key in blocked]
        waiting += paused_tenants(self.services)
        with self._lock:
            self._waiting = waiting
        return waiting

    def waiting_tenants(self) -> list[str]:
        with self._lock:
            return list(self._waiting)

    def start(self) -> None:
        """Run the chores in the background, each at its cadence, one at a time per chore."""
        if self._scheduler is not None:
            return
        self.run_all()  # the first claim sees a fresh picture
        scheduler = BackgroundScheduler(daemon=True)
        for name, chore, seconds in self.chores():
            scheduler.add_job(
                self._safely(name, chore),
                "interval",
                seconds=seconds,
                id=name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
        scheduler.start()
        self._scheduler = scheduler

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None

    @staticmethod
    def _safely(name: str, chore: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            try:
                chore()
            except Exception:  # the database may be briefly away: the next round tries again
                log.exception("housekeeping: %s failed; trying again at its next round", name)

        return run
