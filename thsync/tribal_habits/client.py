"""Tribal Habits Public API client, with the safe upsert of the contract's §3.

Only this module speaks HTTP to Tribal Habits. Every call first takes a slot from the shared
limiter (the portal allows 300 calls in any 60 s and blocks the whole portal for 60 s after a
429, so the limiter keeps any 60 s at TH_CALLS_PER_MINUTE, 290 by default) and is reported to
the recorder. The API key goes in the raw `Authorization` header
and nowhere else: never into a message, an excerpt or the recorder.
"""

import json
from collections.abc import Collection, Container, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from thsync.core import http
from thsync.core.errors import ConfigError, PermanentError, RateLimited, TransientError
from thsync.core.ratelimit import Limiter
from thsync.tribal_habits.user import READ_ONLY_KEYS, diff_user, normalise_user

SERVICE = "th"
BLOCK_SECONDS = 60.0
EXCERPT_CHARS = 500
UPDATE_MODES = ("partial", "replace")
KEY_REJECTED = (
    "Tribal Habits rejected the API key (HTTP {status}): a Super Admin finds the current key "
    "under Admin → Account → Integrations."
)


@dataclass(frozen=True)
class UpsertResult:
    """What upsert/deactivate did, with enough detail for the job log."""

    action: str  # created | updated | unchanged | absent | deactivated | already_inactive
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> {before, after}
    user: dict[str, Any] | None = None  # the TH user after the call, or as last read
    sent: dict[str, Any] | None = None  # the body sent, None when nothing was written


def _without(values: Mapping[str, Any], keys: Container[str]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if key not in keys}


