"""Benchmark (h): memory of a web and a worker process after 10,000 deliveries, versus idle.

The server as in bench.worker: a web process (gunicorn, one worker process with 4 threads, so
one RSS to read) and one `flask --app server worker` process. "Idle" is each process after
start-up, the Connect round trip and WARM_UP deliveries run to the end (every code path loaded
and used once). Then DELIVERIES webhooks go into the intake (EMPLOYEES people, each an
`employee_created` then `employee_updated`s; the worker keeps running, so deliveries that arrive
while a person's job waits join it), and the same worker process runs them all. RSS (VmRSS
from /proc) of each process then, against its idle figure. Goal: within 10 %.

    python -m bench.memory [--deliveries 10000] [--employees 500] [--database sqlite|postgresql]
"""

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from bench.worker import UNLIMITED_EH, UNLIMITED_SERVER, UNLIMITED_TH
from bench.world import (
    Server,
    database_url,
    employee,
    sandboxes,
    stop,
    temporary,
    webhook_body,
    write_result,
)

WARM_UP = 20
CLIENTS = 4


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def gunicorn_worker(master: int) -> int:
    """The one worker process under a gunicorn master."""
    for _ in range(100):
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("gunicorn has no worker process")


def send(server, bodies: list[dict]) -> None:
    session = requests.Session()
    for body in bodies:
        server.deliver(0, body, session)


def wait_all_done(server, worker, seconds: float = 1800) -> None:
    """Until every delivery is dispatched and every job finished (read-only polling)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError("the worker exited")
        left = server.query(
            "SELECT (SELECT count(*) FROM deliveries WHERE status = 'accepted' AND job_id IS NULL)"
            " + (SELECT count(*) FROM jobs WHERE status NOT IN ('succeeded', 'skipped', 'failed'))"
        )[0][0]
        if left == 0:
            return
        time.sleep(0.5)
    raise RuntimeError("the worker did not finish in time")


def run(database: str, deliveries: int, employees: int) -> dict:
    with temporary() as tmp, sandboxes(tmp, 1, UNLIMITED_EH, UNLIMITED_TH) as boxes:
        server = Server(
            tmp, boxes, 1, database_url(database, tmp, "bench_memory"), UNLIMITED_SERVER
        )
        try:
            with server.web(workers=1, threads=4) as web:
                web_pid = gunicorn_worker(web.pid)
                server.connect_all()
                staff = [employee(0, n) for n in range(1 + WARM_UP + employees)]
                boxes.eh_admin("POST", "/_admin/employees", staff)
                for i, person in enumerate(staff[1 : 1 + WARM_UP]):
                    server.deliver(0, webhook_body(person, "employee_created", f"w{i}"))
                worker = server.worker()
                try:
                    server.wait_finished(0, WARM_UP, worker)
                    time.sleep(2)  # a few idle polls
                    idle = {"web": rss_kib(web_pid), "worker": rss_kib(worker.pid)}
                    people = staff[1 + WARM_UP :]
                    bodies = [
                        webhook_body(
                            people[i % employees],
                            "employee_created" if i < employees else "employee_updated",
                            f"d{i}",
                        )
                        for i in range(deliveries)
                    ]
                    with ThreadPoolExecutor(CLIENTS) as pool:
                        list(pool.map(lambda k: send(server, bodies[k::CLIENTS]), range(CLIENTS)))
                    web_after = rss_kib(web_pid)
                    wait_all_done(server, worker)
                    time.sleep(2)
                    worker_after = rss_kib(worker.pid)
                finally:
                    stop(worker)
                jobs = server.last_job_id()
                stored = server.query("SELECT count(*) FROM deliveries")[0][0]
        finally:
            server.close()
    return {
        "deliveries": deliveries,
        "deliveries_stored": stored,
        "jobs_run": jobs,
        "web_rss_kib": {"idle": idle["web"], "after": web_after},
        "web_ratio": round(web_after / idle["web"], 3),
        "worker_rss_kib": {
            "idle": idle["worker"],
            "after": worker_after,
        },
        "worker_ratio": round(worker_after / idle["worker"], 3),
        "goal": "<= 1.10 each",
        "met": web_after / idle["web"] <= 1.1 and worker_after / idle["worker"] <= 1.1,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--employees", type=int, default=500)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args(argv)
    report = {"at": time.strftime("%Y-%m-%d %H:%M:%S"), "database": args.database}
    report.update(run(args.database, args.deliveries, args.employees))
    for key, value in report.items():
        print(f"  {key:28} {value}")
    print(f"\nwritten to {write_result('memory', report)}")


if __name__ == "__main__":
    main()
