"""Employment Hero as an HR source: the EH client, OAuth and records behind the HRSource seam.

The HTTP calls, their order and their budget are the client's, unchanged: a person is one GET,
their manager a second (when the rules want one), custom fields a third; the organisation comes
from the tenant file or, after connecting, from the stored connection.
"""

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Self

from thsync.core import http
from thsync.core.errors import NotConnected
from thsync.core.ratelimit import Limiter
from thsync.sources.base import EVENT_FIELDS, SourcePerson
from thsync.sources.employment_hero.client import (
    EHClient,
    authorize_url,
    exchange_code,
    make_pkce,
)
from thsync.sources.employment_hero.records import custom_field_values

if TYPE_CHECKING:  # handed in by the layers above
    from thsync.config.tenants import Tenant
    from thsync.rules.ruleset import RuleSet
    from thsync.services import Services

KEY_FIELDS = ("id", "code", "company_email", "account_email")  # what user_name_from may pick


class EmploymentHeroSource:
    """One tenant's Employment Hero; the HTTP client is made on first use."""

    kind = "employment_hero"
    label = "Employment Hero"

    def __init__(
        self,
        services: "Services",
        tenant: "Tenant",
        *,
        recorder: http.Recorder | None = None,
        limiter: Limiter | None = None,
    ) -> None:
        self.services = services
        self.tenant = tenant
        self.recorder = recorder
        self.limiter = limiter or services.limiter
        self._client: EHClient | None = None

    @property
    def budget_key(self) -> str:
        return self.tenant.eh_limiter_key

    @property
    def client(self) -> EHClient:
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def _make_client(self) -> EHClient:
        tenant, settings = self.tenant, self.services.settings
        return EHClient(
            tenant.id,
            api_base=tenant.eh_api_base,
            token_url=tenant.eh_token_url,
            client_id=tenant.eh_client_id,
            client_secret=tenant.eh_client_secret,
            vault=self.services.vault,
            limiter=self.limiter,
            limiter_key=self.budget_key,
            clock=self.services.clock,
            recorder=self.recorder,
            timeout=settings["HTTP_TIMEOUT"],
            per_minute=settings["EH_CALLS_PER_MINUTE"],
            per_second=settings["EH_CALLS_PER_SECOND"],
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._client is not None:
            self._client.close()

    # -- webhooks: read with the ruleset's `intake` expressions --------------------------------

    def read_event(self, ruleset: "RuleSet", body: dict[str, Any]) -> dict[str, Any]:
        values = ruleset.read_intake(body)
        return {name: values.get(name) for name in EVENT_FIELDS}

    def event_field(self, ruleset: "RuleSet", name: str) -> str:
        return ruleset.intake_source(name)

    def event_person(self, body: dict[str, Any]) -> dict[str, Any]:
        return body.get("data") or {}

    # -- people ------------------------------------------------------------------------------

    def organisation(self) -> str:
        """The tenant file's org UUID wins; otherwise the one found after connecting."""
        if self.tenant.eh_org_uuid:
            return self.tenant.eh_org_uuid
        connection = self.services.store.connections.get(self.tenant.id) or {}
        if connection.get("org_uuid"):
            return connection["org_uuid"]
        raise NotConnected(
            f"tenant {self.tenant.id} has no Employment Hero organisation yet: connect and pick one"
        )

    def get_person(self, person_id: str) -> dict[str, Any] | None:
        return self.client.get_employee(self.organisation(), person_id)

    def get_manager(self, person: dict[str, Any]) -> dict[str, Any] | None:
        manager_id = self.identify(person).manager_id
        if not manager_id:
            return None
        return self.client.get_employee(self.organisation(), manager_id)

    def custom_fields(self, person_id: str) -> dict[str, Any]:
        return custom_field_values(self.client.custom_fields(self.organisation(), person_id))

    def iter_people(self) -> Iterator[dict[str, Any]]:
        return self.client.iter_employees(self.organisation())

    def identify(self, person: dict[str, Any]) -> SourcePerson:
        names = (person.get("first_name"), person.get("last_name"))
        return SourcePerson(
            id=person.get("id"),
            manager_id=(person.get("primary_manager") or {}).get("id"),
            name=" ".join(part for part in names if part),
            keys=tuple(person[name] for name in KEY_FIELDS if person.get(name)),
        )

    def why_absent(self, person_id: str) -> str:
        return (
            f"Employment Hero has no employee {person_id} visible to the connected "
            "account (deleted, or outside that user's rights)"
        )

    # -- connecting: OAuth 2.0 with PKCE -------------------------------------------------------

    def connect_url(self, redirect_uri: str, state: str) -> tuple[str, str]:
        verifier, challenge = make_pkce()
        tenant = self.tenant
        url = authorize_url(
            tenant.eh_authorize_url, tenant.eh_client_id, redirect_uri, state, challenge
        )
        return url, verifier

    def complete_connection(
        self, redirect_uri: str, code: str, secret: str
    ) -> list[dict[str, Any]]:
        """Exchange the code, store the tokens encrypted, and record who authorised and which
        organisations they belong to."""
        tenant, services = self.tenant, self.services
        tokens = exchange_code(
            tenant.eh_token_url,
            tenant.eh_client_id,
            tenant.eh_client_secret,
            redirect_uri,
            code,
            secret,
            clock=services.clock,
        )
        services.vault.save(tenant.id, tokens)
        return self.record_authoriser()

    def record_authoriser(self) -> list[dict[str, Any]]:
        """Read /user_info: who authorised (shown on the dashboard) and their organisations;
        with exactly one organisation its UUID is the tenant's, found for the customer."""
        info = self.client.user_info()
        organisations = [
            {
                "id": m.get("organisation_id"),
                "name": m.get("organisation_name"),
                "role": m.get("role"),
            }
            for m in info.get("memberships") or []
            if m.get("organisation_id")
        ]
        values: dict[str, Any] = {"authorised_by": info}
        if len(organisations) == 1:
            values["org_uuid"] = organisations[0]["id"]
        self.services.store.connections.save(self.tenant.id, **values)
        return organisations
