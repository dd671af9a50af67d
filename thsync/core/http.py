"""What the two API clients share: one recorded HTTP call, and a closable session."""

import time
from collections.abc import Callable
from typing import Any, Protocol, Self

import requests

from thsync.core.errors import TransientError

SERVICE_NAMES = {"eh": "Employment Hero", "th": "Tribal Habits"}


class Recorder(Protocol):
    """Told of every HTTP call (thsync.core.calls.CallLog is the one the worker hands over)."""

    def __call__(
        self,
        *,
        service: str,
        method: str,
        path: str,
        status: int | None,
        excerpt: str,
        error: str | None,
        duration_ms: int,
    ) -> None: ...


class SessionOwner:
    """A client that owns a requests.Session: close it, or use the client as a context."""

    session: requests.Session

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def send_recorded(
    session: requests.Session,
    method: str,
    url: str,
    *,
    service: str,
    path: str,
    recorder: Recorder | None,
    timeout: float,
    excerpt: Callable[[requests.Response], str],
    **kwargs: Any,
) -> requests.Response:
    """One HTTP call, reported to the recorder as `path` with the body cut by `excerpt` (which
    blanks secrets). A connection error or timeout is a TransientError."""
    started = time.monotonic()
    try:
        response = session.request(method, url, timeout=timeout, **kwargs)
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {str(exc)[:200]}"
        record(recorder, service, method, path, None, "", error, started)
        message = f"{SERVICE_NAMES[service]} did not answer {method} {path}: {error}"
        raise TransientError(message, service=service) from exc
    record(recorder, service, method, path, response.status_code, excerpt(response), None, started)
    return response


def record(
    recorder: Recorder | None,
    service: str,
    method: str,
    path: str,
    status: int | None,
    excerpt: str,
    error: str | None,
    started: float,
) -> None:
    if recorder is not None:
        recorder(
            service=service,
            method=method,
            path=path,
            status=status,
            excerpt=excerpt,
            error=error,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
