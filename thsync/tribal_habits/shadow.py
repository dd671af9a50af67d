"""The TH client of a tenant in shadow mode: reads go out as usual, writes are recorded in the
attempt's call log as what they would have been, and not sent."""

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from thsync.core import http
from thsync.tribal_habits.client import THClient, UpsertResult

WOULD = {"created": "would_create", "updated": "would_update", "deactivated": "would_deactivate"}
NOT_SENT = "not sent: the tenant is in shadow mode"


class ShadowTHClient(THClient):
    """TH reads go out as usual; writes are recorded in the attempt's call log and not sent."""

    def _post_user(self, body: dict) -> dict:
        return self._pretend("POST", "/users", body)

    def _put_user(self, user_name: str, body: dict) -> dict:
        return self._pretend("PUT", "/users/" + user_name, body)

    def _pretend(self, method: str, path: str, body: dict) -> dict:
        started = time.monotonic()
        http.record(
            self.recorder, "th", method, self._base_path + path, None, NOT_SENT, None, started
        )
        return dict(body)

    def upsert(
        self,
        payload: Mapping[str, Any],
        create_only: frozenset[str] = frozenset({"user_name"}),
        allow_create: bool = True,
        known_absent: bool = False,
    ) -> UpsertResult:
        # known_absent is not taken up: a create that is only recorded cannot hear TH say the
        # user_name is taken, so shadow looks up first (a read, sent as usual) and tells truly
        # whether live would create or update.
        return _would(super().upsert(payload, create_only, allow_create))

    def deactivate(self, user_name: str) -> UpsertResult:
        return _would(super().deactivate(user_name))


def _would(result: UpsertResult) -> UpsertResult:
    """Renamed so nobody mistakes it for a write; no user, so no snapshot claims TH holds it."""
    if result.action not in WOULD:
        return result
    return replace(result, action=WOULD[result.action], user=None)
