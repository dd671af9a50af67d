"""The token vault over the real store: a refresh under the row lock finds no tokens when the
tenant's connection went (or was marked for re-authorisation) while the caller waited, and the
EH client says the tenant is not connected instead of crashing on the missing tokens."""

import pytest
from cryptography.fernet import Fernet

from tests.fixtures_clients import MemoryLimiter
from thsync.core.crypto import Cipher
from thsync.core.errors import NotConnected
from thsync.sources.employment_hero.client import EHClient, Tokens
from thsync.sources.employment_hero.tokens import TokenVault
from thsync.store import schema as s

TENANT = "acme"


@pytest.fixture
def vault(store):
    return TokenVault(store, Cipher(Fernet.generate_key().decode()))


def never_refresh(tokens: Tokens) -> Tokens:
    raise AssertionError("there were no tokens to refresh")


def delete_connection(store) -> None:
    with store.db.transaction() as conn:
        conn.execute(s.eh_connections.delete().where(s.eh_connections.c.tenant_id == TENANT))


def test_refresh_locked_without_a_connection_is_none(vault):
    assert vault.refresh_locked(TENANT, never_refresh, lambda tokens: True) is None


def test_refresh_locked_after_the_row_went_is_none(vault, store, clock):
    vault.save(TENANT, Tokens("access", "refresh", clock.now() + 900))
    delete_connection(store)
    assert vault.refresh_locked(TENANT, never_refresh, lambda tokens: True) is None


def test_refresh_locked_after_reauthorisation_was_asked_for_is_none(vault, clock):
    vault.save(TENANT, Tokens("access", "refresh", clock.now() + 900))
    vault.mark_needs_reauth(TENANT, "invalid_grant")
    assert vault.refresh_locked(TENANT, never_refresh, lambda tokens: True) is None


class GoesWhileWaiting(TokenVault):
    """The connection is removed between the client's load and its refresh under the lock."""

    def __init__(self, store, cipher, remove) -> None:
        super().__init__(store, cipher)
        self.remove = remove

    def load(self, tenant_id: str) -> Tokens | None:
        tokens = super().load(tenant_id)
        self.remove()
        return tokens


@pytest.mark.parametrize("how", ["row deleted", "needs reauthorisation"])
def test_the_client_is_not_connected_when_the_connection_goes_mid_refresh(store, clock, how):
    cipher = Cipher(Fernet.generate_key().decode())

    def remove() -> None:
        if how == "row deleted":
            delete_connection(store)
        else:
            store.connections.save(TENANT, status="needs_reauth", reason="invalid_grant")

    vault = GoesWhileWaiting(store, cipher, remove)
    vault.save(TENANT, Tokens("access", "refresh", clock.now() + 30))  # due for a refresh
    client = EHClient(
        TENANT,
        api_base="http://127.0.0.1:9/api/v1",  # never called: no tokens, no request
        token_url="http://127.0.0.1:9/oauth2/token",
        client_id="client",
        client_secret="secret",
        vault=vault,
        limiter=MemoryLimiter(clock),
        limiter_key="eh:acme",
        clock=clock,
    )
    with client, pytest.raises(NotConnected):
        client.user_info()
