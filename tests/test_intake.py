"""POST /webhooks/<tenant>/<token>: stored before the answer, deduplicated, refused clearly."""

import io
import json
import logging

import requests
import sqlalchemy as sa

from tests.fixtures_app import TOKEN
from thsync.core.logs import install_filter

EMPLOYEE = "a1e2c3d4-0000-4000-8000-000000000042"


def body(event="employee_updated", event_id="evt-1", employee=EMPLOYEE):
    return {
        "event": event,
        "event_id": event_id,
        "organisation_id": "org",
        "created_at": "2026-11-28T09:30:00+11:00",
        "data": {"id": employee},
    }


def post(client, payload, token=TOKEN, tenant="acme", **kwargs):
    data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    return client.post(
        f"/webhooks/{tenant}/{token}", data=data, content_type="application/json", **kwargs
    )


def test_valid_delivery_is_stored_before_the_answer_and_calls_nothing(app, sandboxes):
    response = post(app.test_client(), body(), headers={"User-Agent": "EH-Webhooks/1.0"})
    assert response.status_code == 202
    answer = response.get_json()
    assert answer["status"] == "accepted"
    stored = app.extensions["thsync"].store.deliveries.get(answer["delivery_id"])
    assert json.loads(stored["body"]) == body()
    assert json.loads(stored["headers"])["User-Agent"] == "EH-Webhooks/1.0"
    assert (stored["event_type"], stored["employee_id"]) == ("employee_updated", EMPLOYEE)
    assert stored["job_id"] is None  # queued by the dispatcher, off the request path
    assert sandboxes.eh_admin("GET", "/_admin/requests") == []
    assert sandboxes.th_admin("GET", "/_admin/requests") == []


def test_same_event_id_is_a_duplicate(app):
    client = app.test_client()
    assert post(client, body()).status_code == 202
    again = post(client, body())
    assert again.status_code == 200
    assert again.get_json()["status"] == "duplicate"
    store = app.extensions["thsync"].store
    assert store.jobs.dispatch(0) == 1
    assert len(store.history.find()) == 1
    assert store.deliveries.get(again.get_json()["delivery_id"])["duplicate_of"] == 1


def test_without_an_event_id_the_body_hash_deduplicates(app):
    client = app.test_client()
    payload = body(event_id=None)
    del payload["event_id"]
    assert post(client, payload).get_json()["status"] == "accepted"
    assert post(client, payload).get_json()["status"] == "duplicate"
    payload["created_at"] = "2026-11-28T09:31:00+11:00"
    assert post(client, payload).get_json()["status"] == "accepted"


def test_wrong_token_and_unknown_tenant_look_the_same(app):
    client = app.test_client()
    wrong = post(client, body(), token="x" * len(TOKEN))
    unknown = post(client, body(), tenant="nobody")
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.get_data() == unknown.get_data()
    assert app.extensions["thsync"].store.deliveries.find() == []


def test_oversized_body_is_refused_and_recorded(app):
    app.extensions["thsync"].settings["MAX_BODY_BYTES"] = 1024
    response = post(app.test_client(), json.dumps({"pad": "x" * 5000, **body()}))
    assert response.status_code == 413
    assert response.get_json()["error"] == "the body is larger than 1024 bytes"
    stored = app.extensions["thsync"].store.deliveries.get(response.get_json()["delivery_id"])
    assert (stored["status"], stored["http_status"]) == ("rejected", 413)
    assert stored["body_size"] > 1024


def test_non_json_body_is_refused_and_recorded(app):
    response = post(app.test_client(), b"event=employee_created")
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("the body is not JSON")
    stored = app.extensions["thsync"].store.deliveries.get(response.get_json()["delivery_id"])
    assert stored["body"] == "event=employee_created"


def test_json_that_is_not_an_object_is_refused(app):
    response = post(app.test_client(), [body()])
    assert (response.status_code, response.get_json()["error"]) == (
        400,
        "the body must be a JSON object",
    )


def test_missing_employee_id_is_refused_with_where_it_was_looked_for(app):
    payload = body()
    payload["data"] = {}
    response = post(app.test_client(), payload)
    assert response.status_code == 422
    assert response.get_json()["error"] == "no employee id at data.id"


def test_a_store_that_cannot_write_answers_503(app):
    store = app.extensions["thsync"].store
    with store.db.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE deliveries RENAME TO deliveries_away"))
    response = post(app.test_client(), body())
    assert response.status_code == 503
    with store.db.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE deliveries_away RENAME TO deliveries"))


def test_tokens_never_reach_the_logs(app, live):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    install_filter(handler)
    logging.getLogger().addHandler(handler)
    try:
        requests.post(f"{live}/webhooks/acme/{TOKEN}", json=body(), timeout=10)
        requests.post(f"{live}/webhooks/acme/{TOKEN}", data=b"not json", timeout=10)
        requests.post(f"{live}/webhooks/acme/wrong-token-value", json=body(), timeout=10)
    finally:
        logging.getLogger().removeHandler(handler)
    text = stream.getvalue()
    assert "/webhooks/acme/[redacted]" in text
    assert TOKEN not in text
    assert "wrong-token-value" not in text
