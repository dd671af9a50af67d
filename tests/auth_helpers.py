"""Signing in as support or as a tenant's customer, through the real forms."""

import re

from werkzeug.security import generate_password_hash

SUPPORT_PASSWORD = "correct horse battery staple"
# Few iterations: hashing is the slow part of signing in, and tests sign in often.
SUPPORT_USERS = "support:" + generate_password_hash(SUPPORT_PASSWORD, method="pbkdf2:sha256:1000")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(client, path: str = "/sign-in") -> str:
    page = client.get(path)
    return CSRF.search(page.get_data(as_text=True)).group(1)


def sign_in_support(client, name="support", password=SUPPORT_PASSWORD):
    token = csrf_of(client)
    form = {"csrf_token": token, "username": name, "password": password, "next": ""}
    return client.post("/sign-in", data=form)


def support_client(app):
    client = app.test_client()
    response = sign_in_support(client)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def customer_link(app, tenant_id: str, email: str = "hr@acme.example") -> str:
    support = support_client(app)
    form = {"csrf_token": csrf_of(support, f"/tenants/{tenant_id}/checklist"), "email": email}
    response = support.post(f"/tenants/{tenant_id}/links.json", data=form)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["url"]


def use_link(client, url: str):
    path = url.split("://", 1)[1].split("/", 1)[1]
    token = csrf_of(client, "/" + path)
    return client.post("/" + path, data={"csrf_token": token})


def customer_client(app, tenant_id: str = "acme"):
    client = app.test_client()
    response = use_link(client, customer_link(app, tenant_id))
    assert response.status_code == 302, response.get_data(as_text=True)
    return client
