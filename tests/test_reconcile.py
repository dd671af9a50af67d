"""Reconciliation against both sandboxes over real HTTP: EH is the truth, webhooks are hints."""

from tests.lifecycle_helpers import JORDAN, MANAGER, MERE, SASHA, TOM, person, set_options
from thsync.people.reconcile import reconcile


def services(app):
    return app.extensions["thsync"]


def run(app, tenant="acme", **kwargs) -> dict:
    return reconcile(services(app), tenant, **kwargs)


def names(items) -> list:
    return sorted(item.get("user_name") or item["employee_id"] for item in items)


def seed_th(sandboxes, **user):
    sandboxes.th_admin("POST", "/_admin/users", {"portal": "acme", "user": user})


def eh_calls(sandboxes) -> list:
    return [
        r for r in sandboxes.eh_admin("GET", "/_admin/requests") if r["path"].startswith("/api")
    ]


def test_a_first_reconciliation_creates_everyone_the_rules_create(connected, sandboxes):
    result = run(connected)
    report = result["report"]
    assert names(report["created"]) == [MANAGER, JORDAN, MERE]
    assert report["skipped"] == [
        {
            "employee_id": SASHA,
            "name": "Sasha Petrov",
            "reason": "independent contractor (contractors are synced only with "
            "options.include_contractors)",
        }
    ]
    assert report["unchanged"] == 1  # Tom left and TH never had him
    assert sandboxes.th_users()[JORDAN]["manager_email"] == "priya.nair@harbourline.example"


def test_fifty_webhooks_never_delivered_are_all_recovered(connected, sandboxes):
    run(connected)  # the seeded people are in step
    sandboxes.eh_admin("DELETE", "/_admin/requests")
    sandboxes.th_admin("DELETE", "/_admin/requests")
    sandboxes.eh_admin("POST", "/_admin/employees", [person(n) for n in range(50)])

    result = run(connected)

    report = result["report"]
    hired = sorted(person(n)["id"] for n in range(50))
    assert names(report["created"]) == hired
    assert sorted(r["employee_id"] for r in report["recovered"]) == hired
    assert {r["webhook"] for r in report["recovered"]} == {
        "no webhook was received for this person"
    }
    assert result["summary"]["recovered"] == 50
    assert report["calls"] == {"eh": 1, "th": 1 + 50, "th_writes": 50}  # one page each + writes
    users = sandboxes.th_users()
    assert users[person(7)["id"]]["email"] == "person7@harbourline.example"
    assert users[person(7)["id"]]["manager_email"] == "priya.nair@harbourline.example"
    stored = services(connected).store.reconciliations.get(result["id"])
    assert (stored["status"], stored["summary"]["created"]) == ("done", 50)


def test_managers_come_from_the_employee_list_not_a_call_each(connected, sandboxes):
    sandboxes.eh_admin("POST", "/_admin/employees", [person(n) for n in range(120)])
    sandboxes.eh_admin("DELETE", "/_admin/requests")
    run(connected)
    paths = [r["path"] for r in eh_calls(sandboxes)]
    assert len(paths) == 2  # 125 people: two pages of 100
    assert all(p.endswith("/employees") for p in paths)


def test_the_drift_report_says_what_differed_before_and_after(connected, sandboxes):
    run(connected)
    sandboxes.eh_admin("PATCH", f"/_admin/employees/{JORDAN}", {"job_title": "Site Manager"})
    seed_th(
        sandboxes,
        user_name=TOM,
        first_name="Tom",
        last_name="O'Brien",
        email="tom.obrien@harbourline.example",
        active=True,
    )
    seed_th(sandboxes, user_name="hand-made", first_name="H", last_name="M", email="h@x.example")

    report = run(connected)["report"]

    assert report["updated"] == [
        {
            "employee_id": JORDAN,
            "name": "Jordan McAllister",
            "user_name": JORDAN,
            "changes": {
                "X-Job Title": {"before": "Warehouse Team Leader", "after": "Site Manager"}
            },
        }
    ]
    assert names(report["deactivated"]) == [TOM]
    assert report["unknown"] == [
        {"user_name": "hand-made", "email": "h@x.example", "active": True, "action": "reported"}
    ]
    assert sandboxes.th_users()["hand-made"]["active"] is True  # reported, never touched
    assert sandboxes.th_users()[TOM]["active"] is False
    assert sandboxes.th_writes()[-2:] == [
        {**sandboxes.th_writes()[-2], "body": {"X-Job Title": "Site Manager"}},
        {**sandboxes.th_writes()[-1], "body": {"active": False}},
    ]
    assert names(report["recovered"]) == sorted([JORDAN, TOM])


