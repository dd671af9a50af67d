"""Benchmark (g): one hung TH portal must not hold up the healthy tenants.

Three tenants, one worker process (`flask --app server worker`), limits out of the way. Tenants
0 and 1 use one TH sandbox; tenant 2's portal is on a TH sandbox of its own, where a `slow`
fault (the sandboxes' own fault injection, POST /_admin/faults) makes every call answer after
25 s, beyond the server's HTTP_TIMEOUT of 10 s. Each round queues 120 jobs of the healthy
tenants with HUNG jobs of tenant 2 among them (every 120/HUNG-th delivery), then times the
worker until the 120 healthy jobs are finished. Baseline rounds are the same with the fault
cleared (tenant 2 healthy too). Rounds alternate, baseline first; the figure is the healthy
tenants' jobs per second with the hung portal versus without. Goal: at least 0.9.

    python -m bench.hung [--rounds 2] [--hung 6] [--database sqlite|postgresql]
"""

import argparse
import time

import requests

from bench.worker import UNLIMITED_EH, UNLIMITED_SERVER, UNLIMITED_TH
from bench.world import (
    FINISHED,
    Server,
    database_url,
    employee,
    sandboxes,
    stop,
    summary,
    temporary,
    tenant_id,
    webhook_body,
    write_result,
)

HEALTHY = 120
DELAY = 25.0


def healthy_finished(server, after: int) -> int:
    statuses = ", ".join(f"'{s}'" for s in FINISHED)
    return server.query(
        f"SELECT count(*) FROM jobs WHERE id > :after AND tenant_id IN ('t000', 't001') "
        f"AND status IN ({statuses})",
        after=after,
    )[0][0]


def one_round(database: str, hung: bool, hung_jobs: int) -> float:
    """A fresh world: healthy jobs per second with (or without) the hung portal."""
    with (
        temporary() as tmp,
        sandboxes(tmp, 3, UNLIMITED_EH, UNLIMITED_TH) as boxes,
        temporary() as tmp2,
        sandboxes(tmp2, 3, UNLIMITED_EH, UNLIMITED_TH) as hung_box,
    ):
        settings = {**UNLIMITED_SERVER, "HTTP_TIMEOUT": 10}
        url = database_url(database, tmp, "bench_hung")
        server = Server(tmp, boxes, 3, url, settings, th_urls={2: hung_box.th})
        try:
            with server.web():
                server.connect_all()
                people = {t: [employee(t, n) for n in range(HEALTHY + 1)] for t in range(3)}
                boxes.eh_admin("POST", "/_admin/employees", [p for s in people.values() for p in s])
                if hung:
                    fault = {"kind": "slow", "count": 100_000, "path": "/papi", "delay": DELAY}
                    hung_box.th_admin("POST", "/_admin/faults", fault)
                return healthy_rate(server, people, hung_jobs)
        finally:
            server.close()


def healthy_rate(server, people: dict, hung_jobs: int) -> float:
    session = requests.Session()
    every = HEALTHY // hung_jobs
    for i in range(HEALTHY):
        t, n = i % 2, 1 + i // 2
        server.deliver(t, webhook_body(people[t][n], "employee_created", f"h{i}"), session)
        if i % every == every // 2:
            person = people[2][1 + i // every]
            server.deliver(2, webhook_body(person, "employee_created", f"x{i}"), session)
    process = server.worker()
    try:
        deadline = time.monotonic() + 900
        while healthy_finished(server, 0) < HEALTHY:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the worker stopped, or the healthy jobs took over 900 s")
            time.sleep(0.1)
    finally:
        stop(process)
    first, last = server.query(
        "SELECT min(a.started_at), max(a.finished_at) FROM attempts a JOIN jobs j "
        "ON j.id = a.job_id WHERE j.tenant_id IN ('t000', 't001')"
    )[0]
    return HEALTHY / (last - first)


def run(database: str, rounds: int, hung_jobs: int) -> dict:
    with_hung, without = [], []
    for r in range(rounds):  # alternating, baseline first
        without.append(one_round(database, False, hung_jobs))
        with_hung.append(one_round(database, True, hung_jobs))
        print(
            f"  round {r}: healthy jobs/s without {without[-1]:.2f}, "
            f"with the hung portal {with_hung[-1]:.2f}",
            flush=True,
        )
    figures = summary(with_hung, without)
    return {
        "healthy_jobs": HEALTHY,
        "hung_tenant_jobs": hung_jobs,
        "hung_tenant": tenant_id(2),
        "healthy_jobs_per_s_with_hung_portal": figures["subject_median"],
        "healthy_jobs_per_s_without": figures["baseline_median"],
        "ratio": figures["ratio"],
        "ratio_per_round": figures["ratio_per_round"],
        "spread": figures["spread"],
        "goal": ">= 0.9",
        "met": figures["ratio"] >= 0.9,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--hung", type=int, default=6, help="jobs of the hung tenant per round")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args(argv)
    report = {"at": time.strftime("%Y-%m-%d %H:%M:%S"), "database": args.database}
    report.update(run(args.database, args.rounds, args.hung))
    for key, value in report.items():
        print(f"  {key:38} {value}")
    print(f"\nwritten to {write_result('hung', report)}")


if __name__ == "__main__":
    main()
