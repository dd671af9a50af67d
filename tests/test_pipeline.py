"""End to end over real HTTP: EH sandbox fires a webhook → intake → worker → EH API → rules →
TH sandbox. One ManualClock drives the server and both sandboxes."""

import json

import pytest

from thsync.core.errors import NeedsReauthorisation

MANAGER = "a1e2c3d4-0000-4000-8000-000000000001"
JORDAN = "a1e2c3d4-0000-4000-8000-000000000042"
MERE = "a1e2c3d4-0000-4000-8000-000000000101"
TOM = "a1e2c3d4-0000-4000-8000-000000000077"
SASHA = "a1e2c3d4-0000-4000-8000-000000000555"


def store_of(app):
    return app.extensions["thsync"].store


def only_job(app):
    [job] = store_of(app).history.find()
    return job


def calls_of(app, job):
    return [c for a in store_of(app).history.attempts(job.id) for c in a["calls"]]


def seed_th(sandboxes, **user):
    sandboxes.th_admin("POST", "/_admin/users", {"portal": "acme", "user": user})


def create_jordan(fire, worker, sandboxes):
    fire("employee_created", JORDAN)
    assert worker.drain() == 1
    return sandboxes.th_users()[JORDAN]


def test_new_person_is_created_with_fields_and_manager_email(worker, fire, sandboxes, connected):
    user = create_jordan(fire, worker, sandboxes)
    assert user["first_name"] == "Jordan"
    assert user["last_name"] == "McAllister"
    assert user["email"] == "jordan.mcallister@harbourline.example"
    assert user["manager_email"] == "priya.nair@harbourline.example"
    assert user["active"] is True
    assert user["X-Job Title"] == "Warehouse Team Leader"
    assert user["X-Location"] == "Port Botany"
    assert user["X-Team"] == "Warehouse;Forklift Licensed"
    assert user["X-Employment Type"] == "Full-time"
    job = only_job(connected)
    assert (job.status, job.outcome) == ("succeeded", "created")
    assert job.decision["rule"] == "new-people"


def test_manager_email_comes_from_a_second_eh_fetch(worker, fire, sandboxes, connected):
    create_jordan(fire, worker, sandboxes)
    eh_paths = [c["path"] for c in calls_of(connected, only_job(connected)) if c["service"] == "eh"]
    assert any(p.endswith(f"/employees/{JORDAN}") for p in eh_paths)
    assert any(p.endswith(f"/employees/{MANAGER}") for p in eh_paths)


def test_update_with_no_change_writes_nothing(worker, fire, sandboxes, connected):
    create_jordan(fire, worker, sandboxes)
    writes = len(sandboxes.th_writes())
    fire("employee_updated", JORDAN)
    assert worker.drain() == 1
    assert len(sandboxes.th_writes()) == writes
    latest = store_of(connected).history.find()[0]
    assert (latest.status, latest.outcome) == ("succeeded", "unchanged")


def test_update_of_one_field_sends_only_that_key(worker, fire, sandboxes, connected):
    create_jordan(fire, worker, sandboxes)
    sandboxes.eh_admin("PATCH", f"/_admin/employees/{JORDAN}", {"job_title": "Warehouse Manager"})
    fire("employee_updated", JORDAN)
    assert worker.drain() == 1
    last_write = sandboxes.th_writes()[-1]
    assert last_write["method"] == "PUT"
    assert last_write["body"] == {"X-Job Title": "Warehouse Manager"}
    assert sandboxes.th_users()[JORDAN]["X-Job Title"] == "Warehouse Manager"