def test_a_dry_run_reports_and_writes_nothing(connected, sandboxes):
    result = run(connected, dry_run=True)
    assert names(result["report"]["created"]) == [MANAGER, JORDAN, MERE]
    assert result["report"]["dry_run"] is True
    assert sandboxes.th_writes() == []
    assert sandboxes.th_users() == {}


def test_unknown_users_are_deactivated_only_when_the_tenant_says_so(connected, sandboxes, dirs):
    run(connected)
    seed_th(sandboxes, user_name="hand-made", first_name="H", last_name="M", email="h@x.example")
    set_options(dirs, unknown_users="deactivate")
    report = run(connected)["report"]
    assert report["unknown"][0]["action"] == "deactivate"
    assert names(report["deactivated"]) == ["hand-made"]
    assert report["recovered"] == []  # nobody's webhook could have caught a hand-made user
    assert sandboxes.th_users()["hand-made"]["active"] is False


def test_people_with_a_webhook_job_on_its_way_are_left_to_it(connected, sandboxes, fire):
    fire("employee_created", JORDAN)  # queued, not run yet
    report = run(connected)["report"]
    assert [s for s in report["skipped"] if s["employee_id"] == JORDAN] == [
        {
            "employee_id": JORDAN,
            "name": "Jordan McAllister",
            "reason": "a webhook job for this person is waiting or running",
        }
    ]
    assert JORDAN not in sandboxes.th_users()


def test_a_failed_webhook_job_is_named_in_the_report(connected, sandboxes, fire, worker):
    seed_th(
        sandboxes, user_name="x", first_name="X", last_name="Y", email="person1@harbourline.example"
    )
    sandboxes.eh_admin("POST", "/_admin/employees", [person(1)])
    fire("employee_created", person(1)["id"])
    worker.drain()  # fails: the e-mail belongs to user x
    seed_th(sandboxes, user_name="x", first_name="X", last_name="Y", email="x@elsewhere.example")
    report = run(connected)["report"]
    [recovered] = [r for r in report["recovered"] if r["employee_id"] == person(1)["id"]]
    assert recovered["webhook"].startswith("the webhook's job #1 failed")


def test_cli_runs_and_shows_a_reconciliation(connected, sandboxes):
    runner = connected.test_cli_runner()
    result = runner.invoke(args=["reconcile", "run", "acme", "--dry-run"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "reconciliation #1 of acme (dry run: nothing was written)"
    assert "created: 3" in lines
    assert (
        f"  Jordan McAllister ({JORDAN}): create, recovered by reconciliation "
        "(no webhook was received for this person)"
    ) in lines
    assert lines[-1] == "API calls: EH 1, TH 1 (0 writes)"
    shown = runner.invoke(args=["reconcile", "show", "1"])
    assert shown.output == result.output
    listed = runner.invoke(args=["reconcile", "list", "--tenant", "acme"])
    assert listed.output.startswith("#1\tacme\tdone\tdry run\tcreated 3, skipped 1")


def test_shadow_and_paused_tenants_are_reported_and_not_written(connected, sandboxes):
    from thsync.people.modes import set_mode

    tenant, _ = services(connected).registry.get("acme")
    set_mode(services(connected), tenant, "shadow", "test")
    shadow = run(connected)["report"]
    assert (shadow["mode"], names(shadow["created"])) == ("shadow", [MANAGER, JORDAN, MERE])
    assert services(connected).store.people.by_employee("acme") == {}
    set_mode(services(connected), tenant, "paused", "test")
    paused = run(connected)["report"]
    assert (paused["mode"], paused["dry_run"]) == ("paused", True)
    assert sandboxes.th_writes() == []


def test_a_future_start_is_scheduled_not_created_by_reconciliation(connected, sandboxes, dirs):
    set_options(dirs, create_on_start_date=True, reconcile_every_hours=0)
    report = run(connected)["report"]
    assert names(report["created"]) == [MANAGER, JORDAN]
    assert report["scheduled"] == [
        {"employee_id": MERE, "action": "create", "due": "2026-12-14 00:00 Australia/Sydney"}
    ]
    assert [s for s in report["skipped"] if s["employee_id"] == MERE] == [
        {
            "employee_id": MERE,
            "name": "Mere Tamihana",
            "user_name": MERE,
            "reason": "starts 2026-12-14: creation scheduled for 2026-12-14 00:00 Australia/Sydney",
        }
    ]
    [action] = services(connected).store.schedule.find("acme")
    assert (action["employee_id"], action["action"]) == (MERE, "create")
    assert MERE not in sandboxes.th_users()
