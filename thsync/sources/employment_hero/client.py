"""Employment Hero REST API client for one tenant.

Only this module (with thsync.eh_oauth) speaks HTTP to Employment Hero. Every call takes a slot
from the shared limiter first (EH allows 100/min per token; we stay at 90), carries a fresh
access token (refreshed a minute before expiry, one refresh per tenant at a time through the
vault's lock) and is reported to the recorder without token values.
"""

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests

from thsync.core import http
from thsync.core.clock import Clock
from thsync.core.errors import (
    NeedsReauthorisation,
    NotConnected,
    PermanentError,
    RateLimited,
    TransientError,
)
from thsync.sources.employment_hero.oauth import (
    SERVICE,
    Tokens,
    authorize_url,
    exchange_code,
    json_body,
    make_pkce,
    refresh_tokens,
    retry_after,
    send_recorded,
    token_excerpt,
)

if TYPE_CHECKING:  # the vault imports Tokens from here
    from thsync.core.ratelimit import Limiter
    from thsync.sources.employment_hero.tokens import TokenVault

__all__ = [
    "EHClient",
    "Tokens",
    "authorize_url",
    "exchange_code",
    "make_pkce",
    "refresh_tokens",
]

REFRESH_MARGIN = 60.0  # seconds before expiry: a token must not lapse between check and call
MAX_PAGE_SIZE = 100
FORBIDDEN = (
    "Employment Hero refused {what} (HTTP 403): the API application lacks the scope for it "
    "(insufficient_scope), or the EH user who authorised the connection may not see it."
)


