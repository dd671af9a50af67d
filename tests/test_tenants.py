"""Tenant files: secrets only as ${ENV} references, every problem reported with its line."""

from pathlib import Path

import pytest

from thsync.config.tenants import TenantFileErrors, load_tenant

GOOD = """\
name: Acme
time_zone: Australia/Sydney
employment_hero:
  client_id: acme-client
  client_secret: ${ACME_EH_SECRET}
tribal_habits:
  base_url: https://acme.tribalhabits.com/papi
  api_key: ${ACME_TH_KEY}
webhook:
  token: ${ACME_TOKEN}
"""
ENV = {"ACME_EH_SECRET": "s3cret", "ACME_TH_KEY": "k3y", "ACME_TOKEN": "t" * 32}


def write(tmp_path: Path, text: str, name="acme") -> Path:
    folder = tmp_path / "tenants"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


def errors_of(path: Path, env=ENV) -> list[str]:
    with pytest.raises(TenantFileErrors) as caught:
        load_tenant(path, env)
    return [str(e) for e in caught.value.errors]


def test_a_good_file_loads_with_defaults_and_resolved_secrets(tmp_path):
    tenant = load_tenant(write(tmp_path, GOOD), ENV)
    assert tenant.id == "acme"
    assert tenant.th_api_key == "k3y"
    assert tenant.th_update_mode == "partial"
    assert tenant.eh_api_base == "https://api.employmenthero.com/api/v1"
    assert tenant.eh_token_url == "https://oauth.employmenthero.com/oauth2/token"
    assert tenant.th_limiter_key == "th:acme.tribalhabits.com"
    assert "k3y" not in repr(tenant) and "s3cret" not in repr(tenant)


def test_a_literal_secret_is_refused_naming_the_key_and_line(tmp_path):
    path = write(tmp_path, GOOD.replace("${ACME_TH_KEY}", "abc123-literal-key"))
    assert errors_of(path) == [
        "tenants/acme.yaml:8: tribal_habits.api_key: a literal secret is not allowed in a tenant "
        "file; write ${ACME_TH_API_KEY} and set that variable in the server's environment"
    ]


def test_every_literal_secret_is_reported(tmp_path):
    text = GOOD.replace("${ACME_TH_KEY}", "k").replace("${ACME_TOKEN}", "t" * 30)
    text = text.replace("${ACME_EH_SECRET}", "s")
    keys = [e.split(": ")[1] for e in errors_of(write(tmp_path, text))]
    assert keys == ["employment_hero.client_secret", "tribal_habits.api_key", "webhook.token"]


def test_a_missing_environment_variable_is_named(tmp_path):
    env = {k: v for k, v in ENV.items() if k != "ACME_TH_KEY"}
    assert errors_of(write(tmp_path, GOOD), env) == [
        "tenants/acme.yaml:8: tribal_habits.api_key: environment variable ACME_TH_KEY is not set"
    ]


def test_unknown_key_lists_the_allowed_ones_and_suggests(tmp_path):
    text = GOOD.replace("webhook:\n", "tribal_habit:\n  x: 1\nwebhook:\n")
    assert errors_of(write(tmp_path, text)) == [
        "tenants/acme.yaml:9: tribal_habit: unknown key (allowed: id, development_only, mode, "
        "name, time_zone, source, employment_hero, tribal_habits, alerts, webhook); did you mean "
        "'tribal_habits'?"
    ]


def test_bad_values_are_reported_together(tmp_path):
    text = GOOD.replace("Australia/Sydney", "Mars/Olympus") + "alerts:\n  recipients: [a@b.c]\n"
    text = text.replace(
        "  api_key: ${ACME_TH_KEY}\n", "  api_key: ${ACME_TH_KEY}\n  update_mode: sometimes\n"
    )
    errors = errors_of(write(tmp_path, text))
    assert errors == [
        "tenants/acme.yaml:9: tribal_habits.update_mode: must be one of: partial, replace "
        "(was 'sometimes')"
    ]


def test_short_webhook_token_and_unknown_zone(tmp_path):
    text = GOOD.replace("Australia/Sydney", "Mars/Olympus")
    errors = errors_of(write(tmp_path, text), {**ENV, "ACME_TOKEN": "short"})
    assert errors == [
        "tenants/acme.yaml:2: time_zone: unknown time zone 'Mars/Olympus'",
        "tenants/acme.yaml:10: webhook.token: the token must be at least 24 characters",
    ]


def test_development_only_tenants_are_skipped_in_production(tmp_path):
    path = write(tmp_path, "development_only: true\n" + GOOD)
    assert load_tenant(path, {}, production=True) is None
    assert load_tenant(path, ENV).id == "acme"


def test_yaml_problems_carry_the_line(tmp_path):
    path = write(tmp_path, GOOD + "name: Again\n")
    [error] = errors_of(path)
    assert error.startswith("tenants/acme.yaml:11: ")
    assert "duplicate" in error


def test_the_source_is_employment_hero_when_the_file_says_none(tmp_path):
    assert load_tenant(write(tmp_path, GOOD), ENV).source == "employment_hero"
    text = "source: employment_hero\n" + GOOD
    assert load_tenant(write(tmp_path, text), ENV).source == "employment_hero"


def test_an_unknown_source_is_reported_with_its_line_and_the_known_ones(tmp_path):
    text = GOOD.replace(
        "time_zone: Australia/Sydney\n", "time_zone: Australia/Sydney\nsource: workday\n"
    )
    assert errors_of(write(tmp_path, text)) == [
        "tenants/acme.yaml:3: source: unknown source 'workday' (known: employment_hero)"
    ]


def test_employment_hero_needs_its_section(tmp_path):
    text = GOOD.replace(
        "employment_hero:\n  client_id: acme-client\n  client_secret: ${ACME_EH_SECRET}\n", ""
    )
    assert errors_of(write(tmp_path, text)) == [
        "tenants/acme.yaml: employment_hero: 'employment_hero' is required"
    ]
