"""The sandboxes keep the contracts, including their limits and failure modes: the rest of the
suite trusts them, so they are tested against the contracts directly."""

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.fixtures_app import CLIENT_ID, CLIENT_SECRET, ORG, TH_KEY

JANE = {
    "user_name": "EMP-1",
    "first_name": "Jane",
    "last_name": "Citizen",
    "email": "jane@acme.example",
}


def pkce():
    verifier = "v" * 64
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorise(eh_url, challenge, **extra):
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": "http://127.0.0.1:9/cb",
        "state": "s1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return requests.post(
        f"{eh_url}/oauth2/authorize",
        data={**params, "approve": "1"},
        allow_redirects=False,
        timeout=10,
    )


def token(eh_url, **form):
    form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **form}
    return requests.post(f"{eh_url}/oauth2/token", data=form, timeout=10)


def code_for(eh_url, challenge):
    location = authorise(eh_url, challenge).headers["Location"]
    return parse_qs(urlsplit(location).query)["code"][0]


def tokens_for(eh_url):
    verifier, challenge = pkce()
    answer = token(
        eh_url,
        grant_type="authorization_code",
        code=code_for(eh_url, challenge),
        redirect_uri="http://127.0.0.1:9/cb",
        code_verifier=verifier,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def eh_get(eh_url, access, path, **params):
    return requests.get(
        f"{eh_url}/api/v1{path}",
        params=params,
        timeout=10,
        headers={"Authorization": f"Bearer {access}"},
    )


def th_call(th_url, method, path, body=None, key=TH_KEY):
    return requests.request(
        method, f"{th_url}/papi{path}", json=body, timeout=10, headers={"Authorization": key}
    )


def test_consent_page_refuses_a_scope_and_plain_pkce(sandboxes):
    _, challenge = pkce()
    url = f"{sandboxes.eh.url}/oauth2/authorize"
    base = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": "http://x/cb",
        "state": "s",
        "code_challenge": challenge,
    }
    assert (
        requests.get(url, params={**base, "code_challenge_method": "S256"}, timeout=10).status_code
        == 200
    )
    assert (
        requests.get(url, params={**base, "code_challenge_method": "plain"}, timeout=10).status_code
        == 400
    )
    scoped = requests.get(
        url, params={**base, "code_challenge_method": "S256", "scope": "x"}, timeout=10
    )
    assert scoped.json()["error_description"].startswith("scope is not accepted")


def test_wrong_verifier_and_reused_code_are_invalid_grant(sandboxes):
    url = sandboxes.eh.url
    _, challenge = pkce()
    code = code_for(url, challenge)
    wrong = token(
        url,
        grant_type="authorization_code",
        code=code,
        redirect_uri="http://127.0.0.1:9/cb",
        code_verifier="w" * 64,
    )
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    verifier, _ = pkce()
    reused = token(
        url,
        grant_type="authorization_code",
        code=code,
        redirect_uri="http://127.0.0.1:9/cb",
        code_verifier=verifier,
    )
    assert reused.json()["error"] == "invalid_grant"  # codes are single use


def test_token_endpoint_takes_form_bodies_only(sandboxes):
    answer = requests.post(
        f"{sandboxes.eh.url}/oauth2/token",
        timeout=10,
        json={"grant_type": "refresh_token", "client_id": CLIENT_ID},
    )
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_request")


