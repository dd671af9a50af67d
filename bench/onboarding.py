"""Benchmark (f): bulk onboarding under the real limits.

P new people for one tenant (an `employee_created` webhook each, through the intake) with both
sandboxes at their REAL limits (TH 300 calls a minute per portal, then a 60 s block; EH 100 a
minute and 20 a second per token) and the server at its default budgets. As in bench.reconcile,
one ManualClock drives the sandboxes and the server: every wait (the limiter's, a 429 block,
the worker's idle poll) moves the clock instead of sleeping, so minutes of rate-limited work run
in seconds and the simulated duration is the time the limits cost. The worker loop is the
product's own (`Worker(services).run_once()`, and `clock.sleep(WORKER_POLL_SECONDS)` when it
finds nothing, as run_forever does).

Compared with
- the TH quota minimum: the TH writes needed (one create per person) at 300 a minute
  (300 people: 60 s);
- the least time all the calls each job makes allow under both sandboxes' limits (EH: employee
  and manager reads at 100 a minute; TH: lookup and create at 300 a minute; in parallel).
- the same calls at the limits' average rate (EH 100 a minute, TH 300 a minute); the server
  budgets EH at 90 and TH at 240 a minute by design, so 1.11x of that is expected.
429s are counted from both sandboxes' request logs.

    python -m bench.onboarding [--people 300,1000]
"""

import argparse
import json
import re
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
from werkzeug.security import generate_password_hash

from bench.world import (
    CLIENT_ID,
    CLIENT_SECRET,
    CUSTOM_FIELDS,
    FINISHED,
    ORG,
    REPO,
    SUPPORT_PASSWORD,
    TENANT_YAML,
    WEBHOOK_TOKEN,
    employee,
    th_key,
    webhook_body,
    write_result,
)
from sandboxes import eh as eh_sandbox
from sandboxes import th as th_sandbox
from sandboxes.serve import start
from server import create_app
from thsync.core.clock import ManualClock
from thsync.pipeline.worker import Worker

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
EH_LIMITS = ((100, 60.0), (20, 1.0))
TH_LIMITS = ((300, 60.0),)


def least_time(calls: int, limits) -> float:
    """The least time n calls take when each window of `seconds` may hold `limit` calls."""
    if calls <= 0:
        return 0.0
    return max(((calls - 1) // limit) * seconds for limit, seconds in limits)


def connect(client, eh_url: str) -> None:
    """Support signs in; the customer's Connect round trip (our link, EH consent, callback)."""
    page = client.get("/sign-in").get_data(as_text=True)
    form = {"csrf_token": CSRF.search(page).group(1), "username": "support"}
    answer = client.post("/sign-in", data={**form, "password": SUPPORT_PASSWORD, "next": ""})
    if answer.status_code != 302:
        raise RuntimeError("support sign-in failed")
    authorize = client.get("/tenants/t000/connect").headers["Location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    consent = requests.post(
        authorize.split("?")[0], data={**query, "approve": "1"}, allow_redirects=False, timeout=30
    )
    back = urlsplit(consent.headers["Location"])
    if client.get(f"{back.path}?{back.query}").status_code != 200:
        raise RuntimeError("the OAuth callback failed")


def build(workdir: Path, clock):
    eh_app = eh_sandbox.create_app(
        {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [],
            "organisations": [{"id": ORG, "name": "Bench Org", "time_zone": "Australia/Sydney"}],
            "clock": clock,
        }
    )
    th_app = th_sandbox.create_app(
        {"portals": {th_key(0): {"name": "t000", "custom_fields": CUSTOM_FIELDS}}, "clock": clock}
    )
    eh, th = start(eh_app), start(th_app)
    rules, tenants = workdir / "rules", workdir / "tenants"
    rules.mkdir()
    shutil.copy(REPO / "rules" / "standard.yaml", rules / "standard.yaml")
    tenants.mkdir()
    (tenants / "t000.yaml").write_text(
        TENANT_YAML.format(n="000", client_id=CLIENT_ID, eh_url=eh.url, th_url=th.url)
    )
    support = "support:" + generate_password_hash(SUPPORT_PASSWORD, method="pbkdf2:sha256:1000")
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
            "INSTANCE_PATH": str(workdir / "instance"),
            "RULES_DIR": str(rules),
            "TENANTS_DIR": str(tenants),
            "ENV": {
                "BENCH_EH_CLIENT_SECRET": CLIENT_SECRET,
                "BENCH_TH_KEY_000": th_key(0),
                "BENCH_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
            },
            "RUN_WORKER": False,
            "COALESCE_SECONDS": 0,
            "WORKER_POLL_SECONDS": 1.0,
            "RELOAD_SECONDS": 0,
            "THSYNC_ENCRYPTION_KEY": "",
            "PUBLIC_URL": "http://127.0.0.1:1",
            "SUPPORT_USERS": support,
            "LOG_LEVEL": "WARNING",
        },
        clock=clock,
    )
    return app, eh, th


