"""`python server.py` in development: both sandboxes, the server, its worker, and the demo tenant
connected to the EH sandbox through the real OAuth flow, with a few seeded people."""

import json
import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import requests
from werkzeug.security import generate_password_hash

from sandboxes import eh as eh_sandbox
from sandboxes import th as th_sandbox
from sandboxes.serve import ServerHandle, start
from thsync.sources.employment_hero.client import make_pkce

if TYPE_CHECKING:
    from flask import Flask
    from werkzeug.serving import BaseWSGIServer

    from thsync.services import Services

log = logging.getLogger("thsync.demo")
DATA = Path(__file__).resolve().parents[1] / "sandboxes" / "demo_data"
DEMO = "demo"
ORG = {
    "id": "5b0f3c1e-8a2d-4f6b-9c3e-1d2a3b4c5d6e",
    "name": "Harbourline Logistics",
    "time_zone": "Australia/Sydney",
}
PEOPLE = (
    "employee-manager",
    "employee-active",
    "employee-new-starter",
    "employee-leaver",
    "employee-contractor",
)
CUSTOM_FIELDS = {
    "Job Title": {"type": "text"},
    "Location": {"type": "text"},
    "Team": {
        "type": "list",
        "items": ["Warehouse", "Forklift Licensed", "Fleet", "Operations", "Safety"],
    },
    "Employment Type": {"type": "text"},
    "Cost Centre": {"type": "text"},
}


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text())["data"]


def demo_secrets() -> dict[str, str]:
    """Fresh secrets each run, in the environment only (never in a file or a log)."""
    return {
        "DEMO_EH_CLIENT_ID": "demo-client",
        "DEMO_EH_CLIENT_SECRET": secrets.token_urlsafe(24),
        "DEMO_TH_API_KEY": secrets.token_urlsafe(24),
        "DEMO_WEBHOOK_TOKEN": secrets.token_urlsafe(32),
    }


def start_sandboxes(
    settings: dict[str, Any], env: dict[str, str], public_url: str
) -> tuple[ServerHandle, ServerHandle]:
    eh_app = eh_sandbox.create_app(
        {
            "client_id": env["DEMO_EH_CLIENT_ID"],
            "client_secret": env["DEMO_EH_CLIENT_SECRET"],
            "redirect_uris": [public_url + "/oauth/callback"],
            "organisations": [ORG],
            "user": load("user-info"),
        }
    )
    th_app = th_sandbox.create_app(
        {
            "portals": {
                env["DEMO_TH_API_KEY"]: {
                    "name": DEMO,
                    "update_mode": "partial",
                    "custom_fields": CUSTOM_FIELDS,
                }
            }
        }
    )
    eh = start(eh_app, port=settings["SANDBOX_EH_PORT"])
    th = start(th_app, port=settings["SANDBOX_TH_PORT"])
    for name in PEOPLE:
        requests.post(f"{eh.url}/_admin/employees", json=load(name), timeout=10).raise_for_status()
    env.update(
        DEMO_EH_API_BASE=f"{eh.url}/api/v1",
        DEMO_EH_OAUTH_BASE=eh.url,
        DEMO_TH_BASE_URL=f"{th.url}/papi",
    )
    return eh, th


def connect_demo(app: "Flask") -> None:
    """The OAuth round trip a customer does with the Connect button, done by the runner."""
    services: Services = app.extensions["thsync"]
    tenant, _ = services.registry.get(DEMO)
    if tenant is None:
        raise SystemExit("the demo tenant did not load: " + json.dumps(services.registry.errors()))
    verifier, challenge = make_pkce()
    redirect_uri = services.settings["PUBLIC_URL"] + "/oauth/callback"
    form = {
        "response_type": "code",
        "client_id": tenant.eh_client_id,
        "redirect_uri": redirect_uri,
        "state": secrets.token_urlsafe(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "approve": "1",
    }
    consent = requests.post(tenant.eh_authorize_url, data=form, allow_redirects=False, timeout=10)
    consent.raise_for_status()
    code = parse_qs(urlsplit(consent.headers["Location"]).query)["code"][0]
    with services.source_for(tenant) as source:
        source.complete_connection(redirect_uri, code, verifier)


def demo_support_user(settings: dict[str, Any]) -> str:
    """Without SUPPORT_USERS, development gets a support account with a fresh password, printed
    at start-up (it lives only in this process's environment)."""
    if settings["SUPPORT_USERS"]:
        return "as configured in SUPPORT_USERS"
    password = secrets.token_urlsafe(12)
    os.environ["SUPPORT_USERS"] = "support:" + generate_password_hash(password)
    return f"user support, password {password}"


def start_demo(
    settings: dict[str, Any],
    create_app: Callable[[], "Flask"],
    serve: Callable[["Flask", str, int], "BaseWSGIServer"],
) -> None:
    env = {**demo_secrets(), **{k: v for k, v in os.environ.items() if k.startswith("DEMO_")}}
    sign_in = demo_support_user(settings)
    public_url = settings["PUBLIC_URL"]
    eh, th = start_sandboxes(settings, env, public_url)
    os.environ.update(env)
    app = create_app()
    connect_demo(app)
    webhook = f"{public_url}/webhooks/{DEMO}/{env['DEMO_WEBHOOK_TOKEN']}"
    requests.post(f"{eh.url}/_admin/webhooks", json={"url": webhook}, timeout=10).raise_for_status()
    server = serve(app, settings["HOST"], settings["PORT"])
    print(
        f"\n  Dashboard          {public_url}/"
        f"\n  Support sign-in    {public_url}/sign-in  ({sign_in})"
        f"\n  EH sandbox         {eh.url}  (fire webhooks: POST {eh.url}/_admin/fire)"
        f"\n  TH sandbox         {th.url}  (users: GET {th.url}/_admin/users?portal={DEMO})"
        f"\n  Demo tenant        connected to the EH sandbox; webhooks go to /webhooks/{DEMO}/…\n",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        eh.stop()
        th.stop()
