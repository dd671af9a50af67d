"""The HR-source seam, proved end to end with a second source the server does not ship: a
people directory (tests/minimal_source.py) registered by the test. Its webhook comes in over
HTTP, the worker reads the directory, the tenant's own rules decide, and the TH sandbox is
written over HTTP, with no line of the pipeline, rules engine or store knowing the source.
The same tenant shows the one decision value a job keeps, on success, refusal and crash."""

import json
import threading
from dataclasses import replace
from types import SimpleNamespace

import pytest
import requests

from server import serve
from tests.fixtures_app import TH_KEY
from tests.minimal_source import KIND, directory_kind
from thsync.core.errors import UnknownSource
from thsync.pipeline.worker import Worker
from thsync.sources.base import HRSource
from thsync.sources.employment_hero.source import EmploymentHeroSource
from thsync.sources.registry import forget_source, register_source, source_names

TOKEN = "tok-staff-0123456789abcdefghij"
TENANT_YAML = f"""\
name: Staff Directory Ltd
mode: live
time_zone: Europe/London
source: {KIND}
tribal_habits:
  base_url: {{th_url}}/papi
  api_key: ${{{{STAFF_TH_API_KEY}}}}
webhook:
  token: ${{{{STAFF_WEBHOOK_TOKEN}}}}
"""
RULES_YAML = """\
description: People from the directory into Tribal Habits
events: [person.created, person.changed, person.left, reconciliation]
intake:
  event_type: type
  event_id: uuid
  employee_id: person
  organisation_id: org
fetch:
  employee: true
  manager: true
  custom_fields: true
extract:
  user_name: employee.id
  first_name: employee.given
  last_name: employee.family
  email: employee.mail
  manager_email: manager.mail
  status: employee.status
  site: custom_fields.Site
payload:
  user_name: "{{ user_name }}"
  first_name: "{{ first_name }}"
  last_name: "{{ last_name }}"
  email: "{{ email }}"
  manager_email: "{{ manager_email }}"
  active: true
  X-Location: "{{ site }}"
create_only: [user_name]
rules:
  leavers:
    triggers: ["*"]
    when: {match: {value: fields.status, op: equals, to: left}}
    action: deactivate
  joiners:
    triggers: [person.created]
    action: upsert
  changes:
    triggers: [person.changed]
    action: update
"""
BOSS = {"id": "m-1", "given": "Mia", "family": "Boss", "mail": "mia@staff.example"}
ANA = {
    "id": "p-1",
    "given": "Ana",
    "family": "Lopez",
    "mail": "ana@staff.example",
    "boss": "m-1",
    "status": "active",
    "fields": {"Site": "North"},
}


@pytest.fixture
def directory(tmp_path):
    path = tmp_path / "directory.json"
    path.write_text(json.dumps({"people": {"m-1": BOSS, "p-1": ANA}}))
    register_source(directory_kind(path))
    yield path
    forget_source(KIND)


@pytest.fixture
def env():
    return {"STAFF_TH_API_KEY": TH_KEY, "STAFF_WEBHOOK_TOKEN": TOKEN}


@pytest.fixture
def dirs(tmp_path, sandboxes, directory):
    """Only the directory tenant, with its own rule file (no standard.yaml in sight)."""
    rules, tenants = tmp_path / "rules", tmp_path / "tenants"
    rules.mkdir()
    tenants.mkdir()
    (rules / "staff.yaml").write_text(RULES_YAML)
    (tenants / "staff.yaml").write_text(TENANT_YAML.format(th_url=sandboxes.th.url))
    return {"rules": rules, "tenants": tenants}