def admin(url: str, method: str, path: str, payload=None):
    answer = requests.request(method, url + path, json=payload, timeout=60)
    answer.raise_for_status()
    return answer.json() if answer.content else None


def finished(app) -> int:
    db = app.extensions["thsync"].store.db  # read-only: how many jobs are finished
    statuses = ", ".join(f"'{s}'" for s in FINISHED)
    with db.engine.connect() as conn:
        return conn.exec_driver_sql(
            f"SELECT count(*) FROM jobs WHERE status IN ({statuses})"
        ).scalar()


def onboard(people: int) -> dict:
    clock = ManualClock(start=1_796_100_000.0)
    with tempfile.TemporaryDirectory(prefix="thsync-bench-") as tmp:
        app, eh, th = build(Path(tmp), clock)
        services = app.extensions["thsync"]
        try:
            client = app.test_client()
            connect(client, eh.url)
            staff = [employee(0, n) for n in range(people + 1)]  # person 0: everyone's manager
            admin(eh.url, "POST", "/_admin/employees", staff)
            admin(eh.url, "DELETE", "/_admin/requests")
            admin(th.url, "DELETE", "/_admin/requests")
            for i, person in enumerate(staff[1:]):
                answer = client.post(
                    f"/webhooks/t000/{WEBHOOK_TOKEN}",
                    json=webhook_body(person, "employee_created", f"o{i}"),
                )
                if answer.status_code not in (200, 202):
                    raise RuntimeError(f"webhook refused: {answer.status_code}")
            worker = Worker(services, name="bench-onboarding", rand=lambda: 0.5)
            poll = services.settings["WORKER_POLL_SECONDS"]
            started, wall = clock.now(), time.perf_counter()
            loops, deadline = 0, time.monotonic() + 3600
            with app.app_context():
                while loops < 1_000_000 and time.monotonic() < deadline:
                    loops += 1
                    if worker.run_once() is None:
                        if finished(app) >= people:
                            break
                        clock.sleep(poll)
            simulated, wall = clock.now() - started, time.perf_counter() - wall
            eh_log = admin(eh.url, "GET", "/_admin/requests")
            th_log = admin(th.url, "GET", "/_admin/requests")
            in_th = len(admin(th.url, "GET", "/_admin/users?portal=t000"))
        finally:
            services.close()
            eh.stop()
            th.stop()
    eh_calls = [e for e in eh_log if e["path"].startswith("/api/")]
    th_calls = [e for e in th_log if e["path"].startswith("/papi/")]
    th_writes = [e for e in th_calls if e["method"] in ("POST", "PUT") and e["status"] < 300]
    quota = people * 60 / 300  # the TH writes needed, at 300 a minute
    least = max(least_time(len(eh_calls), EH_LIMITS), least_time(len(th_calls), TH_LIMITS))
    average = max(len(eh_calls) * 60 / 100, len(th_calls) * 60 / 300)
    return {
        "people": people,
        "in_th_after": in_th,
        "simulated_seconds": round(simulated, 1),
        "th_quota_minimum_seconds": quota,
        "ratio_to_th_quota_minimum": round(simulated / quota, 2),
        "calls": {"eh": len(eh_calls), "th": len(th_calls), "th_writes": len(th_writes)},
        "least_seconds_for_these_calls_under_real_limits": least,
        "ratio_to_least_for_these_calls": round(simulated / least, 2) if least else None,
        # what a run too small to fill a window may still be held to: the limits' average rate
        "seconds_at_the_limits_average_rate": round(average, 1),
        "ratio_to_the_limits_average_rate": round(simulated / average, 2),
        "rejected_429": {
            "eh": sum(1 for e in eh_log if e.get("status") == 429),
            "th": sum(1 for e in th_log if e.get("status") == 429),
        },
        "wall_seconds": round(wall, 1),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", default="300", help="comma-separated, e.g. 300,1000")
    args = parser.parse_args(argv)
    report = {"at": time.strftime("%Y-%m-%d %H:%M:%S")}
    for people in [int(p) for p in args.people.split(",")]:
        report[str(people)] = onboard(people)
        print(json.dumps(report[str(people)], indent=2), flush=True)
    print(f"\nwritten to {write_result('onboarding', report)}")


if __name__ == "__main__":
    main()