def test_offboarding_deactivates_and_rehire_reactivates(worker, fire, sandboxes, connected):
    seed_th(
        sandboxes,
        user_name=TOM,
        first_name="Tom",
        last_name="O'Brien",
        email="tom.obrien@harbourline.example",
        active=True,
    )
    fire("employee_offboarding", TOM)
    assert worker.drain() == 1
    assert sandboxes.th_users()[TOM]["active"] is False
    assert sandboxes.th_writes()[-1]["body"] == {"active": False}
    assert only_job(connected).outcome == "deactivated"

    sandboxes.eh_admin(
        "PATCH", f"/_admin/employees/{TOM}", {"status": "active", "start_date": "2026-12-01"}
    )
    fire("employee_updated", TOM)
    assert worker.drain() == 1
    assert sandboxes.th_users()[TOM]["active"] is True
    assert store_of(connected).history.find()[0].decision["rule"] == "rehires"


def test_contractor_is_excluded_without_touching_th(worker, fire, sandboxes, connected):
    fire("employee_created", SASHA)
    assert worker.drain() == 1
    job = only_job(connected)
    assert (job.status, job.outcome) == ("skipped", "skipped")
    assert "contractor" in job.reason
    assert not [c for c in calls_of(connected, job) if c["service"] == "th"]
    assert SASHA not in sandboxes.th_users()


def test_duplicate_delivery_writes_once(worker, fire, sandboxes, connected):
    first = fire("employee_created", JORDAN, event_id="evt-dup-1")
    second = fire("employee_created", JORDAN, event_id="evt-dup-1")
    assert json.loads(second["body"])["status"] == "duplicate"
    assert json.loads(first["body"])["status"] == "accepted"
    assert worker.drain() == 1
    assert len([w for w in sandboxes.th_writes() if w["method"] == "POST"]) == 1


def test_out_of_order_delivery_ends_with_eh_state(worker, fire, sandboxes, connected):
    create_jordan(fire, worker, sandboxes)
    sandboxes.eh_admin("PATCH", f"/_admin/employees/{JORDAN}", {"job_title": "Shift Lead"})
    sandboxes.eh_admin("PATCH", f"/_admin/employees/{JORDAN}", {"job_title": "Site Manager"})
    fire("employee_updated", JORDAN, event_id="evt-2-newest")
    assert worker.drain() == 1
    fire("employee_updated", JORDAN, event_id="evt-1-stale")  # arrives last, describes the past
    assert worker.drain() == 1
    assert sandboxes.th_users()[JORDAN]["X-Job Title"] == "Site Manager"
    assert store_of(connected).history.find()[0].outcome == "unchanged"


def test_a_burst_becomes_one_sync(worker, fire, sandboxes, connected):
    for event in ("employee_created", "employee_updated", "employee_onboarded"):
        fire(event, JORDAN)
    assert worker.drain() == 1
    job = only_job(connected)
    assert job.event_types == ["employee_created", "employee_updated", "employee_onboarded"]
    assert job.outcome == "created"


def test_th_500s_are_retried_until_success(worker, fire, sandboxes, connected):
    sandboxes.th_admin("POST", "/_admin/faults", {"kind": "500", "count": 2})
    fire("employee_created", JORDAN)
    assert worker.drain() == 3
    job = only_job(connected)
    assert (job.status, job.outcome, job.attempts) == ("succeeded", "created", 3)
    outcomes = [a["outcome"] for a in store_of(connected).history.attempts(job.id)]
    assert outcomes == ["retry", "retry", "succeeded"]
    assert JORDAN in sandboxes.th_users()


def test_th_429_pauses_the_portal_for_60_seconds(worker, fire, sandboxes, connected, clock):
    sandboxes.th_admin("POST", "/_admin/faults", {"kind": "429", "count": 1})
    fire("employee_created", JORDAN)
    assert worker.drain() == 1
    job = only_job(connected)
    assert (job.status, job.attempts) == ("retry", 0)  # the pause spends no attempt
    th_calls = len(sandboxes.th_admin("GET", "/_admin/requests"))
    for _ in range(5):
        clock.advance(11)  # 55 s in all: still inside the pause
        assert worker.drain() == 0
    assert len(sandboxes.th_admin("GET", "/_admin/requests")) == th_calls
    clock.advance(6)
    assert worker.drain() == 1
    assert only_job(connected).status == "succeeded"


