"""Safeguards over real HTTP: mass deactivation held and e-mailed, switches, identity, managers'
e-mail changes, e-mail conflicts. Alerts go to a real SMTP server on a local port."""

import pytest

from tests.lifecycle_helpers import JORDAN, MANAGER, Outbox, person, set_options
from thsync.core.errors import UnknownTenant
from thsync.people import safeguards
from thsync.people.reconcile import reconcile

SUPPORT = "support@tribalhabits.example"


class SentOutbox(Outbox):
    """The SMTP sink, read after the worker's send step: alert e-mails wait in the database
    outbox until the worker sends them."""

    def __init__(self, app):
        super().__init__()
        self.app = app

    @property
    def messages(self):
        self.app.extensions["thsync"].alert_desk.flush()
        return self._received

    @messages.setter
    def messages(self, value):
        self._received = value


@pytest.fixture
def outbox(app):
    box = SentOutbox(app)
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=box.port)
    services = app.extensions["thsync"]
    services.mail.init_app(app)  # Flask-Mail reads its settings at init
    services.settings["SUPPORT_EMAIL"] = SUPPORT
    services.settings.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=box.port)
    yield box
    box.stop()


def run(app, **kwargs) -> dict:
    return reconcile(app.extensions["thsync"], "acme", **kwargs)


def cli(app, *args) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def leave(sandboxes, n: int) -> None:
    sandboxes.eh_admin(
        "PATCH",
        f"/_admin/employees/{person(n)['id']}",
        {"status": "terminated", "termination_date": "2026-11-10"},
    )


def twenty_active(connected, sandboxes) -> None:
    """Priya, Jordan and Mere from the seed plus 17 more: 20 active users in TH."""
    sandboxes.eh_admin("POST", "/_admin/employees", [person(n) for n in range(17)])
    run(connected)
    active = [u for u in sandboxes.th_users().values() if u["active"]]
    assert len(active) == 20


def test_deactivating_30_percent_holds_everything_and_emails(connected, sandboxes, outbox):
    twenty_active(connected, sandboxes)
    for n in range(6):
        leave(sandboxes, n)

    report = run(connected)["report"]

    leavers = sorted(person(n)["id"] for n in range(6))
    assert report["deactivated"] == []
    assert sorted(h["user_name"] for h in report["held"]) == leavers
    assert all(sandboxes.th_users()[name]["active"] for name in leavers)
    [hold] = connected.extensions["thsync"].store.holds.find("acme")
    assert hold["reason"] == (
        "a reconciliation would deactivate 6 of 20 active users (more than the limit of 5); "
        "nobody was deactivated"
    )
    [mail] = outbox.messages
    assert sorted(mail["to"]) == sorted(["hr@acme.example", SUPPORT])
    assert "Subject: [Acme Logistics] 6 deactivations held for review" in mail["text"]
    assert f"- Person0 Example ({person(0)['id']})" in mail["text"]
    assert f"flask --app server holds release {hold['id']}" in mail["text"]

    released = cli(connected, "holds", "release", str(hold["id"]))
    assert released == f"hold {hold['id']} released: 6 deactivated, 0 failed\n"
    assert [name for name in leavers if sandboxes.th_users()[name]["active"]] == []
    assert connected.extensions["thsync"].store.holds.find("acme") == []


def test_a_discarded_hold_deactivates_nobody(connected, sandboxes, outbox):
    twenty_active(connected, sandboxes)
    for n in range(6):
        leave(sandboxes, n)
    run(connected)
    [hold] = connected.extensions["thsync"].store.holds.find("acme")
    assert cli(connected, "holds", "discard", str(hold["id"])) == (
        f"hold {hold['id']} discarded: nothing was done\n"
    )
    assert all(u["active"] for u in sandboxes.th_users().values())


def test_deactivations_up_to_the_limit_go_ahead(connected, sandboxes, outbox):
    twenty_active(connected, sandboxes)
    for n in range(5):
        leave(sandboxes, n)
    report = run(connected)["report"]
    assert len(report["deactivated"]) == 5
    assert report["held"] == []
    assert outbox.messages == []


def test_switches_turn_a_kind_of_write_off(connected, sandboxes, dirs, fire, worker):
    set_options(dirs, allow_create=False)
    report = run(connected)["report"]
    assert report["created"] == []
    reasons = {s["reason"] for s in report["skipped"] if s["employee_id"] != "x"}
    assert "create is switched off for this tenant (options.allow_create: false)" in reasons
    fire("employee_created", JORDAN)
    assert worker.drain() == 1
    [job] = connected.extensions["thsync"].store.history.find()
    assert (job.status, job.outcome) == ("skipped", "switched_off")
    assert job.reason == "create is switched off for this tenant (options.allow_create: false)"
    assert sandboxes.th_users() == {}