class EHClient(http.SessionOwner):
    """Read-only access to one tenant's Employment Hero data."""

    def __init__(
        self,
        tenant_id: str,
        *,
        api_base: str,
        token_url: str,
        client_id: str,
        client_secret: str,
        vault: "TokenVault",
        limiter: "Limiter",
        limiter_key: str,
        clock: Clock,
        recorder: http.Recorder | None = None,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        per_minute: int = 95,
        per_second: int | None = 18,
    ) -> None:
        self.tenant_id = tenant_id
        self.api_base = api_base.rstrip("/")
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.vault = vault
        self.limiter = limiter
        self.limiter_key = limiter_key
        self.clock = clock
        self.recorder = recorder
        self.session = session or requests.Session()
        self.timeout = timeout
        self.per_minute = per_minute
        self.per_second = per_second  # EH counts a second's calls too (20/s)

    # -- the API ----------------------------------------------------------------------------

    def user_info(self) -> dict[str, Any]:
        """Who authorised the connection, with their memberships (organisation ids)."""
        return self._get("/user_info", what="user_info")

    def organisations(self) -> list[dict[str, Any]]:
        return list(self._iter_pages("/organisations", what="the organisation list"))

    def organisation(self, org: str) -> dict[str, Any] | None:
        return self._get(f"/organisations/{_seg(org)}", what=f"organisation {org}", allow_404=True)

    def get_employee(self, org: str, employee_id: str) -> dict[str, Any] | None:
        """The employee, or None when EH has no such employee (or the token cannot see them)."""
        path = f"/organisations/{_seg(org)}/employees/{_seg(employee_id)}"
        return self._get(path, what=f"employee {employee_id}", allow_404=True)

    def iter_employees(
        self, org: str, item_per_page: int = MAX_PAGE_SIZE
    ) -> Iterator[dict[str, Any]]:
        """Every employee of the organisation, a page at a time (EH has no "changed since")."""
        path = f"/organisations/{_seg(org)}/employees"
        yield from self._iter_pages(path, what="the employee list", item_per_page=item_per_page)

    def custom_fields(self, org: str, employee_id: str) -> list[dict[str, Any]]:
        """The employee's custom field items; [] when the employee is gone."""
        path = f"/organisations/{_seg(org)}/employees/{_seg(employee_id)}/custom_fields"
        what = f"the custom fields of employee {employee_id}"
        return list(self._iter_pages(path, what=what, allow_404=True))

    def teams(self, org: str) -> list[dict[str, Any]]:
        return list(self._iter_pages(f"/organisations/{_seg(org)}/teams", what="the team list"))

    # -- pages and requests -----------------------------------------------------------------

    def _iter_pages(
        self,
        path: str,
        *,
        what: str,
        item_per_page: int = MAX_PAGE_SIZE,
        allow_404: bool = False,
    ) -> Iterator[dict[str, Any]]:
        page, total_pages = 1, 1
        size = max(1, min(item_per_page, MAX_PAGE_SIZE))
        while page <= total_pages:
            params = {"page_index": page, "item_per_page": size}
            data = self._get(path, params, what=what, allow_404=allow_404)
            items = (data or {}).get("items") or []
            yield from items
            total_pages = int(data.get("total_pages") or 0) if items else 0
            page += 1

    def _get(
        self, path: str, params: dict[str, Any] | None = None, *, what: str, allow_404: bool = False
    ) -> Any:
        """GET and unwrap {"data": …}; on a 401 refresh once and try again."""
        token = self._access_token()
        response = self._send(path, params, token)
        if response.status_code == 401:
            response = self._send(path, params, self._force_refresh(token))
        if response.status_code == 404 and allow_404:
            return None
        self._raise_for_status(response, what)
        return _unwrap(json_body(response))

    def _send(self, path: str, params: dict[str, Any] | None, token: str) -> requests.Response:
        self.limiter.acquire(self.limiter_key, self.per_minute, self.per_second)
        return send_recorded(
            self.session,
            "GET",
            self.api_base + path,
            recorder=self.recorder,
            timeout=self.timeout,
            params=params,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )

    def _raise_for_status(self, response: requests.Response, what: str) -> None:
        status = response.status_code
        if status < 400:
            return
        body = token_excerpt(response)
        fields: dict[str, Any] = {"service": SERVICE, "status": status, "body": body}
        if status == 429:
            seconds = retry_after(response)
            self.limiter.block(self.limiter_key, seconds)
            message = f"Employment Hero rate limit hit on {what}: waiting {seconds:.0f} s."
            raise RateLimited(message, retry_after=seconds, **fields)
        if status >= 500:
            raise TransientError(f"Employment Hero failed with HTTP {status} on {what}.", **fields)
        raise PermanentError(_refusal(status, what, body), **fields)

    # -- tokens -----------------------------------------------------------------------------

    def _access_token(self) -> str:
        tokens = self.vault.load(self.tenant_id)
        if tokens is None:
            raise NotConnected(service=SERVICE)
        if self._needs_refresh(tokens):
            tokens = self._refresh_locked(self._needs_refresh)
        return tokens.access_token

    def _force_refresh(self, rejected_token: str) -> str:
        """After a 401: refresh, unless another worker already replaced the rejected token."""

        def still_rejected(tokens: Tokens) -> bool:
            return tokens.access_token == rejected_token or self._needs_refresh(tokens)

        return self._refresh_locked(still_rejected).access_token

    def _needs_refresh(self, tokens: Tokens) -> bool:
        return tokens.expires_at - REFRESH_MARGIN <= self.clock.now()

    def _refresh_locked(self, needs_refresh: Callable[[Tokens], bool]) -> Tokens:
        try:
            tokens = self.vault.refresh_locked(self.tenant_id, self._refresh, needs_refresh)
        except NeedsReauthorisation as exc:
            self.vault.mark_needs_reauth(self.tenant_id, str(exc))
            raise
        if tokens is None:  # disconnected by someone else while we waited for the lock
            raise NotConnected(service=SERVICE)
        return tokens

    def _refresh(self, tokens: Tokens) -> Tokens:
        return refresh_tokens(
            self.token_url,
            self.client_id,
            self._client_secret,
            tokens,
            clock=self.clock,
            session=self.session,
            timeout=self.timeout,
            recorder=self.recorder,
        )


def _refusal(status: int, what: str, excerpt: str) -> str:
    if status == 401:
        return f"Employment Hero refused a freshly refreshed access token on {what} (HTTP 401)."
    if status == 403:
        return FORBIDDEN.format(what=what)
    if status == 404:
        return f"Employment Hero found nothing for {what} (HTTP 404): is the organisation right?"
    return f"Employment Hero refused {what} (HTTP {status}): {excerpt[:200] or 'no message'}"


def _seg(value: str) -> str:
    return quote(str(value), safe="")


def _unwrap(body: dict[str, Any]) -> Any:
    return body.get("data", body)
