"""The Employment Hero sandbox: OAuth 2.0 with PKCE and the REST API as ../shared/contracts
describes them, plus webhooks fired the way EH is assumed to send them.

Authorization-code grant only, S256 PKCE required, no `scope` parameter, form-encoded token
requests, 15-minute access tokens, rotating refresh tokens, `page_index`/`item_per_page` (max
100) pagination, 20 calls a second and 100 a minute per token (eh_oauth.py, eh_api.py). Here:
the app factory, `/_admin` to seed people, change them, fire webhooks and inject faults, and
helpers that seed people from sample files.
"""

import json
import re
from pathlib import Path

import requests
from flask import Blueprint, Flask, jsonify, request

from sandboxes.common import add_common_admin, error
from sandboxes.eh_api import api
from sandboxes.eh_oauth import oauth
from sandboxes.eh_state import EXTENSION, State, state

USER_AGENT = "EmploymentHero-Webhooks/1.0"
WEBHOOK_TIMEOUT = 10

admin = Blueprint("eh_admin", __name__, url_prefix="/_admin")


def create_app(config: dict | None = None) -> Flask:
    """config: client_id, client_secret, redirect_uris, organisations, user, access_token_ttl,
    rate_per_minute, rate_per_second, rotate_refresh_tokens (default true), clock."""
    app = Flask(__name__)
    app.extensions[EXTENSION] = State(dict(config or {}))
    for blueprint in (oauth, api, admin):
        app.register_blueprint(blueprint)
    return app


# -- admin ----------------------------------------------------------------------------------


def records_in(body) -> list | None:
    """Employee records from a record, a list of them, or a sample file's `{"data": …}` (one
    record or a list page); None when something has no id."""
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        body = body["data"]
    if isinstance(body, dict) and isinstance(body.get("items"), list):
        body = body["items"]
    people = body if isinstance(body, list) else [body]
    if all(isinstance(p, dict) and p.get("id") for p in people):
        return people
    return None


@admin.post("/employees")
def seed_employees():
    people = records_in(request.get_json(silent=True))
    if people is None:
        return error(400, message="send an employee object or a list of them, each with an id")
    saved = [state().upsert_employee(person) for person in people]
    return jsonify(count=len(saved), ids=[p["id"] for p in saved]), 201


@admin.get("/employees/<employee_id>")
def show_employee(employee_id):
    found = state().employee(employee_id)
    return jsonify(found) if found else error(404, message=f"no employee {employee_id}")


@admin.patch("/employees/<employee_id>")
def change_employee(employee_id):
    fields = request.get_json(silent=True)
    if not isinstance(fields, dict):
        return error(400, message="send the fields to change as a JSON object")
    changed = state().patch_employee(employee_id, fields)
    return jsonify(changed) if changed else error(404, message=f"no employee {employee_id}")


def item_list(body) -> list | None:
    if isinstance(body, dict):
        body = (body.get("data") or {}).get("items")
    return body if isinstance(body, list) else None


@admin.post("/custom_fields/<employee_id>")
def seed_custom_fields(employee_id):
    return set_items("custom_fields", employee_id)


@admin.post("/employment_histories/<employee_id>")
def seed_histories(employee_id):
    return set_items("histories", employee_id)


def set_items(kind: str, employee_id: str):
    items = item_list(request.get_json(silent=True))
    if items is None:
        return error(400, message="send a list of items (or a sample file's data.items)")
    state().set_items(kind, employee_id, items)
    return jsonify(count=len(items)), 201


@admin.post("/webhooks")
def register_webhook():
    body = request.get_json(silent=True) or {}
    if not str(body.get("url", "")).startswith(("http://", "https://")):
        return error(400, message="url must be an http(s) address")
    state().register_webhook(body["url"], body.get("organisation_id"))
    return jsonify(ok=True), 201


@admin.post("/fire")
def fire():
    """Send a webhook as EH would, and say what the receiver answered. The state lock is not
    held while sending: the receiver may well call the API back before answering."""
    spec = request.get_json(silent=True)
    if not isinstance(spec, dict) or not (spec.get("event") or spec.get("body")):
        return error(400, message="send at least an event (or a full body)")
    st = state()
    body = spec.get("body") or st.webhook_body(spec)
    url = spec.get("url") or st.webhook_target(body.get("organisation_id"))
    if not url:
        return error(400, message="no webhook registered: POST /_admin/webhooks first")
    result, status = deliver(url, body)
    return jsonify(result), status


def deliver(url: str, body: dict) -> tuple[dict, int]:
    try:
        answer = requests.post(
            url, json=body, timeout=WEBHOOK_TIMEOUT, headers={"User-Agent": USER_AGENT}
        )
    except requests.RequestException as exc:
        return {"status": None, "body": "", "sent": body, "error": str(exc)}, 502
    return {"status": answer.status_code, "body": answer.text, "sent": body}, 200


@admin.post("/expire_tokens")
def expire_tokens():
    state().expire_tokens()
    return jsonify(ok=True)


add_common_admin(admin, state)


# -- samples ----------------------------------------------------------------------------------


def load_samples(path: str | Path) -> list[dict]:
    """Employee records from a sample file or a directory of them (`employee-*.json` holding
    `{"data": {…}}`, `employees-page-*.json` holding a list page); other files are skipped.
    One record per id: the single-employee files, read first, win over list pages."""
    path = Path(path)
    files = sorted(path.glob("employee*.json")) if path.is_dir() else [path]
    found = {}
    for file in files:
        for person in records_in(json.loads(file.read_text())) or []:
            found.setdefault(str(person["id"]), person)
    return list(found.values())


def seed_from_samples(app: Flask, samples_dir: str | Path) -> list[str]:
    """Seed the people of a samples directory into the sandbox `app`, and the custom fields of
    `custom-fields-employee-<n>.json` onto the employee whose id ends in that number.
    Returns the ids seeded."""
    st = app.extensions[EXTENSION]
    people = [st.upsert_employee(person) for person in load_samples(samples_dir)]
    for file in sorted(Path(samples_dir).glob("custom-fields-employee-*.json")):
        number = trailing_number(file.stem)
        items = item_list(json.loads(file.read_text()))
        for person in people:
            if number is not None and items is not None and trailing_number(person["id"]) == number:
                st.set_items("custom_fields", person["id"], items)
    return [p["id"] for p in people]


def trailing_number(text: str) -> int | None:
    found = re.search(r"(\d+)$", text)
    return int(found.group(1)) if found else None