def test_a_changed_employee_code_does_not_create_a_duplicate(
    connected, sandboxes, dirs, fire, worker, outbox
):
    set_options(dirs, user_name_from="code")
    fire("employee_created", JORDAN)
    assert worker.drain() == 1
    sandboxes.eh_admin("PATCH", f"/_admin/employees/{JORDAN}", {"code": "HL-9999"})
    fire("employee_updated", JORDAN)
    assert worker.drain() == 1

    job = connected.extensions["thsync"].store.history.find()[0]
    assert (job.status, job.outcome) == ("skipped", "held")
    assert job.reason.startswith(
        "held (#1): the rules now give user_name 'HL-9999', but Tribal Habits knows this person "
        "as 'HL-0042'"
    )
    assert list(sandboxes.th_users()) == ["HL-0042"]
    [mail] = outbox.messages
    assert "Jordan McAllister (HL-9999) held: user_name would change" in mail["text"]
    report = run(connected)["report"]
    assert [h["employee_id"] for h in report["held"]] == [JORDAN]
    assert "HL-9999" not in sandboxes.th_users()
    assert len(outbox.messages) == 1  # held once, e-mailed once


def test_a_managers_new_email_reaches_their_reports(connected, sandboxes, fire, worker):
    fire("employee_created", MANAGER)
    fire("employee_created", JORDAN)
    assert worker.drain() == 2
    sandboxes.eh_admin(
        "PATCH", f"/_admin/employees/{MANAGER}", {"company_email": "priya.n@harbourline.example"}
    )
    fire("employee_updated", MANAGER)
    assert worker.drain() == 2  # the manager's sync, then their report's
    users = sandboxes.th_users()
    assert users[MANAGER]["email"] == "priya.n@harbourline.example"
    assert users[JORDAN]["manager_email"] == "priya.n@harbourline.example"
    manager_job = connected.extensions["thsync"].store.history.find()[1]
    assert manager_job.reason.endswith("manager e-mail changed: 1 report(s) queued")


def test_an_email_conflict_is_reported_and_alerted(connected, sandboxes, outbox):
    sandboxes.th_admin(
        "POST",
        "/_admin/users",
        {
            "portal": "acme",
            "user": {
                "user_name": "old-jordan",
                "first_name": "J",
                "last_name": "M",
                "email": "jordan.mcallister@harbourline.example",
            },
        },
    )
    report = run(connected)["report"]
    assert report["conflicts"] == [
        {
            "employee_id": JORDAN,
            "name": "Jordan McAllister",
            "user_name": JORDAN,
            "email": "jordan.mcallister@harbourline.example",
            "held_by": "old-jordan",
        }
    ]
    assert JORDAN not in sandboxes.th_users()
    [mail] = outbox.messages
    assert "1 e-mail conflict(s) found by reconciliation" in mail["text"]
    assert (
        "- Jordan McAllister: jordan.mcallister@harbourline.example already belongs to TH user "
        "old-jordan" in mail["text"]
    )


def test_a_burst_of_leaver_events_over_the_limit_is_held(
    connected, sandboxes, fire, worker, outbox
):
    twenty_active(connected, sandboxes)
    for n in range(7):
        leave(sandboxes, n)
        fire("employee_offboarding", person(n)["id"])
    assert worker.drain() == 7
    jobs = connected.extensions["thsync"].store.history.find(limit=7)
    assert sorted(j.outcome for j in jobs) == ["deactivated"] * 5 + ["held"] * 2
    [hold] = connected.extensions["thsync"].store.holds.find("acme")
    assert [i["user_name"] for i in hold["items"]] == [person(5)["id"], person(6)["id"]]
    assert len(outbox.messages) == 1
    assert hold["reason"] == (
        "a burst of events would deactivate 6 of 20 active users (more than the limit of 5); "
        "the first 5 went through; nobody more is deactivated"
    )


def test_releasing_a_hold_of_a_tenant_that_no_longer_loads_is_refused(app):
    services = app.extensions["thsync"]
    hold_id = services.store.holds.hold("gone", "mass_deactivation", "a burst", [])
    with pytest.raises(UnknownTenant):
        safeguards.release(services, hold_id)
    assert services.store.holds.get(hold_id)["status"] == "held"
