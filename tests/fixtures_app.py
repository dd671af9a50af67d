"""The whole server against both sandboxes, over real HTTP, with one clock for everything."""

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from sandboxes import eh as eh_sandbox
from sandboxes import th as th_sandbox
from sandboxes.serve import start
from server import create_app, serve
from tests.auth_helpers import SUPPORT_USERS, support_client
from thsync.pipeline.worker import Worker

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "sandboxes" / "demo_data"
ORG = "5b0f3c1e-8a2d-4f6b-9c3e-1d2a3b4c5d6e"
TH_KEY = "th-key-acme-0123456789"
TOKEN = "tok-acme-0123456789abcdefghij"
CLIENT_ID, CLIENT_SECRET = "client-acme", "secret-acme-0123456789"
CUSTOM_FIELDS = {
    "Job Title": {"type": "text"},
    "Location": {"type": "text"},
    "Team": {"type": "list", "items": ["Warehouse", "Forklift Licensed", "Fleet", "Operations"]},
    "Employment Type": {"type": "text"},
    "Cost Centre": {"type": "text"},
}


def sample(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())["data"]


TENANT_YAML = """\
name: Acme Logistics
mode: live
time_zone: Australia/Sydney
employment_hero:
  client_id: {client_id}
  client_secret: ${{ACME_EH_CLIENT_SECRET}}
  api_base: {eh_url}/api/v1
  oauth_base: {eh_url}
tribal_habits:
  base_url: {th_url}/papi
  api_key: ${{ACME_TH_API_KEY}}
  update_mode: partial
alerts:
  recipients: [hr@acme.example]
webhook:
  token: ${{ACME_WEBHOOK_TOKEN}}
"""


@dataclass
class Sandboxes:
    eh_app: object
    th_app: object
    eh: object  # ServerHandle
    th: object

    def eh_admin(self, method, path, payload=None):
        response = requests.request(method, self.eh.url + path, json=payload, timeout=10)
        assert response.status_code < 400, response.text
        return response.json() if response.content else None

    def th_admin(self, method, path, payload=None):
        response = requests.request(method, self.th.url + path, json=payload, timeout=10)
        assert response.status_code < 400, response.text
        return response.json() if response.content else None

    def th_users(self) -> dict:
        users = self.th_admin("GET", "/_admin/users?portal=acme")
        users = users.get("users", users) if isinstance(users, dict) else users
        return {u["user_name"]: u for u in users}

    def th_writes(self) -> list:
        calls = self.th_admin("GET", "/_admin/requests")
        calls = calls.get("requests", calls) if isinstance(calls, dict) else calls
        return [c for c in calls if c["method"] in ("POST", "PUT")]


@pytest.fixture
def sandboxes(clock):
    eh_app = eh_sandbox.create_app(
        {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [],
            "organisations": [
                {"id": ORG, "name": "Acme Logistics", "time_zone": "Australia/Sydney"}
            ],
            "user": json.loads((DATA / "user-info.json").read_text())["data"],
            "clock": clock,
        }
    )
    th_app = th_sandbox.create_app(
        {
            "portals": {
                TH_KEY: {"name": "acme", "update_mode": "partial", "custom_fields": CUSTOM_FIELDS}
            },
            "clock": clock,
        }
    )
    eh, th = start(eh_app), start(th_app)
    boxes = Sandboxes(eh_app, th_app, eh, th)
    for name in (
        "employee-manager",
        "employee-active",
        "employee-new-starter",
        "employee-leaver",
        "employee-contractor",
    ):
        boxes.eh_admin("POST", "/_admin/employees", sample(name))
    yield boxes
    eh.stop()
    th.stop()


@pytest.fixture
def env():
    return {
        "ACME_EH_CLIENT_SECRET": CLIENT_SECRET,
        "ACME_TH_API_KEY": TH_KEY,
        "ACME_WEBHOOK_TOKEN": TOKEN,
    }


@pytest.fixture
def dirs(tmp_path, sandboxes):
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    for extra in rules.glob("*.yaml"):
        if extra.name != "standard.yaml":
            extra.unlink()
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / "acme.yaml").write_text(
        TENANT_YAML.format(client_id=CLIENT_ID, eh_url=sandboxes.eh.url, th_url=sandboxes.th.url)
    )
    return {"rules": rules, "tenants": tenants}


@pytest.fixture
def extra_settings():
    """Settings a test module overrides for its app (a short LEASE_SECONDS, say)."""
    return {}


@pytest.fixture
def app(db_url, clock, dirs, env, tmp_path, extra_settings):
    app = create_app(
        {
            "DATABASE_URL": db_url,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "RULES_DIR": str(dirs["rules"]),
            "TENANTS_DIR": str(dirs["tenants"]),
            "ENV": env,
            "RUN_WORKER": False,
            "RELOAD_SECONDS": 0,
            "COALESCE_SECONDS": 2,
            "THSYNC_ENCRYPTION_KEY": "",
            "PUBLIC_URL": "http://127.0.0.1:1",
            "SUPPORT_USERS": SUPPORT_USERS,
            **extra_settings,
        },
        clock=clock,
    )
    yield app
    app.extensions["thsync"].close()


@pytest.fixture
def live(app, sandboxes):
    """The app served over HTTP, registered as the EH sandbox's webhook target."""
    server = serve(app, "127.0.0.1", 0)
    import threading

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    sandboxes.eh_admin("POST", "/_admin/webhooks", {"url": f"{url}/webhooks/acme/{TOKEN}"})
    yield url
    server.shutdown()


def connect(app, sandboxes, tenant_id="acme"):
    """The customer's OAuth round trip: our Connect link, EH's consent page, our callback."""
    client = support_client(app)
    start_response = client.get(f"/tenants/{tenant_id}/connect")
    assert start_response.status_code == 302
    authorize = start_response.headers["Location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    consent = requests.post(
        authorize.split("?")[0], data={**query, "approve": "1"}, allow_redirects=False, timeout=10
    )
    assert consent.status_code == 302, consent.text
    back = urlsplit(consent.headers["Location"])
    callback = client.get(f"{back.path}?{back.query}")
    assert callback.status_code == 200, callback.get_data(as_text=True)
    return callback


@pytest.fixture
def connected(app, sandboxes):
    connect(app, sandboxes)
    return app


@pytest.fixture
def worker(connected):
    return Worker(connected.extensions["thsync"], name="test-worker", rand=lambda: 0.5)


@pytest.fixture
def fire(sandboxes, live):
    def fire(event, employee_id, **extra):
        result = sandboxes.eh_admin(
            "POST", "/_admin/fire", {"event": event, "employee_id": employee_id, **extra}
        )
        assert result["status"] in (200, 202), result
        return result

    return fire
