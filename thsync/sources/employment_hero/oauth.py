"""Employment Hero OAuth 2.0: PKCE, the authorise address and the token endpoint.

EH allows only the authorization-code grant with PKCE (S256) and takes no `scope` parameter
(scopes are fixed when the customer creates the API application). Access tokens live 15
minutes; a refresh may rotate the refresh token, so the newest one must always be kept.
Token values never reach a message, a repr or the recorder.
"""

import base64
import hashlib
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from thsync.core import http
from thsync.core.clock import Clock
from thsync.core.errors import NeedsReauthorisation, PermanentError, RateLimited, TransientError

SERVICE = "eh"
EXCERPT_CHARS = 500
DEFAULT_RETRY_AFTER = 60.0
SECRET_KEYS = ("access_token", "refresh_token", "id_token")


@dataclass
class Tokens:
    """One tenant's EH tokens; repr hides the token values so they cannot leak into logs."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float  # epoch seconds


def make_pkce() -> tuple[str, str]:
    """A fresh (verifier, challenge) pair: a 64-character verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)  # 48 random bytes -> 64 URL-safe characters
    return verifier, challenge_for(verifier)


def challenge_for(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(
    authorize_endpoint: str, client_id: str, redirect_uri: str, state: str, challenge: str
) -> str:
    """Where to send the customer's browser to approve access (no scope: EH rejects it)."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{authorize_endpoint}{'&' if '?' in authorize_endpoint else '?'}{query}"


def exchange_code(
    token_url: str,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    code: str,
    verifier: str,
    *,
    clock: Clock,
    session: requests.Session | None = None,
    timeout: float = 10,
    recorder: http.Recorder | None = None,
) -> Tokens:
    """Trade the code from the redirect for the first tokens."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "client_secret": client_secret,
        "code_verifier": verifier,
    }
    body = _post_token_form(token_url, form, session, timeout, recorder, "the authorisation code")
    return _tokens_from(body, clock, previous_refresh_token=None)


def refresh_tokens(
    token_url: str,
    client_id: str,
    client_secret: str,
    tokens: Tokens,
    *,
    clock: Clock,
    session: requests.Session | None = None,
    timeout: float = 10,
    recorder: http.Recorder | None = None,
) -> Tokens:
    """New tokens for old. Raises NeedsReauthorisation on invalid_grant; a network error or
    5xx raises TransientError, so the caller keeps the stored tokens and tries again later."""
    form = {
        "grant_type": "refresh_token",
        "refresh_token": tokens.refresh_token,
        "client_id": client_id,
        "client_secret": client_secret,
    }
    body = _post_token_form(token_url, form, session, timeout, recorder, "the refresh token")
    return _tokens_from(body, clock, previous_refresh_token=tokens.refresh_token)


def _tokens_from(body: dict[str, Any], clock: Clock, previous_refresh_token: str | None) -> Tokens:
    """Tokens from a token response; EH may omit the refresh token, then the old one holds."""
    refresh_token = body.get("refresh_token") or previous_refresh_token
    if not body.get("access_token") or not refresh_token:
        raise TransientError(
            "Employment Hero's token response had no access or refresh token.", service=SERVICE
        )
    expires_in = float(body.get("expires_in") or 900)
    return Tokens(body["access_token"], refresh_token, clock.now() + expires_in)


def _post_token_form(
    token_url: str,
    form: dict[str, str],
    session: requests.Session | None,
    timeout: float,
    recorder: http.Recorder | None,
    what: str,
) -> dict[str, Any]:
    # Form-encoded, never JSON or query string: EH rejects both, and a query string would put
    # the client secret into access logs.
    with _session_for(session) as http:
        response = send_recorded(
            http, "POST", token_url, recorder=recorder, timeout=timeout, data=form
        )
    if response.status_code == 200:
        return json_body(response)
    raise _token_error(response, what, refreshing=form["grant_type"] == "refresh_token")


def _token_error(response: requests.Response, what: str, refreshing: bool) -> Exception:
    status, excerpt = response.status_code, token_excerpt(response)
    fields: dict[str, Any] = {"service": SERVICE, "status": status, "body": excerpt}
    if status == 429:
        seconds = retry_after(response)
        message = f"Employment Hero's token endpoint asked us to wait {seconds:.0f} s."
        return RateLimited(message, retry_after=seconds, **fields)
    if status >= 500:
        return TransientError(
            f"Employment Hero's token endpoint failed with HTTP {status}.", **fields
        )
    error, description = _oauth_error(response)
    if refreshing and error == "invalid_grant":
        message = (
            f"Employment Hero refused the stored refresh token (invalid_grant: {description}): "
            "the customer must connect Employment Hero again."
        )
        return NeedsReauthorisation(message, **fields)
    return PermanentError(
        f"Employment Hero refused {what} (HTTP {status}, {error}: {description}).", **fields
    )


def _oauth_error(response: requests.Response) -> tuple[str, str]:
    try:
        body = response.json()
        return str(body.get("error") or "no error code"), str(body.get("error_description") or "")
    except (ValueError, AttributeError):
        return "no error code", ""


def send_recorded(
    session: requests.Session,
    method: str,
    url: str,
    *,
    recorder: http.Recorder | None,
    timeout: float,
    **kwargs: Any,
) -> requests.Response:
    """One HTTP call to EH, reported to the recorder with token values blanked out."""
    path = _recorded_path(url, kwargs.get("params"))
    return http.send_recorded(
        session,
        method,
        url,
        service=SERVICE,
        path=path,
        recorder=recorder,
        timeout=timeout,
        excerpt=token_excerpt,
        **kwargs,
    )


def _recorded_path(url: str, params: dict[str, Any] | None) -> str:
    path = urlsplit(url).path
    return f"{path}?{urlencode(params)}" if params else path


def token_excerpt(response: requests.Response) -> str:
    """The first 500 characters of the body, with token values (returned or sent) blanked."""
    text = response.text
    if any(key in text for key in SECRET_KEYS):  # only token responses are parsed here
        text = _without_token_values(text)
    bearer = _bearer_of(response.request)
    # Cut after blanking, so no token can survive half-cut at the edge of the excerpt.
    return _redact(text[: EXCERPT_CHARS + len(bearer)], bearer)[:EXCERPT_CHARS]


def _without_token_values(text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return "[a token response that is not JSON]"
    if not isinstance(body, dict):
        return text
    return json.dumps({k: "[redacted]" if k in SECRET_KEYS else v for k, v in body.items()})


def _bearer_of(request: requests.PreparedRequest | None) -> str:
    """The access token the request carried, so an echo of it can be blanked."""
    header = request.headers.get("Authorization", "") if request is not None else ""
    return header.removeprefix("Bearer ").strip()


def retry_after(response: requests.Response) -> float:
    """Seconds from a numeric Retry-After header, else a minute (EH's window)."""
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return DEFAULT_RETRY_AFTER
    return seconds if seconds > 0 else DEFAULT_RETRY_AFTER


def json_body(response: requests.Response) -> dict[str, Any]:
    """The JSON object EH answered with; anything else is a proxy or outage page: transient."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise TransientError(
            f"Employment Hero answered HTTP {response.status_code} with something that is not a "
            "JSON object.",
            service=SERVICE,
            status=response.status_code,
            body=token_excerpt(response),
        )
    return body


def _redact(text: str, secret: str) -> str:
    return text.replace(secret, "[access token]") if secret else text


@contextmanager
def _session_for(session: requests.Session | None) -> Iterator[requests.Session]:
    """The caller's session, or a one-off one that is closed afterwards."""
    if session is not None:
        yield session
        return
    with requests.Session() as own:
        yield own
