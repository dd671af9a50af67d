"""Every repository of the store, built once over one Database (Services holds one Store)."""

from thsync.core.clock import Clock
from thsync.store.access import Access
from thsync.store.alerts import Alerts
from thsync.store.budgets import Budgets
from thsync.store.connections import Connections
from thsync.store.database import Database
from thsync.store.deliveries import Deliveries
from thsync.store.history import History
from thsync.store.holds import Holds
from thsync.store.jobs import Jobs
from thsync.store.outbox import Outbox
from thsync.store.people import People
from thsync.store.reconciliations import Reconciliations
from thsync.store.schedule import Schedule
from thsync.store.tenant_state import TenantState


class Store:
    def __init__(self, url: str, clock: Clock | None = None):
        self.db = Database(url, clock)
        self.clock = self.db.clock
        self.deliveries = Deliveries(self.db)
        self.jobs = Jobs(self.db, self.deliveries)
        self.history = History(self.db)
        self.people = People(self.db)
        self.connections = Connections(self.db)
        self.budgets = Budgets(self.db)
        self.schedule = Schedule(self.db, self.jobs)
        self.reconciliations = Reconciliations(self.db)
        self.holds = Holds(self.db)
        self.access = Access(self.db)
        self.tenant_state = TenantState(self.db)
        self.alerts = Alerts(self.db)
        self.outbox = Outbox(self.db)

    def upgrade(self) -> list[str]:
        return self.db.upgrade()

    def schema_revision(self) -> str | None:
        return self.db.schema_revision()

    def write_revision(self, message: str, autogenerate: bool = True) -> str | None:
        return self.db.write_revision(message, autogenerate)

    def close(self) -> None:
        self.deliveries.close()
        self.db.dispose()
