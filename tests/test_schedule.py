"""Effective dates with one ManualClock for the server and both sandboxes: creation on the start
date and deactivation at the end of the last day, in the tenant's time zone; durable scheduled
actions that survive a restart and fire once across processes."""

import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from server import create_app
from tests.lifecycle_helpers import MERE, TOM, set_options, set_time_zone
from thsync.pipeline.worker import Worker
from thsync.store.repositories import Store

REPO = Path(__file__).resolve().parents[1]


def store(app):
    return app.extensions["thsync"].store


def pending(app) -> list:
    return store(app).schedule.find("acme")


def at(text: str, zone: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def advance_to(clock, when: float) -> None:
    clock.advance(when - clock.now())


def seed_tom(sandboxes, **employee):
    sandboxes.th_admin(
        "POST",
        "/_admin/users",
        {
            "portal": "acme",
            "user": {
                "user_name": TOM,
                "first_name": "Tom",
                "last_name": "O'Brien",
                "email": "tom.obrien@harbourline.example",
                "active": True,
            },
        },
    )
    sandboxes.eh_admin("PATCH", f"/_admin/employees/{TOM}", employee)


def test_a_future_hire_is_created_on_the_start_date_in_sydney(
    connected, sandboxes, dirs, fire, worker, clock
):
    set_options(dirs, create_on_start_date=True, reconcile_every_hours=0)
    fire("employee_created", MERE)  # starts 2026-12-14; today is 2026-11-18 in Sydney
    assert worker.drain() == 1
    [job] = connected.extensions["thsync"].store.history.find()
    assert (job.status, job.outcome) == ("skipped", "scheduled")
    assert job.reason == (
        "starts 2026-12-14: creation scheduled for 2026-12-14 00:00 Australia/Sydney"
    )
    [action] = pending(connected)
    due = at("2026-12-14T00:00:00", "Australia/Sydney")
    assert (action["employee_id"], action["action"], action["due_at"]) == (MERE, "create", due)

    advance_to(clock, due - 1)  # 23:59:59 on the 13th in Sydney (13:00 UTC on the 13th)
    assert worker.drain() == 0
    assert MERE not in sandboxes.th_users()
    clock.advance(1)
    assert worker.drain() == 1
    assert sandboxes.th_users()[MERE]["email"] == "mere.tamihana@mail.example"
    latest = connected.extensions["thsync"].store.history.find()[0]
    assert (latest.event_types, latest.outcome) == (["start_date_reached"], "created")
    assert pending(connected) == []


def test_a_start_date_moved_in_eh_moves_the_creation(connected, sandboxes, dirs, fire, worker):
    set_options(dirs, create_on_start_date=True, create_days_before_start=2)
    fire("employee_created", MERE)
    worker.drain()
    sandboxes.eh_admin("PATCH", f"/_admin/employees/{MERE}", {"start_date": "2027-01-11"})
    fire("employee_updated", MERE)
    worker.drain()
    [action] = [a for a in pending(connected) if a["action"] == "create"]
    assert action["due_at"] == at("2027-01-09T00:00:00", "Australia/Sydney")


def test_a_termination_dated_today_in_auckland_fires_at_the_end_of_the_auckland_day(
    connected, sandboxes, dirs, fire, worker, clock
):
    set_time_zone(dirs, "Pacific/Auckland")
    set_options(dirs, deactivate_at_end_of_last_day=True, reconcile_every_hours=0)
    # The clock says 11:06 UTC on the 18th: 00:06 on the 19th in Auckland, the last day there
    # (still the 18th in Sydney and in UTC).
    seed_tom(sandboxes, status="terminated", termination_date="2026-11-19")
    fire("employee_offboarding", TOM)
    assert worker.drain() == 1
    [job] = connected.extensions["thsync"].store.history.find()
    assert job.reason == (
        "last day 2026-11-19: deactivation scheduled for 2026-11-20 00:00 Pacific/Auckland"
    )
    assert sandboxes.th_users()[TOM]["active"] is True
    end_of_day = at("2026-11-20T00:00:00", "Pacific/Auckland")  # 11:00 UTC on the 19th

    advance_to(clock, end_of_day - 1)
    assert worker.drain() == 0
    assert sandboxes.th_users()[TOM]["active"] is True
    clock.advance(1)
    assert worker.drain() == 1
    assert sandboxes.th_users()[TOM]["active"] is False
    assert connected.extensions["thsync"].store.history.find()[0].outcome == "deactivated"


def test_a_rescinded_termination_cancels_the_deactivation(
    connected, sandboxes, dirs, fire, worker, clock
):
    set_options(dirs, deactivate_at_end_of_last_day=True, reconcile_every_hours=0)
    seed_tom(sandboxes, status="active", termination_date="2026-11-20")
    fire("employee_offboarding", TOM)
    worker.drain()
    assert [a["action"] for a in pending(connected)] == ["deactivate"]
    sandboxes.eh_admin("PATCH", f"/_admin/employees/{TOM}", {"termination_date": None})
    fire("employee_updated", TOM)
    worker.drain()
    assert pending(connected) == []
    [cancelled] = store(connected).schedule.find("acme", status="cancelled")
    assert (cancelled["action"], cancelled["reason"]) == ("deactivate", "EH changed")
    clock.advance(7 * 86400)
    assert worker.drain() == 0
    assert sandboxes.th_users()[TOM]["active"] is True


def test_a_restart_loses_no_scheduled_action(
    connected, sandboxes, dirs, fire, worker, clock, db_url, env, tmp_path
):
    set_options(dirs, create_on_start_date=True, reconcile_every_hours=0)
    fire("employee_created", MERE)
    worker.drain()
    connected.extensions["thsync"].close()  # the server stops

    restarted = create_app(
        {
            "DATABASE_URL": db_url,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "RULES_DIR": str(dirs["rules"]),
            "TENANTS_DIR": str(dirs["tenants"]),
            "ENV": env,
            "RUN_WORKER": False,
            "RELOAD_SECONDS": 0,
            "THSYNC_ENCRYPTION_KEY": "",
            "PUBLIC_URL": "http://127.0.0.1:1",
        },
        clock=clock,
    )
    try:
        [action] = pending(restarted)
        advance_to(clock, action["due_at"])
        assert Worker(restarted.extensions["thsync"], name="after-restart").drain() == 1
        assert MERE in sandboxes.th_users()
    finally:
        restarted.extensions["thsync"].close()


def test_support_lists_and_cancels_scheduled_actions(connected, dirs, fire, worker):
    set_options(dirs, create_on_start_date=True, reconcile_every_hours=0)
    fire("employee_created", MERE)
    worker.drain()
    runner = connected.test_cli_runner()
    listed = runner.invoke(args=["schedule", "list", "--tenant", "acme"]).output
    assert listed == (
        f"#1\tacme\t{MERE}\tcreate\t2026-12-14 00:00 Australia/Sydney\tpending\tstart date\n"
    )
    assert runner.invoke(args=["schedule", "cancel", "1"]).output == (
        "scheduled action 1 cancelled\n"
    )
    assert pending(connected) == []
    again = runner.invoke(args=["schedule", "cancel", "1"])
    assert (again.exit_code, again.output) == (1, "Error: no pending scheduled action 1\n")


def test_the_periodic_reconciliation_runs_at_the_tenants_hour(connected, sandboxes, worker, clock):
    worker.drain()  # plans the first one: 02:00 tomorrow in Sydney
    [action] = pending(connected)
    assert (action["action"], action["due_at"]) == (
        "reconcile",
        at("2026-11-19T02:00:00", "Australia/Sydney"),
    )
    advance_to(clock, action["due_at"])
    worker.drain()
    [rec] = store(connected).reconciliations.find("acme")
    assert (rec["trigger"], rec["status"], rec["summary"]["created"]) == ("schedule", "done", 3)
    [following] = pending(connected)
    assert following["due_at"] == action["due_at"] + 24 * 3600


FIRE_LOOP = """
import json, sys
from thsync.store.repositories import Store
store = Store(sys.argv[1])
fired, idle = [], 0
while idle < 3:
    batch = store.schedule.fire_due(limit=2)
    fired += [a["id"] for a in batch]
    idle = 0 if batch else idle + 1
print(json.dumps(fired))
"""


def test_two_processes_on_postgresql_fire_each_action_once(pg_url):
    store = Store(pg_url)
    store.upgrade()
    due = time.time() - 60
    ids = [store.schedule.plan("acme", f"emp-{n}", "create", due, "start date") for n in range(40)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", FIRE_LOOP, pg_url], cwd=REPO, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [json.loads(p.communicate(timeout=60)[0]) for p in processes]
    assert sorted(outputs[0] + outputs[1]) == sorted(ids)  # every action, none twice
    jobs = store.history.find(tenant_id="acme", limit=100)
    assert len(jobs) == 40
    assert {tuple(j.event_types) for j in jobs} == {("start_date_reached",)}
    store.close()
