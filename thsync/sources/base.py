"""The seam between the sync and an HR system: what the pipeline, the rules engine, the people
lifecycle and the web need from a source of people, and nothing of how it is reached.

A source is opened per tenant (and per job or run) by the factory its kind registers in
thsync.sources.registry. Opening one must be cheap: the webhook intake opens one per delivery
to read the body, so an adapter makes its HTTP client on first use.

Records are the source's own (the rules read them as `employee`, `manager`, `custom_fields`):
the seam does not reshape them, but `identify` says which parts are the person's id, their
manager's id, their name and the values a TH user_name may be built from, so reconciliation can
work with any source's records.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

if TYPE_CHECKING:  # the rules are handed in; a source imports nothing of them
    from thsync.rules.ruleset import RuleSet

# What `read_event` returns: the intake stores these with every delivery.
EVENT_FIELDS = ("event_type", "event_id", "employee_id", "organisation_id")


@dataclass(frozen=True)
class SourcePerson:
    """Who a source record is, as reconciliation needs to know it."""

    id: str | None
    manager_id: str | None = None
    name: str = ""
    keys: tuple[str, ...] = field(default=())  # values a TH user_name could hold for this person


@runtime_checkable
class HRSource(Protocol):
    """One tenant's HR system, opened for one job, run or page view."""

    kind: str  # the registry name, as tenant files write it (employment_hero)
    label: str  # how messages name it (Employment Hero)

    @property
    def budget_key(self) -> str:
        """The rate-limiter key every call for this tenant takes a slot from."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: object) -> None: ...

    # -- webhooks ------------------------------------------------------------------------

    def read_event(self, ruleset: "RuleSet", body: dict[str, Any]) -> dict[str, Any]:
        """EVENT_FIELDS from a webhook body (None for any it does not hold); never raises."""
        ...

    def event_field(self, ruleset: "RuleSet", name: str) -> str:
        """Where `name` is read from in a body, for messages ("no employee id at data.id")."""
        ...

    def event_person(self, body: dict[str, Any]) -> dict[str, Any]:
        """The person a webhook body carries itself, for rules that fetch nothing."""
        ...

    # -- people --------------------------------------------------------------------------

    def organisation(self) -> str:
        """The tenant's organisation in the source; raises NotConnected before connecting."""
        ...

    def get_person(self, person_id: str) -> dict[str, Any] | None:
        """The person's record, or None when the source has (or shows) no such person."""
        ...

    def get_manager(self, person: dict[str, Any]) -> dict[str, Any] | None:
        """The record of the person's manager, or None when they have none."""
        ...

    def custom_fields(self, person_id: str) -> dict[str, Any]:
        """The person's custom fields as {name: value}."""
        ...

    def iter_people(self) -> Iterator[dict[str, Any]]:
        """Everyone in the organisation, read a page at a time."""
        ...

    def identify(self, person: dict[str, Any]) -> SourcePerson:
        """The id, manager id, name and user_name candidates of one record."""
        ...

    def why_absent(self, person_id: str) -> str:
        """The reason a job gives when get_person found nobody."""
        ...

    # -- connecting ----------------------------------------------------------------------

    def connect_url(self, redirect_uri: str, state: str) -> tuple[str, str]:
        """(where to send the customer to authorise, the secret to keep until they return)."""
        ...

    def complete_connection(
        self, redirect_uri: str, code: str, secret: str
    ) -> list[dict[str, Any]]:
        """Finish authorising with the code from the redirect; returns the organisations the
        authorising user may pick from ({id, name, role})."""
        ...
