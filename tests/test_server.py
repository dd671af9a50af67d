"""The app factory's promises: production refuses to start without its secrets, budgets are
shared between processes, exhausted jobs are kept."""

import pytest

from server import create_app
from thsync.config.settings import SettingsError
from thsync.core.errors import RateLimited
from thsync.core.ratelimit import Limiter
from thsync.pipeline.worker import Worker
from thsync.store.repositories import Store

JORDAN = "a1e2c3d4-0000-4000-8000-000000000042"


def test_production_refuses_to_start_without_its_secrets(tmp_path):
    with pytest.raises(SettingsError) as caught:
        create_app(
            {
                "MODE": "production",
                "INSTANCE_PATH": str(tmp_path),
                **dict.fromkeys(("SECRET_KEY", "THSYNC_ENCRYPTION_KEY", "DATABASE_URL"), ""),
                "PUBLIC_URL": "",
            }
        )
    assert str(caught.value) == (
        "production mode needs these settings, which are empty: SECRET_KEY, "
        "THSYNC_ENCRYPTION_KEY, DATABASE_URL, PUBLIC_URL"
    )


def test_production_serves_no_sandbox_and_skips_the_demo_tenant(tmp_path, db_url):
    from cryptography.fernet import Fernet

    app = create_app(
        {
            "MODE": "production",
            "SECRET_KEY": "s" * 32,
            "THSYNC_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "DATABASE_URL": db_url,
            "PUBLIC_URL": "https://sync.example.com",
            "INSTANCE_PATH": str(tmp_path),
            "ENV": {},
        }
    )
    services = app.extensions["thsync"]
    assert services.registry.tenants() == []  # tenants/demo.yaml is development_only
    assert services.registry.errors() == {}
    assert not any(r.rule.startswith("/_admin") for r in app.url_map.iter_rules())
    assert app.config["SESSION_COOKIE_SECURE"] is True
    services.close()


def test_the_call_budget_is_shared_between_processes(db_url, clock):
    first, second = Store(db_url, clock), Store(db_url, clock)
    first.upgrade()
    mine, theirs = (
        Limiter(first.budgets, clock, max_wait=0.001),
        Limiter(second.budgets, clock, max_wait=0.001),
    )
    for _ in range(5):  # the burst allowance, taken by one process
        mine.acquire("th:acme.tribalhabits.com", 240)
    with pytest.raises(RateLimited):
        theirs.acquire("th:acme.tribalhabits.com", 240)
    mine.block("th:acme.tribalhabits.com", 60)
    assert "th:acme.tribalhabits.com" in theirs.blocked_until()
    first.close()
    second.close()


def test_exhausted_jobs_are_kept_as_failed_with_the_last_error(connected, sandboxes, fire):
    services = connected.extensions["thsync"]
    services.settings["MAX_ATTEMPTS"] = 3
    worker = Worker(services, name="w", rand=lambda: 0.5)
    sandboxes.th_admin("POST", "/_admin/faults", {"kind": "500", "count": 10})
    fire("employee_created", JORDAN)
    assert worker.drain() == 3
    [job] = services.store.history.find()
    assert (job.status, job.attempts) == ("failed", 3)
    assert job.reason.startswith("gave up after 3 attempts: ")
    assert len(services.store.history.attempts(job.id)) == 3


def test_many_workers_refresh_the_eh_token_once(connected, sandboxes, clock):
    import threading

    services = connected.extensions["thsync"]
    tenant, _ = services.registry.get("acme")
    clock.advance(15 * 60 - 30)  # every worker now finds the token within the refresh margin
    results, barrier = [], threading.Barrier(4)

    def work():
        with services.source_for(tenant) as eh:
            barrier.wait()
            results.append(eh.client.user_info()["email"])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["integrations@harbourline.example"] * 4
    token_calls = [
        r for r in sandboxes.eh_admin("GET", "/_admin/requests") if r["path"] == "/oauth2/token"
    ]
    assert [r["token_kind"] for r in token_calls] == ["authorization_code", "refresh_token"]
