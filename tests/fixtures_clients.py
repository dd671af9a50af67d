"""Stand-ins for the client tests: an in-memory Limiter and TokenVault with the protocols of
thsync.ratelimit and thsync.tokens, a recorder that keeps every call, and a way to run a
sandbox app over real HTTP for the length of a test."""

import threading
from collections import defaultdict
from contextlib import contextmanager

import requests

from thsync.core.errors import RateLimited
from thsync.sources.employment_hero.client import Tokens


class MemoryLimiter:
    """Counts slots taken and honours blocks; never makes anyone wait otherwise."""

    def __init__(self, clock):
        self.clock = clock
        self.acquired = defaultdict(int)
        self.blocks = []  # (key, seconds), in order
        self._blocked_until = {}
        self._lock = threading.Lock()

    def acquire(self, key: str, per_minute: int, per_second: int | None = None) -> None:
        with self._lock:
            wait = self._blocked_until.get(key, 0.0) - self.clock.now()
            if wait > 0:
                raise RateLimited(f"{key} is blocked", retry_after=wait)
            self.acquired[key] += 1

    def block(self, key: str, seconds: float) -> None:
        with self._lock:
            self.blocks.append((key, seconds))
            self._blocked_until[key] = self.clock.now() + seconds

    def is_blocked(self, key: str) -> bool:
        with self._lock:
            return self._blocked_until.get(key, 0.0) > self.clock.now()


class MemoryVault:
    """Tokens per tenant; refresh_locked holds a per-tenant lock like the real vault."""

    def __init__(self):
        self.tokens: dict[str, Tokens] = {}
        self.saves = 0
        self.refreshes = 0
        self.reauth_reasons: dict[str, str] = {}
        self._locks = defaultdict(threading.Lock)
        self._guard = threading.Lock()

    def load(self, tenant_id: str) -> Tokens | None:
        with self._guard:
            return self.tokens.get(tenant_id)

    def save(self, tenant_id: str, tokens: Tokens) -> None:
        with self._guard:
            self.tokens[tenant_id] = tokens
            self.saves += 1

    def refresh_locked(self, tenant_id, refresh, needs_refresh) -> Tokens | None:
        with self._lock_for(tenant_id):
            current = self.load(tenant_id)
            if current is None or not needs_refresh(current):
                return current
            fresh = refresh(current)
            self.refreshes += 1
            self.save(tenant_id, fresh)
            return fresh

    def mark_needs_reauth(self, tenant_id: str, reason: str) -> None:
        with self._guard:
            self.reauth_reasons[tenant_id] = reason

    def _lock_for(self, tenant_id: str) -> threading.Lock:
        with self._guard:
            return self._locks[tenant_id]


class CallLog:
    """A recorder: keeps every reported call as a dict."""

    def __init__(self):
        self.calls = []
        self._lock = threading.Lock()

    def __call__(self, **call) -> None:
        with self._lock:
            self.calls.append(call)

    def text(self) -> str:
        """Everything recorded, as one string, to search for leaked secrets."""
        return repr(self.calls)


@contextmanager
def serving(app):
    """Run a sandbox app on a free local port; yields its base URL."""
    from sandboxes.serve import start

    handle = start(app)
    try:
        yield handle.url.rstrip("/")
    finally:
        handle.stop()


class Admin:
    """The sandbox's /_admin API, for arranging a test and reading what the client sent."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.session = requests.Session()

    def call(self, method: str, path: str, body=None, **params):
        response = self.session.request(
            method, f"{self.base_url}/_admin{path}", json=body, params=params, timeout=10
        )
        response.raise_for_status()
        return response.json() if response.content else None

    def fault(self, kind: str, **options) -> None:
        self.call("POST", "/faults", {"kind": kind, **options})

    def requests(self, **params) -> list[dict]:
        return self.call("GET", "/requests", **params)

    def clear_requests(self) -> None:
        self.call("DELETE", "/requests")

    def close(self) -> None:
        self.session.close()
