"""The Employment Hero client and OAuth helpers: pure parts first, then real HTTP against the
sandbox (sharing the test's ManualClock, so token expiry moves for both)."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from thsync.eh_client import Tokens, authorize_url, make_pkce
from thsync.eh_oauth import challenge_for

# -- pure parts ------------------------------------------------------------------------------


def test_challenge_matches_rfc_7636_appendix_b():
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert challenge_for(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_make_pkce_gives_a_fresh_64_character_verifier_and_its_challenge():
    verifier, challenge = make_pkce()
    assert re.fullmatch(r"[A-Za-z0-9_-]{64}", verifier)
    assert challenge == challenge_for(verifier)
    assert make_pkce()[0] != verifier


@pytest.mark.parametrize(
    "endpoint, base",
    [
        ("https://oauth.employmenthero.com/oauth2/authorize", "/oauth2/authorize"),
        ("http://127.0.0.1:5001/oauth2/authorize?tenant=x", "/oauth2/authorize"),
    ],
)
def test_authorize_url_has_pkce_and_no_scope(endpoint, base):
    url = authorize_url(
        endpoint, "client id", "https://sync.example/oauth/callback", "st&ate", "CH"
    )
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.path == base
    assert "scope" not in query
    assert {key: values[-1] for key, values in query.items()} == {
        **({"tenant": "x"} if "tenant" in endpoint else {}),
        "response_type": "code",
        "client_id": "client id",
        "redirect_uri": "https://sync.example/oauth/callback",
        "state": "st&ate",
        "code_challenge": "CH",
        "code_challenge_method": "S256",
    }


def test_tokens_repr_hides_the_token_values():
    text = repr(Tokens("access-secret", "refresh-secret", 123.0))
    assert "secret" not in text
    assert "123.0" in text