@pytest.fixture
def served(app):
    server = serve(app, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def edit(directory, person_id, **changes):
    data = json.loads(directory.read_text())
    data["people"][person_id].update(changes)
    directory.write_text(json.dumps(data))


def send(served, event_type, person_id, event_id):
    body = {"type": event_type, "uuid": event_id, "person": person_id, "org": "staff"}
    response = requests.post(f"{served}/webhooks/staff/{TOKEN}", json=body, timeout=10)
    assert response.status_code == 202, response.text


def sync(app, served, event_type, person_id, event_id) -> object:
    send(served, event_type, person_id, event_id)
    services = app.extensions["thsync"]
    assert Worker(services, name="seam", rand=lambda: 0.5).drain() == 1
    return services.store.history.find()[0]


def test_a_second_source_runs_the_whole_pipeline(app, served, sandboxes, directory):
    created = sync(app, served, "person.created", "p-1", "e-1")
    assert (created.status, created.outcome) == ("succeeded", "created")
    assert created.decision["rule"] == "joiners"
    user = sandboxes.th_users()["p-1"]
    assert (user["first_name"], user["last_name"]) == ("Ana", "Lopez")
    assert user["email"] == "ana@staff.example"
    assert user["manager_email"] == "mia@staff.example"
    assert user["X-Location"] == "North"

    edit(directory, "p-1", family="Lopez-Reyes", fields={"Site": "South"})
    updated = sync(app, served, "person.changed", "p-1", "e-2")
    assert (updated.status, updated.outcome) == ("succeeded", "updated")
    assert set(updated.decision["changes"]) == {"last_name", "X-Location"}
    user = sandboxes.th_users()["p-1"]
    assert (user["last_name"], user["X-Location"]) == ("Lopez-Reyes", "South")

    edit(directory, "p-1", status="left")
    left = sync(app, served, "person.left", "p-1", "e-3")
    assert (left.status, left.outcome) == ("succeeded", "deactivated")
    assert sandboxes.th_users()["p-1"]["active"] is False


def test_the_source_reads_the_webhook_and_names_itself(app, served, sandboxes):
    response = requests.post(
        f"{served}/webhooks/staff/{TOKEN}", json={"type": "person.created"}, timeout=10
    )
    assert response.status_code == 422
    assert response.json()["error"] == "no employee id at person"
    gone = sync(app, served, "person.changed", "p-404", "e-9")
    assert (gone.status, gone.outcome) == ("skipped", "not_in_eh")
    assert gone.reason == "the people directory has no person p-404"


def test_only_the_directory_and_th_are_called(app, served, sandboxes):
    job = sync(app, served, "person.created", "p-1", "e-1")
    calls = [c for a in app.extensions["thsync"].store.history.attempts(job.id) for c in a["calls"]]
    assert calls and {c["service"] for c in calls} == {"th"}


DECISION_KEYS = [
    "action",
    "rule",
    "reason",
    "extracted",
    "payload",
    "create_only",
    "problems",
    "trace",
]


def test_a_job_keeps_one_decision_serialised_once(app, served, sandboxes):
    job = sync(app, served, "person.created", "p-1", "e-1")
    assert list(job.decision) == [*DECISION_KEYS, "changes"]
    [attempt] = app.extensions["thsync"].store.history.attempts(job.id)
    assert attempt["decision"] == job.decision


def test_a_decision_with_problems_fails_the_job_and_keeps_what_was_rendered(
    app, served, sandboxes, directory
):
    edit(directory, "p-1", mail=None)
    job = sync(app, served, "person.created", "p-1", "e-1")
    assert (job.status, job.outcome) == ("failed", "failed")
    assert list(job.decision) == DECISION_KEYS
    assert job.decision["problems"] == [
        "rule 'joiners' → payload.email: missing required field email"
    ]
    assert job.decision["payload"]["user_name"] == "p-1"
    assert sandboxes.th_writes() == []


def test_a_refused_write_keeps_the_decision_on_the_failed_job(app, served, sandboxes, directory):
    sync(app, served, "person.created", "p-1", "e-1")
    data = json.loads(directory.read_text())
    data["people"]["p-2"] = {**ANA, "id": "p-2", "given": "Ann"}  # Ana's e-mail: TH refuses
    directory.write_text(json.dumps(data))
    job = sync(app, served, "person.created", "p-2", "e-2")
    assert (job.status, job.outcome) == ("failed", "failed")
    assert job.decision["rule"] == "joiners"
    assert job.decision["payload"]["user_name"] == "p-2"
    assert "changes" not in job.decision
    [attempt] = app.extensions["thsync"].store.history.attempts(job.id)
    assert attempt["decision"] == job.decision and attempt["error"].startswith("PermanentError")


def test_a_crash_in_a_source_is_retried_without_a_decision(app, served, sandboxes, directory):
    directory.write_text(json.dumps({"staff": {}}))  # the source's own bug: a KeyError
    send(served, "person.created", "p-1", "e-1")
    services = app.extensions["thsync"]
    assert Worker(services, name="seam", rand=lambda: 0.5).drain(max_jobs=1) == 1
    [job] = services.store.history.find()
    assert job.status == "retry"
    assert job.last_error.startswith("KeyError: ")
    assert job.decision is None
    [attempt] = services.store.history.attempts(job.id)
    assert (attempt["outcome"], attempt["decision"]) == ("retry", None)


def test_the_cli_does_not_swallow_a_bug_as_a_domain_error(app, sandboxes, directory):
    directory.write_text(json.dumps({"staff": {}}))
    result = app.test_cli_runner().invoke(args=["reconcile", "run", "staff"])
    assert result.exit_code == 1
    assert isinstance(result.exception, KeyError)
    assert "Error:" not in result.output
    [rec] = app.extensions["thsync"].store.reconciliations.find("staff")
    assert rec["status"] == "failed"


def test_each_source_meets_the_protocol_and_an_unknown_kind_is_named(app, directory):
    services = app.extensions["thsync"]
    tenant, _ = services.registry.get("staff")
    assert isinstance(services.source_for(tenant), HRSource)
    eh_tenant = SimpleNamespace(id="acme", eh_limiter_key="eh:acme")
    assert isinstance(EmploymentHeroSource(services, eh_tenant), HRSource)
    assert source_names() == ["directory", "employment_hero"]
    with pytest.raises(UnknownSource, match=r"unknown source 'workday' \(known: directory, "):
        services.source_for(replace(tenant, source="workday"))
