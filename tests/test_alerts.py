"""Alert e-mails through a real SMTP server (aiosmtpd): content, grouping within the hour with a
count, the resolved message, re-authorisation, silence, and SMTP trouble that never stops syncing.
"""

import email
import socket
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller

from server import create_app
from tests.auth_helpers import SUPPORT_USERS
from tests.fixtures_app import connect

JORDAN = "a1e2c3d4-0000-4000-8000-000000000042"
JORDAN_NAME = f"Jordan McAllister (EH id {JORDAN})"


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"

    def subjects(self) -> list[str]:
        return [" ".join(m["Subject"].split()) for m in self.messages]  # unfolded


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SMTPServer:
    def __init__(self):
        self.port = free_port()
        self.inbox = Inbox()
        self.controller = None

    def start(self):
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp():
    server = SMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app(db_url, clock, dirs, env, tmp_path, smtp):
    """The fixtures' app, with alerts going to the test's SMTP server."""
    app = create_app(
        {
            "DATABASE_URL": db_url,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "RULES_DIR": str(dirs["rules"]),
            "TENANTS_DIR": str(dirs["tenants"]),
            "ENV": env,
            "RUN_WORKER": False,
            "RELOAD_SECONDS": 0,
            "COALESCE_SECONDS": 2,
            "PUBLIC_URL": "http://127.0.0.1:1",
            "SUPPORT_USERS": SUPPORT_USERS,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": smtp.port,
        },
        clock=clock,
    )
    yield app
    app.extensions["thsync"].close()


def tick(app):
    app.extensions["thsync"].alert_desk.tick(force=True)


def seed_email_clash(sandboxes):
    user = {
        "user_name": "someone-else",
        "first_name": "J",
        "last_name": "M",
        "email": "jordan.mcallister@harbourline.example",
        "active": True,
    }
    sandboxes.th_admin("POST", "/_admin/users", {"portal": "acme", "user": user})


def fail_jordan(fire, worker, event_id):
    fire("employee_created", JORDAN, event_id=event_id)
    assert worker.drain() == 1


def test_a_permanent_failure_names_the_person_the_reason_and_the_event(
    worker, fire, sandboxes, smtp, connected
):
    seed_email_clash(sandboxes)
    fail_jordan(fire, worker, "evt-1")
    tick(connected)
    [message] = smtp.inbox.messages
    assert smtp.inbox.subjects() == [
        f"[Acme Logistics] Tribal Habits sync failed for {JORDAN_NAME}"
    ]
    assert message["To"] == "hr@acme.example"
    body = message.get_content()
    job = connected.extensions["thsync"].store.history.find()[0]
    assert f"could not update {JORDAN_NAME}." in body
    assert f"Why: {job.reason}" in body
    assert f"See the details: http://127.0.0.1:1/tenants/acme/events/{job.id}" in body


def test_repeats_within_the_hour_are_one_email_then_a_count(
    worker, fire, sandboxes, smtp, connected, clock
):
    seed_email_clash(sandboxes)
    for n in range(3):
        fail_jordan(fire, worker, f"evt-{n}")
        clock.advance(60)
    tick(connected)
    assert len(smtp.inbox.messages) == 1
    clock.advance(30 * 60)
    tick(connected)
    assert len(smtp.inbox.messages) == 1  # still inside the hour
    clock.advance(30 * 60)
    tick(connected)
    assert smtp.inbox.subjects()[1].startswith("[Acme Logistics] 2 more: syncs failing: ")
    assert "This happened 2 times since the last e-mail" in smtp.inbox.messages[1].get_content()
    tick(connected)
    assert len(smtp.inbox.messages) == 2


