"""Connecting a tenant to Employment Hero: the "Connect" link, the OAuth callback, and finding
the organisation (Org UUID) for the customer from /user_info."""

import logging
import secrets
from typing import Any

from flask import Blueprint, Flask, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from thsync.config.tenants import Tenant
from thsync.core.errors import SyncError
from thsync.web.access import customer_ok, signed_in
from thsync.web.pages import page, services, tenant_or_404

log = logging.getLogger(__name__)
bp = Blueprint("oauth", __name__)
STATE_MAX_AGE = 600


def redirect_uri() -> str:
    return services().settings["PUBLIC_URL"] + "/oauth/callback"


@bp.get("/tenants/<tenant_id>/connect")
def connect(tenant_id: str) -> ResponseReturnValue:
    tenant, _ = tenant_or_404(tenant_id)
    state = secrets.token_urlsafe(32)
    url, verifier = services().source_for(tenant).connect_url(redirect_uri(), state)
    services().store.connections.save_oauth_state(
        state, tenant.id, services().vault.cipher.encrypt(verifier)
    )
    return redirect(url)


@bp.get("/oauth/callback")
@customer_ok  # the tenant is known only from the saved state: checked below
def callback() -> ResponseReturnValue:
    if request.args.get("error"):
        message = request.args.get("error_description") or request.args["error"]
        return render_template("connect/result.html", ok=False, message=message), 400
    saved = services().store.connections.pop_oauth_state(
        request.args.get("state", ""), STATE_MAX_AGE
    )
    if saved is None:
        message = "This sign-in link has expired or was already used. Start again from Connect."
        return render_template("connect/result.html", ok=False, message=message), 400
    if not signed_in().can_see(saved["tenant_id"]):
        abort(404)
    tenant, _ = tenant_or_404(saved["tenant_id"])
    verifier = services().vault.cipher.decrypt(saved["verifier"])
    try:
        organisations = complete_connection(tenant, request.args.get("code", ""), verifier)
    except SyncError as exc:
        log.warning("tenant %s: connecting Employment Hero failed: %s", tenant.id, exc)
        return render_template("connect/result.html", ok=False, message=str(exc)), 502
    if len(organisations) > 1 and not tenant.eh_org_uuid:
        return redirect(url_for("oauth.pick_organisation", tenant_id=tenant.id))
    return render_template("connect/result.html", ok=True, tenant=tenant, message=None)


def complete_connection(tenant: Tenant, code: str, verifier: str) -> list[dict[str, Any]]:
    """Exchange the code, store the tokens encrypted, and record who authorised and which
    organisations they belong to (the source does it). Returns those organisations."""
    with services().source_for(tenant) as source:
        organisations = source.complete_connection(redirect_uri(), code, verifier)
    log.info("tenant %s: connected to %s", tenant.id, source.label)
    return organisations


def organisations_of(tenant: Tenant) -> dict[str, dict[str, Any]]:
    """The EH organisations of whoever authorised, by id (their /user_info memberships)."""
    connection = services().store.connections.get(tenant.id) or {}
    info = connection.get("authorised_by") or {}
    return {
        m["organisation_id"]: m for m in info.get("memberships", []) if m.get("organisation_id")
    }


@page(bp, "/tenants/<tenant_id>/organisation", template="connect/pick_organisation.html")
def pick_organisation(tenant_id: str) -> dict[str, Any]:
    tenant, _ = tenant_or_404(tenant_id)
    organisations = list(organisations_of(tenant).values())
    return {"tenant": {"id": tenant.id, "name": tenant.name}, "organisations": organisations}


@bp.post("/tenants/<tenant_id>/organisation")
@customer_ok  # the customer picks their own organisation after connecting
def choose_organisation(tenant_id: str) -> ResponseReturnValue:
    tenant, _ = tenant_or_404(tenant_id)
    chosen = request.form.get("organisation_id")
    if chosen not in organisations_of(tenant):
        abort(400, "pick one of the organisations listed")
    services().store.connections.save(tenant.id, org_uuid=chosen)
    return render_template("connect/result.html", ok=True, tenant=tenant, message=None)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
