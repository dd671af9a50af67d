"""Benchmark (e): SQL statements per job on the worker's steady path, at 20 and at 200 tenants.

The same world as bench.worker (server processes, sandboxes, limits out of the way), with T
tenants each connected through Connect; JOBS webhooks (`employee_created`, one new person each)
spread round-robin over the tenants go into the intake with the worker stopped; then one worker
process, `bench.counting_worker` (the app from `server.create_app()`, SQLAlchemy event listeners
on the store's engine, the worker's own run_once loop), runs them and counts. Counts are exact,
not timed, so one round each. Goal: at most 8 statements per job, the same at 20 and at 200.

    python -m bench.sql [--tenants 20,200] [--jobs 200] [--database sqlite|postgresql|both]
"""

import argparse
import json
import sys
import time

import requests

from bench.worker import UNLIMITED_EH, UNLIMITED_SERVER, UNLIMITED_TH
from bench.world import (
    PY,
    Server,
    database_url,
    employee,
    sandboxes,
    stop,
    temporary,
    webhook_body,
    write_result,
)

GOAL = 8


def count(database: str, tenants: int, jobs: int) -> dict:
    with temporary() as tmp, sandboxes(tmp, tenants, UNLIMITED_EH, UNLIMITED_TH) as boxes:
        server = Server(
            tmp, boxes, tenants, database_url(database, tmp, "bench_sql"), UNLIMITED_SERVER
        )
        try:
            with server.web():
                server.connect_all()
                per_tenant = -(-jobs // tenants)
                staff = {t: [employee(t, n) for n in range(1 + per_tenant)] for t in range(tenants)}
                boxes.eh_admin("POST", "/_admin/employees", [p for s in staff.values() for p in s])
                session = requests.Session()
                for i in range(jobs):
                    t, n = i % tenants, 1 + i // tenants
                    server.deliver(
                        t, webhook_body(staff[t][n], "employee_created", f"s{i}"), session
                    )
                out = tmp / "counts.json"
                process = server.worker([PY, "-m", "bench.counting_worker", str(jobs), str(out)])
                try:
                    process.wait(timeout=1800)
                finally:
                    stop(process)
                if process.returncode != 0:
                    raise RuntimeError(f"the counting worker exited with {process.returncode}")
                result = json.loads(out.read_text())
                statuses = dict(server.query("SELECT status, count(*) FROM jobs GROUP BY status"))
        finally:
            server.close()
    n = result["counted_jobs"]
    per_job = {k: round(v / n, 2) for k, v in result["totals"].items()}
    polls = max(result["idle_polls"], 1)
    return {
        "tenants": tenants,
        "jobs": jobs,
        "counted_jobs": n,
        "job_statuses": statuses,
        "per_job": per_job,
        "per_empty_poll": {k: round(v / polls, 2) for k, v in result["idle_totals"].items()},
        "statement_shapes_per_job": {k: round(v / n, 2) for k, v in result["shapes"].items()},
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", default="20,200", help="comma-separated tenant counts")
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    counts = [int(t) for t in args.tenants.split(",")]
    report = {"at": time.strftime("%Y-%m-%d %H:%M:%S"), "goal_statements_per_job": f"<= {GOAL}"}
    for kind in kinds:
        runs = [count(kind, t, args.jobs) for t in counts]
        few, many = runs[0]["per_job"]["statements"], runs[-1]["per_job"]["statements"]
        report[kind] = {
            "runs": runs,
            f"statements_per_job_{counts[-1]}_vs_{counts[0]}_tenants": round(many / few, 3),
            "met": all(r["per_job"]["statements"] <= GOAL for r in runs),
        }
        print(f"\n(e) SQL per job, {kind}")
        for r in runs:
            print(
                f"  {r['tenants']:4} tenants: {r['per_job']}  (empty poll: {r['per_empty_poll']})"
            )
            top = list(r["statement_shapes_per_job"].items())[:8]
            print("        " + ", ".join(f"{k} {v}" for k, v in top))
        sys.stdout.flush()
    print(f"\nwritten to {write_result('sql', report)}")


if __name__ == "__main__":
    main()