def test_a_resolved_email_follows_when_syncing_works_again(
    worker, fire, sandboxes, smtp, connected, clock
):
    seed_email_clash(sandboxes)
    fail_jordan(fire, worker, "evt-1")
    clock.advance(60)
    sandboxes.eh_admin(
        "PATCH", f"/_admin/employees/{JORDAN}", {"company_email": "jordan.m@harbourline.example"}
    )
    fire("employee_created", JORDAN, event_id="evt-2")
    assert worker.drain() == 1
    tick(connected)
    assert smtp.inbox.subjects()[1].startswith("[Acme Logistics] Resolved: syncs failing: ")
    assert "It happened 1 time in all." in smtp.inbox.messages[1].get_content()
    tick(connected)
    assert len(smtp.inbox.messages) == 2


def test_eh_needing_reauthorisation_is_alerted_once_then_resolved(
    worker, fire, sandboxes, smtp, connected
):
    sandboxes.eh_admin("POST", "/_admin/expire_tokens")
    sandboxes.eh_admin("POST", "/_admin/faults", {"kind": "invalid_grant", "count": 1})
    fire("employee_created", JORDAN)
    worker.drain()
    tick(connected)
    tick(connected)
    reauth = [s for s in smtp.inbox.subjects() if "connected again" in s]
    assert reauth == ["[Acme Logistics] Employment Hero needs to be connected again"]
    connect(connected, sandboxes)
    tick(connected)
    assert smtp.inbox.subjects()[-1] == (
        "[Acme Logistics] Resolved: the Employment Hero connection needs re-authorisation"
    )


def test_silence_from_a_live_tenant_is_alerted_after_business_days(
    worker, fire, smtp, connected, clock
):
    fire("employee_created", JORDAN)  # Wednesday
    worker.drain()
    clock.advance(4 * 86400)  # Sunday: Thursday and Friday are 2 business days
    tick(connected)
    assert smtp.inbox.messages == []
    clock.advance(86400)  # Monday: 3
    tick(connected)
    assert smtp.inbox.subjects() == [
        "[Acme Logistics] No webhooks from Employment Hero for 3 business days"
    ]
    fire("employee_updated", JORDAN)
    tick(connected)
    assert smtp.inbox.subjects()[-1] == (
        "[Acme Logistics] Resolved: no webhooks are arriving from Employment Hero"
    )


def test_smtp_trouble_is_retried_and_never_stops_syncing(
    worker, fire, sandboxes, smtp, connected, clock
):
    smtp.stop()
    seed_email_clash(sandboxes)
    fail_jordan(fire, worker, "evt-1")
    tick(connected)
    store = connected.extensions["thsync"].store
    [mail] = store.outbox.find()
    assert (mail["attempts"], mail["sent_at"]) == (1, None)
    assert mail["last_error"].startswith("ConnectionRefusedError")
    fire("employee_created", "a1e2c3d4-0000-4000-8000-000000000001")
    assert worker.drain() == 1  # syncing went on
    smtp.start()
    clock.advance(61)
    tick(connected)
    assert len(smtp.inbox.messages) == 1
    assert store.outbox.find()[0]["sent_at"] == clock.now()


def test_a_sync_that_keeps_failing_is_alerted_then_resolved(
    worker, fire, sandboxes, smtp, connected
):
    sandboxes.th_admin("POST", "/_admin/faults", {"kind": "500", "count": 3})
    fire("employee_created", JORDAN)
    assert worker.drain() == 4  # three failures, then through
    tick(connected)
    first, resolved = smtp.inbox.subjects()
    assert first == f"[Acme Logistics] Tribal Habits sync failed for {JORDAN_NAME}"
    body = smtp.inbox.messages[0].get_content()
    assert "Why: still failing after 3 attempts, and retrying: " in body
    assert resolved.startswith("[Acme Logistics] Resolved: syncs failing: still failing after")


def test_a_silent_mail_server_times_out_instead_of_holding_the_worker(app, monkeypatch):
    import socket
    import time

    from thsync.alerts import mail as alerts

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never says hello
    monkeypatch.setattr(alerts, "SMTP_TIMEOUT", 0.5)
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=silent.getsockname()[1])
    mail = alerts.TimelyMail(app)
    started = time.monotonic()
    with app.app_context(), pytest.raises(OSError):
        mail.connect().configure_host()
    assert time.monotonic() - started < 5
    silent.close()