class THClient(http.SessionOwner):
    """One portal's users: look-ups, writes and the safe upsert."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        limiter: Limiter,
        limiter_key: str,
        update_mode: str = "partial",
        send_invite: bool = False,
        timeout: float = 10.0,
        recorder: http.Recorder | None = None,
        session: requests.Session | None = None,
        per_minute: int = 290,
    ) -> None:
        if update_mode not in UPDATE_MODES:
            raise ConfigError(f"update_mode must be partial or replace, not {update_mode!r}")
        self.base_url = base_url.rstrip("/")
        self._base_path = urlsplit(self.base_url).path  # recorded paths read like TH's own
        self._api_key = api_key
        self.limiter = limiter
        self.limiter_key = limiter_key
        self.update_mode = update_mode
        self.send_invite = send_invite
        self.timeout = timeout
        self.recorder = recorder
        self.session = session or requests.Session()
        self.per_minute = per_minute

    # -- users ------------------------------------------------------------------------------

    def get_user(self, user_name: str) -> dict[str, Any] | None:
        """The user, or None when TH has nobody by that user_name."""
        response = self._call("GET", _user_path(user_name), what="the user look-up", allow=(404,))
        return None if response.status_code == 404 else _json(response)

    def iter_users(self) -> Iterator[dict[str, Any]]:
        """Every user of the portal, 25 a page, until TH's total_pages."""
        page, total_pages = 1, 1
        while page <= total_pages:
            body = _json(self._call("GET", f"/users?page={page}", what="the user list"))
            records = body.get("records") or []
            yield from records
            total_pages = int(body.get("total_pages") or 0) if records else 0
            page += 1

    def create_user(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Create the user as given (normalised); empty values are left out."""
        return self._post_user(self._create_body(normalise_user(payload)))

    def update_user(
        self, user_name: str, changes: Mapping[str, Any], current: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Write `changes` (key -> new value) to the user TH currently holds as `current`."""
        return self._put_user(user_name, self._update_body(current, normalise_user(changes)))

    # -- the safe upsert --------------------------------------------------------------------

    def upsert(
        self,
        payload: Mapping[str, Any],
        create_only: frozenset[str] = frozenset({"user_name"}),
        allow_create: bool = True,
        known_absent: bool = False,
    ) -> UpsertResult:
        """Create or update so TH holds `payload`, writing nothing when it already does.

        Looks up first, so a retry after a lost response finds the user the first try made
        instead of creating a second one. `create_only` keys (user_name always) are never
        updated. Clashing e-mails are found by TH's own uniqueness check on create: the API
        has no look-up by e-mail, and listing the whole portal before each create would cost
        more calls than the portal's budget allows.

        `known_absent` (with allow_create): the caller has never seen this user_name in TH,
        so the look-up is skipped and the user created in one call. Should TH answer that the
        user_name is already used (an earlier try whose answer was lost, or someone created
        the user by hand), the safe way follows: look up, then update only what differs.
        TH's uniqueness check is what keeps it to one user, so nothing is ever created twice.
        """
        desired = normalise_user(payload)
        user_name = _user_name_of(desired)
        if known_absent and allow_create:
            try:
                return self._create(desired)
            except UserNameTaken:
                pass  # TH has them after all: the safe way below
            current = self.get_user(user_name)
            if current is None:
                raise PermanentError(
                    f"Tribal Habits refused to create {user_name} because the user_name is "
                    "already used, yet has no user by that user_name: nothing was written.",
                    service=SERVICE,
                    status=404,
                )
        else:
            current = self.get_user(user_name)
        if current is not None:
            wanted = _without(desired, create_only | {"user_name"})
            return self._update_if_changed(user_name, current, wanted)
        if not allow_create:
            return UpsertResult("absent")
        return self._create(desired)

    def _create(self, desired: Mapping[str, Any]) -> UpsertResult:
        body = self._create_body(desired)
        user = self._post_user(body)
        changes = {key: {"before": None, "after": value} for key, value in body.items()}
        changes.pop("send_invite", None)
        return UpsertResult("created", changes, user, body)

    def deactivate(self, user_name: str) -> UpsertResult:
        """Set active: false (TH users are never deleted); no write when already inactive."""
        current = self.get_user(user_name)
        if current is None:
            return UpsertResult("absent")
        if current.get("active") is False:
            return UpsertResult("already_inactive", user=current)
        body = self._update_body(current, {"active": False})
        user = self._put_user(user_name, body)
        changes = {"active": {"before": current.get("active"), "after": False}}
        return UpsertResult("deactivated", changes, user, body)

    def _update_if_changed(
        self, user_name: str, current: dict[str, Any], wanted: Mapping[str, Any]
    ) -> UpsertResult:
        changes = diff_user(current, wanted)
        if not changes:
            return UpsertResult("unchanged", user=current)
        body = self._update_body(current, {key: c["after"] for key, c in changes.items()})
        user = self._put_user(user_name, body)
        return UpsertResult("updated", changes, user, body)

    # -- bodies -----------------------------------------------------------------------------

    def _create_body(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        # An empty value on a new user means the same as no value, and TH may refuse "" where
        # it validates (an e-mail), so only real values are sent.
        body = {key: value for key, value in payload.items() if value not in ("", None)}
        body["send_invite"] = self.send_invite  # explicit: TH's own default may be to invite
        return body

    def _update_body(
        self, current: Mapping[str, Any], new_values: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Partial mode sends only the new values; replace mode must resend the whole user."""
        if self.update_mode == "partial":
            return dict(new_values)
        return {**_without(current, READ_ONLY_KEYS), **new_values}

    def _post_user(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self._call("POST", "/users", body, what="creating the user", allow=(422,))
        if response.status_code == 422:
            raise _create_refused(body, _excerpt(response))
        return _json_or(response, body)

    def _put_user(self, user_name: str, body: dict[str, Any]) -> dict[str, Any]:
        path = _user_path(user_name)
        response = self._call("PUT", path, body, what="updating the user", allow=(404,))
        if response.status_code == 404:
            raise PermanentError(
                f"Tribal Habits has no user {user_name!r} to update.",
                service=SERVICE,
                status=404,
                body=_excerpt(response),
            )
        return _json_or(response, body)

    # -- transport --------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        what: str,
        allow: Collection[int] = (),
    ) -> requests.Response:
        """Send one request; raise the mapped error for any status but 2xx and `allow`."""
        response = self._send(method, path, body)
        if response.status_code not in allow:
            self._raise_for_status(response, what)
        return response

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> requests.Response:
        self.limiter.acquire(self.limiter_key, self.per_minute)
        return http.send_recorded(
            self.session,
            method,
            self.base_url + path,
            service=SERVICE,
            path=self._base_path + path,
            recorder=self.recorder,
            timeout=self.timeout,
            excerpt=_excerpt,
            json=body,
            headers={"Authorization": self._api_key, "Accept": "application/json"},
        )

    def _raise_for_status(self, response: requests.Response, what: str) -> None:
        status = response.status_code
        if status < 400:
            return
        excerpt = _excerpt(response)
        if status == 429:
            self.limiter.block(self.limiter_key, BLOCK_SECONDS)
            raise RateLimited(
                f"Tribal Habits rate limit hit on {what}: the portal is paused for "
                f"{BLOCK_SECONDS:.0f} s.",
                retry_after=BLOCK_SECONDS,
                **_fields(status, excerpt),
            )
        error_class = TransientError if status >= 500 else PermanentError
        raise error_class(_status_message(status, what, excerpt), **_fields(status, excerpt))


def _user_path(user_name: str) -> str:
    return "/users/" + quote(user_name.strip(), safe="")


def _user_name_of(payload: Mapping[str, Any]) -> str:
    user_name = payload.get("user_name")
    if not isinstance(user_name, str) or not user_name:
        raise PermanentError("The Tribal Habits payload has no user_name.", service=SERVICE)
    return user_name


class UserNameTaken(PermanentError):
    """TH refused a create because another user already has the user_name."""


def _create_refused(body: Mapping[str, Any], excerpt: str) -> PermanentError:
    """A 422 on create, in plain words when TH says the e-mail belongs to someone else."""
    message = _th_message(excerpt)
    email = body.get("email", "")
    if _is_user_name_clash(message, str(body.get("user_name", ""))):
        return UserNameTaken(
            f"Tribal Habits already has a user {body.get('user_name')} "
            f"(Tribal Habits said: {message}).",
            **_fields(422, excerpt),
        )
    if _is_email_clash(message):
        message = (
            f"The e-mail {email} already belongs to another Tribal Habits user, so "
            f"{body.get('user_name')} cannot be created (Tribal Habits said: {message})."
        )
    else:
        message = f"Tribal Habits refused to create {body.get('user_name')}: {message}"
    return PermanentError(message, **_fields(422, excerpt))


CLASH_WORDS = ("already", "taken", "in use", "exists", "unique", "duplicate")


def _is_user_name_clash(message: str, user_name: str) -> bool:
    """TH's 422 names the user_name as the clash (the sandbox: "user_name 'X' is already used").
    The value itself is taken out first: a user_name may be an e-mail or hold any word."""
    text = message.replace(user_name, "") if user_name else message
    text = text.lower()
    names_it = any(word in text for word in ("user_name", "username", "user name"))
    return names_it and any(word in text for word in CLASH_WORDS) and not _is_email_clash(text)


def _is_email_clash(message: str) -> bool:
    text = message.lower()
    return "email" in text.replace("e-mail", "email") and any(word in text for word in CLASH_WORDS)


def _status_message(status: int, what: str, excerpt: str) -> str:
    if status in (401, 403):
        return KEY_REJECTED.format(status=status)
    if status >= 500:
        return f"Tribal Habits failed with HTTP {status} on {what}."
    if status == 404:
        return f"Tribal Habits found nothing for {what} (HTTP 404)."
    return f"Tribal Habits refused {what} (HTTP {status}): {_th_message(excerpt)}"


def _th_message(excerpt: str) -> str:
    """TH's {"message": …} when the body is that, else the body itself."""
    try:
        message = json.loads(excerpt).get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message) if message else excerpt or "no message"


def _fields(status: int, excerpt: str) -> dict[str, Any]:
    return {"service": SERVICE, "status": status, "body": excerpt}


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise TransientError(
            f"Tribal Habits answered HTTP {response.status_code} with something that is not JSON.",
            **_fields(response.status_code, _excerpt(response)),
        ) from exc


def _json_or(response: requests.Response, fallback: Mapping[str, Any]) -> dict[str, Any]:
    """The user TH answered with; what we sent when TH answered with an empty body."""
    return _json(response) if response.content else dict(fallback)


def _excerpt(response: requests.Response) -> str:
    """The first 500 characters of the body, with the API key blanked should TH echo it."""
    key = response.request.headers.get("Authorization", "") if response.request else ""
    text = response.text[: EXCERPT_CHARS + len(key)]  # cut after blanking: no half key left
    return (text.replace(key, "[api key]") if key else text)[:EXCERPT_CHARS]
