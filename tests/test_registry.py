"""Edits are picked up without a restart; a broken edit keeps the last good version running."""

from tests.auth_helpers import support_client
from thsync.config.registry import Registry

BROKEN = "extends: standard\nrules:\n  updates:\n    acton: skip\n"


def test_a_broken_edit_keeps_the_last_good_rules_and_says_why(app, dirs):
    services = app.extensions["thsync"]
    _, before = services.registry.get("acme")
    (dirs["rules"] / "acme.yaml").write_text(BROKEN)
    tenant, after = services.registry.get("acme")
    assert tenant is not None
    assert after is before
    [problem] = services.registry.errors()["acme"]
    assert problem.startswith("rules/acme.yaml:4: rule 'updates' → acton: unknown key")
    assert "did you mean 'action'?" in problem
    page = support_client(app).get("/index.json").get_json()
    assert page["load_errors"]["acme"] == [problem]


def test_a_good_edit_replaces_the_rules(app, dirs):
    services = app.extensions["thsync"]
    _, before = services.registry.get("acme")
    (dirs["rules"] / "acme.yaml").write_text("extends: standard\noptions:\n  create_on: active\n")
    _, after = services.registry.get("acme")
    assert after is not before
    assert after.options["create_on"] == "active"
    assert services.registry.errors() == {}


def test_a_broken_tenant_file_at_start_is_reported_not_served(tmp_path, clock):
    tenants, rules = tmp_path / "tenants", tmp_path / "rules"
    tenants.mkdir()
    rules.mkdir()
    (tenants / "acme.yaml").write_text("name: [\n")
    registry = Registry(tenants, rules, clock, env={})
    assert registry.get("acme") == (None, None)
    [problem] = registry.errors()["acme"]
    assert problem.startswith("tenants/acme.yaml:")


def test_a_removed_tenant_is_no_longer_served(app, dirs):
    services = app.extensions["thsync"]
    (dirs["tenants"] / "acme.yaml").unlink()
    assert services.registry.get("acme") == (None, None)
