"""The ways in and out: support's sign-in form, the customer's link, sign-out, making a link,
and `flask --app server support hash-password` for SUPPORT_USERS entries."""

import getpass
import logging

import click
from flask import Blueprint, Flask, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.security import generate_password_hash

from thsync.web import access as auth
from thsync.web.access import signed_in, support_only
from thsync.web.pages import Page, page, services, tenant_or_404

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__, cli_group="support")


def safe_next(target: str | None) -> str:
    """Only a path on this site: an open redirect would make our sign-in a phishing tool."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("web.index")


def failure_keys(name: str) -> list[str]:
    return [f"user:{name.lower()}", f"ip:{request.remote_addr}"]


def too_many_failures(name: str) -> bool:
    limit = services().settings["SIGNIN_ATTEMPTS"]
    store = services().store
    return any(
        store.access.recent_failures(key, auth.FAILURE_WINDOW) >= limit
        for key in failure_keys(name)
    )


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> ResponseReturnValue:
    if request.method == "GET":
        return render_template("signin/sign_in.html", error=None, next=request.args.get("next", ""))
    name = request.form.get("username", "").strip()
    if too_many_failures(name):
        log.warning("sign-in refused for %r from %s: too many failures", name, request.remote_addr)
        message = "Too many failed sign-ins. Wait 15 minutes and try again."
        return render_template("signin/sign_in.html", error=message, next=""), 429
    users = auth.support_users(services().settings["SUPPORT_USERS"])
    if not auth.password_ok(users, name, request.form.get("password", "")):
        services().store.access.record_failure(failure_keys(name))
        message = "That user name and password do not match."
        return render_template("signin/sign_in.html", error=message, next=""), 401
    auth.start_session("support", name)
    log.info("support user %s signed in", name)
    return redirect(safe_next(request.form.get("next")))


@bp.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    auth.end_session()
    return redirect(url_for("auth.sign_in"))


@bp.route("/sign-in/link/<token>", methods=["GET", "POST"])
def link(token: str) -> ResponseReturnValue:
    """GET only asks; POST uses the link. Mail scanners fetch links, and must not spend them."""
    row = auth.read_link(token)
    if row is None:
        message = "This sign-in link has expired or was already used. Ask support for a new one."
        return render_template("signin/link.html", row=None, message=message), 410
    tenant, _ = services().registry.get(row["tenant_id"])
    if request.method == "GET":
        return render_template("signin/link.html", row=row, tenant=tenant, message=None)
    if not services().store.access.use_link(row["id"]):
        abort(410)
    auth.start_session("customer", row["email"], tenant_id=row["tenant_id"], link_id=row["id"])
    log.info("customer %s signed in to tenant %s", row["email"], row["tenant_id"])
    return redirect(url_for("dashboard.checklist", tenant_id=row["tenant_id"]))


@page(bp, "/tenants/<tenant_id>/links", template="signin/link_created.html", methods=("POST",))
@support_only
def create_link(tenant_id: str) -> Page:
    tenant, _ = tenant_or_404(tenant_id)
    email = request.form.get("email", "").strip()
    if "@" not in email:
        abort(400, "give the customer's e-mail address")
    url = auth.make_link(tenant_id, email, signed_in().name)
    hours = services().settings["SIGNIN_LINK_HOURS"]
    return Page({"url": url, "email": email, "expires_in_hours": hours}, html={"tenant": tenant})


@bp.cli.command("hash-password")
@click.argument("name")
def hash_password(name: str) -> None:
    """Print a SUPPORT_USERS entry (name:hash) for a password typed twice."""
    password = getpass.getpass("Password: ")
    if password != getpass.getpass("Again: "):
        raise click.ClickException("the passwords differ")
    click.echo(f"{name}:{generate_password_hash(password)}")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.before_request(auth.guard)
    app.jinja_env.globals.update(csrf_token=auth.csrf_token, visitor=auth.visitor)