def test_permanent_422_fails_at_once_with_the_reason(worker, fire, sandboxes, connected):
    seed_th(
        sandboxes,
        user_name="someone-else",
        first_name="J",
        last_name="M",
        email="jordan.mcallister@harbourline.example",
        active=True,
    )
    fire("employee_created", JORDAN)
    assert worker.drain() == 1
    job = only_job(connected)
    assert (job.status, job.attempts) == ("failed", 1)
    assert "jordan.mcallister@harbourline.example" in job.reason
    assert JORDAN not in sandboxes.th_users()


def test_failed_job_can_be_retried_from_the_cli(worker, fire, sandboxes, connected):
    seed_th(
        sandboxes,
        user_name="someone-else",
        first_name="J",
        last_name="M",
        email="jordan.mcallister@harbourline.example",
        active=True,
    )
    fire("employee_created", JORDAN)
    worker.drain()
    sandboxes.eh_admin(
        "PATCH", f"/_admin/employees/{JORDAN}", {"company_email": "jordan.m@harbourline.example"}
    )
    result = connected.test_cli_runner().invoke(args=["jobs", "retry", "--tenant", "acme"])
    assert "1 job(s) queued again" in result.output
    assert worker.drain() == 1
    assert only_job(connected).status == "succeeded"
    assert sandboxes.th_users()[JORDAN]["email"] == "jordan.m@harbourline.example"


def test_expired_eh_token_is_refreshed_once(worker, fire, sandboxes, connected):
    sandboxes.eh_admin("POST", "/_admin/expire_tokens")
    fire("employee_created", JORDAN)
    fire("employee_created", MANAGER)
    assert worker.drain() == 2
    refreshes = [
        r for r in sandboxes.eh_admin("GET", "/_admin/requests") if r["path"] == "/oauth2/token"
    ]
    assert len(refreshes) == 2  # the code exchange at connect, then one refresh
    assert {j.status for j in store_of(connected).history.find()} == {"succeeded"}


def test_token_near_expiry_is_refreshed_before_use(worker, fire, sandboxes, connected, clock):
    clock.advance(15 * 60 - 30)  # 30 s left: inside the 60 s margin
    fire("employee_created", JORDAN)
    assert worker.drain() == 1
    statuses = [
        r["status"]
        for r in sandboxes.eh_admin("GET", "/_admin/requests")
        if r["path"].startswith("/api/")
    ]
    assert 401 not in statuses
    assert only_job(connected).status == "succeeded"


def test_invalid_grant_marks_the_tenant_for_reauthorisation(worker, fire, sandboxes, connected):
    sandboxes.eh_admin("POST", "/_admin/expire_tokens")
    sandboxes.eh_admin("POST", "/_admin/faults", {"kind": "invalid_grant", "count": 1})
    fire("employee_created", JORDAN)
    assert worker.drain() == 1
    job = only_job(connected)
    assert job.status == "failed"
    assert NeedsReauthorisation.__name__ in job.last_error
    connection = store_of(connected).connections.get("acme")
    assert connection["status"] == "needs_reauth"


@pytest.mark.parametrize("create_on", ["employee_onboarded"])
def test_tenant_trigger_override_delays_creation(
    worker, fire, sandboxes, connected, dirs, create_on
):
    (dirs["rules"] / "acme.yaml").write_text(
        f"extends: standard\noptions:\n  create_on: {create_on}\n"
    )
    fire("employee_created", MERE)
    assert worker.drain() == 1
    assert MERE not in sandboxes.th_users()
    assert only_job(connected).outcome == "absent"
    fire("employee_onboarded", MERE)
    assert worker.drain() == 1
    assert sandboxes.th_users()[MERE]["email"] == "mere.tamihana@mail.example"
