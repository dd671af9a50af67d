"""Benchmark (c): what a reconciliation of 1,000 employees costs, in API calls and in time.

Both sandboxes enforce the real limits (EH 100/min and 20/s per token, TH 300/min per portal with
a 60 s block), and one ManualClock drives them and the server: every wait the limiter makes moves
the clock instead of sleeping, so minutes of rate-limited work run in seconds and the simulated
duration is exactly the time the limits cost.

Two runs:
- first: 1,000 people in EH, nobody in TH (1,000 creates);
- drift: then 30 job titles change, 20 people leave and 50 join, all without webhooks.

Each run is compared with
- the fewest calls possible: EH list pages (100 a page) + TH list pages (25 a page) + one write
  per real difference;
- the least time the services' own limits allow for those calls: at most 100 EH calls in any
  minute (and 20 in any second) and 300 TH calls in any minute, EH and TH in parallel; and the
  time those calls take at the limits' average rate (the server deliberately budgets TH at
  240/min, 80 % of the limit, so 1.25x of that is by design).

    python -m bench.reconcile [--people 1000]
"""

import argparse
import json
import math
import shutil
import tempfile
import time
from pathlib import Path

from sandboxes import eh as eh_sandbox
from sandboxes import th as th_sandbox
from sandboxes.serve import start
from server import create_app
from tests.auth_helpers import SUPPORT_USERS
from tests.fixtures_app import (
    CLIENT_ID,
    CLIENT_SECRET,
    CUSTOM_FIELDS,
    DATA,
    ORG,
    TENANT_YAML,
    TH_KEY,
    TOKEN,
    Sandboxes,
    connect,
)
from tests.lifecycle_helpers import person
from thsync.core.clock import ManualClock
from thsync.people.reconcile import reconcile

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
EH_LIMITS = ((100, 60.0), (20, 1.0))  # (calls, per seconds): EH's documented limits
TH_LIMITS = ((300, 60.0),)


def least_time(calls: int, limits) -> float:
    """The least time n calls take when each window of `seconds` may hold `limit` calls: the
    first `limit` go at once, the next `limit` a window later, and so on."""
    if calls <= 0:
        return 0.0
    return max(math.floor((calls - 1) / limit) * seconds for limit, seconds in limits)


def employee(n: int, manager_id: str) -> dict:
    if n == 0:
        return person(0, primary_manager=None, job_title="Operations Manager")
    return person(n, primary_manager={"id": manager_id, "name": "Person0 Example"})


def start_world(workdir: Path, clock):
    eh_app = eh_sandbox.create_app(
        {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [],
            "organisations": [{"id": ORG, "name": "Acme Logistics"}],
            "user": json.loads((DATA / "user-info.json").read_text())["data"],
            "clock": clock,
        }
    )
    th_app = th_sandbox.create_app(
        {
            "portals": {TH_KEY: {"name": "acme", "custom_fields": CUSTOM_FIELDS}},
            "clock": clock,
        }
    )
    boxes = Sandboxes(eh_app, th_app, start(eh_app), start(th_app))
    rules, tenants = workdir / "rules", workdir / "tenants"
    rules.mkdir()
    shutil.copy(REPO / "rules" / "standard.yaml", rules / "standard.yaml")
    tenants.mkdir()
    (tenants / "acme.yaml").write_text(
        TENANT_YAML.format(client_id=CLIENT_ID, eh_url=boxes.eh.url, th_url=boxes.th.url)
    )
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
            "INSTANCE_PATH": str(workdir / "instance"),
            "RULES_DIR": str(rules),
            "TENANTS_DIR": str(tenants),
            "ENV": {
                "ACME_EH_CLIENT_SECRET": CLIENT_SECRET,
                "ACME_TH_API_KEY": TH_KEY,
                "ACME_WEBHOOK_TOKEN": TOKEN,
            },
            "RUN_WORKER": False,
            "THSYNC_ENCRYPTION_KEY": "",
            "PUBLIC_URL": "http://127.0.0.1:1",
            "SUPPORT_USERS": SUPPORT_USERS,
            "LOG_LEVEL": "WARNING",
        },
        clock=clock,
    )
    connect(app, boxes)
    return app, boxes


def measure(app, boxes, clock, eh_people: int, th_users_before: int) -> dict:
    services = app.extensions["thsync"]
    boxes.eh_admin("DELETE", "/_admin/requests")
    boxes.th_admin("DELETE", "/_admin/requests")
    started, wall = clock.now(), time.perf_counter()
    result = reconcile(services, "acme")
    simulated, wall = clock.now() - started, time.perf_counter() - wall
    report, calls = result["report"], result["report"]["calls"]
    differences = sum(len(report[k]) for k in ("created", "updated", "deactivated"))
    minimum = {
        "eh_list_pages": math.ceil(eh_people / 100),
        "th_list_pages": max(1, math.ceil(th_users_before / 25)),
        "writes": differences,
    }
    minimum["total"] = sum(minimum.values())
    measured_total = calls["eh"] + calls["th"]
    least = max(least_time(calls["eh"], EH_LIMITS), least_time(calls["th"], TH_LIMITS))
    # A run too small to fill a window may, by the sliding windows, go all at once (least 0);
    # the limits' average rate (EH 100/min, TH 300/min) is the yardstick that still means
    # something then.
    average = max(calls["eh"] * 60 / 100, calls["th"] * 60 / 300)
    return {
        "summary": result["summary"],
        "calls": {**calls, "total": measured_total},
        "minimum_calls": minimum,
        "calls_ratio": round(measured_total / minimum["total"], 3),
        "simulated_seconds": round(simulated, 1),
        "least_seconds_under_real_limits": least,
        "time_ratio": round(simulated / least, 2) if least else None,
        "seconds_at_the_limits_average_rate": round(average, 1),
        "time_ratio_to_average_rate": round(simulated / average, 2),
        "rejected_429": count_429(boxes),
        "wall_seconds": round(wall, 2),
    }


def count_429(boxes) -> int:
    logs = boxes.eh_admin("GET", "/_admin/requests") + boxes.th_admin("GET", "/_admin/requests")
    return sum(1 for entry in logs if entry.get("status") == 429)


def drift(boxes, people: int) -> int:
    """30 changed job titles, 20 leavers and 50 joiners, none with a webhook."""
    for n in range(1, 31):
        boxes.eh_admin("PATCH", f"/_admin/employees/{person(n)['id']}", {"job_title": "Driver"})
    for n in range(31, 51):
        boxes.eh_admin(
            "PATCH",
            f"/_admin/employees/{person(n)['id']}",
            {"status": "terminated", "termination_date": "2026-11-01"},
        )
    joiners = [employee(n, person(0)["id"]) for n in range(people, people + 50)]
    boxes.eh_admin("POST", "/_admin/employees", joiners)
    return people + 50


def run_bench(people: int) -> dict:
    clock = ManualClock(start=1_795_000_000.0)
    with tempfile.TemporaryDirectory() as tmp:
        app, boxes = start_world(Path(tmp), clock)
        try:
            staff = [employee(n, person(0)["id"]) for n in range(people)]
            boxes.eh_admin("POST", "/_admin/employees", staff)
            first = measure(app, boxes, clock, eh_people=people, th_users_before=0)
            in_eh = drift(boxes, people)
            second = measure(app, boxes, clock, eh_people=in_eh, th_users_before=people)
        finally:
            app.extensions["thsync"].close()
            boxes.eh.stop()
            boxes.th.stop()
    return {"people": people, "first": first, "drift": second}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1000)
    args = parser.parse_args()
    results = run_bench(args.people)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "reconcile.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
