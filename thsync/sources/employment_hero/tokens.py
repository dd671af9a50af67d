"""EH OAuth tokens at rest: encrypted in the store, refreshed under a per-tenant lock."""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from thsync.core.crypto import Cipher
from thsync.sources.employment_hero.client import Tokens

if TYPE_CHECKING:  # the store is handed in; a source imports nothing of it
    from thsync.store.repositories import Store


class TokenVault:
    """The TokenVault protocol of thsync.eh_client, backed by the store and a Cipher."""

    def __init__(self, store: "Store", cipher: Cipher) -> None:
        self.store = store
        self.cipher = cipher

    def _decode(self, row: dict[str, Any] | None) -> Tokens | None:
        if not row or not row.get("refresh_token") or row.get("status") != "connected":
            return None
        return Tokens(
            access_token=self.cipher.decrypt(row["access_token"]),
            refresh_token=self.cipher.decrypt(row["refresh_token"]),
            expires_at=row["expires_at"],
        )

    def _encode(self, tokens: Tokens) -> dict[str, Any]:
        return {
            "access_token": self.cipher.encrypt(tokens.access_token),
            "refresh_token": self.cipher.encrypt(tokens.refresh_token),
            "expires_at": tokens.expires_at,
            "status": "connected",
            "reason": None,
        }

    def load(self, tenant_id: str) -> Tokens | None:
        return self._decode(self.store.connections.get(tenant_id))

    def save(self, tenant_id: str, tokens: Tokens, **extra: Any) -> None:
        self.store.connections.save(tenant_id, **self._encode(tokens), **extra)

    def refresh_locked(
        self,
        tenant_id: str,
        refresh: Callable[[Tokens], Tokens],
        needs_refresh: Callable[[Tokens], bool],
    ) -> Tokens | None:
        """The current tokens, refreshed first when `needs_refresh` says so; None when the
        tenant is no longer connected (the row went, or was disconnected, while we waited)."""
        # The row lock (PostgreSQL) or the write lock (SQLite) makes every other worker wait
        # here and then find the fresh tokens, so one refresh runs per tenant.
        with self.store.connections.locked(tenant_id) as (conn, row):
            current = self._decode(row)
            if current is None:
                return None
            if not needs_refresh(current):
                return current
            fresh = refresh(current)
            self.store.connections.save(tenant_id, conn=conn, **self._encode(fresh))
            return fresh

    def mark_needs_reauth(self, tenant_id: str, reason: str) -> None:
        self.store.connections.save(tenant_id, status="needs_reauth", reason=reason)

    def status(self, tenant_id: str) -> dict[str, Any]:
        row = self.store.connections.get(tenant_id)
        if row is None:
            return {"status": "not_connected"}
        return {k: row[k] for k in ("status", "reason", "expires_at", "org_uuid", "authorised_by")}
