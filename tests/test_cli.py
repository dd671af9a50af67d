"""Support's commands through Flask's CLI runner."""

import json

from tests.fixtures_app import DATA


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_rules_check_passes_on_good_files(app):
    result = run(app, "rules", "check")
    assert result.exit_code == 0, result.output
    assert "ok   acme" in result.output
    assert "1 tenant(s) checked, 0 error(s)" in result.output


def test_rules_check_prints_every_error_and_exits_1(app, dirs):
    (dirs["rules"] / "acme.yaml").write_text(
        "extends: standard\nrules:\n  updates:\n    acton: skip\n  leavers:\n    when: 'a ==='\n"
    )
    result = run(app, "rules", "check")
    assert result.exit_code == 1
    assert "rules/acme.yaml:4: rule 'updates' → acton: unknown key" in result.output
    assert "rules/acme.yaml:6: rule 'leavers' → when: " in result.output
    assert "1 tenant(s) checked, 2 error(s)" in result.output


def test_rules_check_names_a_missing_tenant(app):
    result = run(app, "rules", "check", "nobody")
    assert result.exit_code == 1
    assert "nobody: no tenant file tenants/nobody.yaml" in result.output


def test_preview_shows_decision_fields_and_payload_without_sending(app, sandboxes, tmp_path):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"event": "employee_created", "data": {"id": "x"}}))
    result = run(
        app,
        "rules",
        "preview",
        "acme",
        "--event",
        str(event),
        "--employee",
        str(DATA / "employee-active.json"),
        "--manager",
        str(DATA / "employee-manager.json"),
        "--now",
        "2026-11-28T09:00:00+11:00",
    )
    assert result.exit_code == 0, result.output
    decision = json.loads(result.output)
    assert (decision["action"], decision["rule"]) == ("upsert", "new-people")
    assert decision["payload"]["manager_email"] == "priya.nair@harbourline.example"
    assert decision["extracted"]["job_title"] == "Warehouse Team Leader"
    assert sandboxes.th_admin("GET", "/_admin/requests") == []


def test_settings_lists_every_setting(app):
    result = run(app, "settings")
    assert "TH_CALLS_PER_MINUTE=290" in result.output
    assert "DATABASE_URL=''" in result.output


def test_the_readme_documents_every_setting():
    from pathlib import Path

    from thsync.config.settings import SETTINGS

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in readme]
    assert missing == []


def test_worker_once_runs_what_is_due_and_replay_syncs_again(connected, fire, sandboxes, clock):
    delivered = fire("employee_created", "a1e2c3d4-0000-4000-8000-000000000042")
    delivery_id = json.loads(delivered["body"])["delivery_id"]
    clock.advance(5)  # past the coalescing window
    result = run(connected, "worker", "--once")
    assert result.output.strip() == "1 job(s) run"
    sandboxes.eh_admin(
        "PATCH",
        "/_admin/employees/a1e2c3d4-0000-4000-8000-000000000042",
        {"job_title": "Dock Supervisor"},
    )
    replayed = run(connected, "deliveries", "replay", str(delivery_id))
    assert replayed.output.strip() == f"delivery {delivery_id} queued as job 2"
    assert run(connected, "worker", "--once").output.strip() == "1 job(s) run"
    user = sandboxes.th_users()["a1e2c3d4-0000-4000-8000-000000000042"]
    assert user["X-Job Title"] == "Dock Supervisor"
    listed = run(connected, "jobs", "list", "--tenant", "acme").output.splitlines()
    assert [line.split("\t")[3:5] for line in listed] == [
        ["succeeded", "updated"],
        ["succeeded", "created"],
    ]


def test_replay_refuses_an_unknown_delivery(app):
    result = run(app, "deliveries", "replay", "999")
    assert result.exit_code == 1
    assert "delivery 999 does not exist or names no employee" in result.output


def test_a_domain_error_is_reported_cleanly(app):
    result = run(app, "reconcile", "run", "nobody")
    assert result.exit_code == 1
    assert result.output == "Error: unknown tenant nobody (or its file does not load)\n"
    assert isinstance(result.exception, SystemExit)


def test_deciding_a_hold_that_is_not_open_is_reported_cleanly(app):
    for command in ("release", "discard"):
        result = run(app, "holds", command, "99")
        assert result.exit_code == 1
        assert result.output == "Error: hold 99 does not exist or was already decided\n"