def test_refresh_tokens_rotate(sandboxes):
    first = tokens_for(sandboxes.eh.url)
    second = token(
        sandboxes.eh.url, grant_type="refresh_token", refresh_token=first["refresh_token"]
    ).json()
    assert second["refresh_token"] != first["refresh_token"]
    again = token(
        sandboxes.eh.url, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert again.json()["error"] == "invalid_grant"


def test_access_tokens_live_fifteen_minutes(sandboxes, clock):
    access = tokens_for(sandboxes.eh.url)["access_token"]
    assert eh_get(sandboxes.eh.url, access, "/user_info").status_code == 200
    clock.advance(15 * 60)
    assert eh_get(sandboxes.eh.url, access, "/user_info").status_code == 401


def test_pagination_caps_item_per_page_at_100(sandboxes):
    people = [{"id": f"p-{n:03}", "first_name": f"P{n}"} for n in range(150)]
    sandboxes.eh_admin("POST", "/_admin/employees", people)
    access = tokens_for(sandboxes.eh.url)["access_token"]
    page = eh_get(
        sandboxes.eh.url, access, f"/organisations/{ORG}/employees", page_index=2, item_per_page=500
    ).json()["data"]
    assert (page["item_per_page"], page["page_index"], page["total_pages"]) == (100, 2, 2)
    assert page["total_items"] == 155  # the five seeded people too
    assert len(page["items"]) == 55


def test_eh_allows_100_calls_a_minute_per_token(sandboxes, clock):
    access = tokens_for(sandboxes.eh.url)["access_token"]
    statuses = []
    for _ in range(101):
        clock.advance(0.06)  # under 20 a second
        statuses.append(eh_get(sandboxes.eh.url, access, "/user_info").status_code)
    assert statuses[:100] == [200] * 100
    assert statuses[100] == 429
    clock.advance(60)
    assert eh_get(sandboxes.eh.url, access, "/user_info").status_code == 200


def test_eh_allows_20_calls_a_second(sandboxes):
    access = tokens_for(sandboxes.eh.url)["access_token"]
    statuses = [eh_get(sandboxes.eh.url, access, "/user_info").status_code for _ in range(21)]
    assert statuses.count(429) == 1 and statuses[-1] == 429


def test_th_wants_the_raw_key(sandboxes):
    assert th_call(sandboxes.th.url, "GET", "/users").status_code == 200
    bearer = th_call(sandboxes.th.url, "GET", "/users", key=f"Bearer {TH_KEY}")
    assert bearer.status_code == 401


def test_th_blocks_the_portal_for_60_seconds_after_300_calls(sandboxes, clock):
    url = sandboxes.th.url
    statuses = [th_call(url, "GET", "/users").status_code for _ in range(301)]
    assert statuses[:300] == [200] * 300 and statuses[300] == 429
    clock.advance(59)
    assert th_call(url, "GET", "/users").status_code == 429
    clock.advance(2)
    assert th_call(url, "GET", "/users").status_code == 200


@pytest.mark.parametrize(
    ("user", "message"),
    [
        (
            {**JANE, "email": "not-an-address"},
            "email 'not-an-address' is not a valid e-mail address",
        ),
        ({**JANE, "X-Shoe Size": "9"}, "custom field 'Shoe Size' does not exist in this portal"),
        (
            {**JANE, "X-Team": "Warehouse;Pirates"},
            "'Pirates' is not an item of the list field 'Team'",
        ),
        ({k: v for k, v in JANE.items() if k != "last_name"}, "last_name is required"),
    ],
)
def test_th_validation_messages(sandboxes, user, message):
    answer = th_call(sandboxes.th.url, "POST", "/users", user)
    assert (answer.status_code, answer.json()["message"]) == (422, message)


def test_th_user_name_and_email_are_unique_and_user_name_immutable(sandboxes):
    url = sandboxes.th.url
    assert th_call(url, "POST", "/users", JANE).status_code == 201
    clash = th_call(
        url, "POST", "/users", {**JANE, "user_name": "EMP-2", "email": " JANE@acme.example "}
    )
    assert clash.json()["message"] == "email 'jane@acme.example' is already used by another user"
    same = th_call(url, "POST", "/users", {**JANE, "email": "other@acme.example"})
    assert same.json()["message"] == "user_name 'EMP-1' is already used"
    renamed = th_call(url, "PUT", "/users/EMP-1", {"user_name": "EMP-9"})
    assert renamed.json()["message"] == "user_name cannot be changed"
    assert th_call(url, "DELETE", "/users/EMP-1").status_code == 405


def test_th_lists_25_a_page(sandboxes):
    for n in range(30):
        th_call(
            sandboxes.th.url,
            "POST",
            "/users",
            {**JANE, "user_name": f"U{n}", "email": f"u{n}@acme.example"},
        )
    second = th_call(sandboxes.th.url, "GET", "/users?page=2").json()
    assert (second["total_records"], second["max_per_page"], second["total_pages"]) == (30, 25, 2)
    assert len(second["records"]) == 5


def test_th_drop_after_write_loses_the_answer_but_keeps_the_user(sandboxes):
    sandboxes.th_admin("POST", "/_admin/faults", {"kind": "drop_after_write", "count": 1})
    with pytest.raises(requests.ConnectionError):
        th_call(sandboxes.th.url, "POST", "/users", JANE)
    assert "EMP-1" in sandboxes.th_users()


def test_fired_webhook_reaches_the_receiver_in_the_default_shape(sandboxes, live, app):
    result = sandboxes.eh_admin(
        "POST",
        "/_admin/fire",
        {"event": "employee_updated", "employee_id": "a1e2c3d4-0000-4000-8000-000000000042"},
    )
    assert result["status"] == 202
    sent = result["sent"]
    assert set(sent) == {"event", "event_id", "organisation_id", "created_at", "data"}
    assert sent["data"] == {"id": "a1e2c3d4-0000-4000-8000-000000000042", "organisation_id": ORG}
