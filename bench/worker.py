"""Benchmark (d): worker throughput versus the HTTP-call floor.

N webhooks (`employee_created`, one new person each, one tenant) go into the real intake over
HTTP with the worker stopped; then ONE `flask --app server worker` process is started and timed
until every job is finished (read-only polling of the jobs table; the worker's own busy window
is the first attempt's start to the last attempt's end). The baseline, in the same run against
the same sandboxes: a plain `requests.Session` loop replaying exactly the HTTP calls that round's
jobs made, in the order they made them (from the sandboxes' request logs: EH employee, EH manager,
TH user lookup, TH create), into a fresh TH portal. Rate limits are out of the way on both sides
(sandbox limits and the server's TH/EH_CALLS_PER_MINUTE at 10,000,000), so the figure is the
worker's own cost per job on top of its HTTP calls. Rounds alternate: subject, baseline, …

    python -m bench.worker [--database sqlite|postgresql|both] [--jobs 1000] [--rounds 3]
"""

import argparse
import base64
import hashlib
import secrets
import time

import requests

from bench.world import (
    CLIENT_ID,
    CLIENT_SECRET,
    UNLIMITED,
    Server,
    database_url,
    employee,
    sandboxes,
    stop,
    summary,
    temporary,
    webhook_body,
    write_result,
)

UNLIMITED_EH = {"rate_per_minute": UNLIMITED, "rate_per_second": UNLIMITED}
UNLIMITED_TH = {"rate_per_minute": UNLIMITED}
UNLIMITED_SERVER = {"TH_CALLS_PER_MINUTE": UNLIMITED, "EH_CALLS_PER_MINUTE": UNLIMITED}


def floor_key(round_: int) -> str:
    return f"th-key-floor-{round_:02d}-0123456789"


def eh_token(eh_url: str) -> str:
    """An access token of its own for the baseline, through EH's OAuth code flow."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    redirect_uri = "http://127.0.0.1:1/callback"
    form = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": redirect_uri,
        "state": "floor",
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
        "approve": "1",
    }
    consent = requests.post(
        f"{eh_url}/oauth2/authorize", data=form, allow_redirects=False, timeout=30
    )
    code = consent.headers["Location"].split("code=")[1].split("&")[0]
    tokens = requests.post(
        f"{eh_url}/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "code_verifier": verifier,
        },
        timeout=30,
    )
    tokens.raise_for_status()
    return tokens.json()["access_token"]


def api_calls(eh_log: list, th_log: list) -> list[dict]:
    """The jobs' HTTP calls to the two APIs, in the order they were made."""
    calls = [dict(e, service="eh") for e in eh_log if e["path"].startswith("/api/")]
    calls += [dict(e, service="th") for e in th_log if e["path"].startswith("/papi/")]
    return sorted(calls, key=lambda c: c["time"])


def floor(boxes, calls: list[dict], round_: int) -> float:
    """The same calls from a plain requests.Session loop; returns the seconds they took."""
    session = requests.Session()
    eh_auth = {"Authorization": f"Bearer {eh_token(boxes.eh)}"}
    th_auth = {"Authorization": floor_key(round_)}
    start = time.perf_counter()
    for call in calls:
        if call["service"] == "eh":
            url = boxes.eh + call["path"] + (f"?{call['query']}" if call.get("query") else "")
            answer = session.request(call["method"], url, headers=eh_auth, timeout=30)
        else:
            answer = session.request(
                call["method"],
                boxes.th + call["path"],
                json=call["body"],
                headers=th_auth,
                timeout=30,
            )
        if answer.status_code != call["status"]:
            raise RuntimeError(
                f"the baseline got {answer.status_code} for {call['path']}, "
                f"the worker {call['status']}"
            )
    return time.perf_counter() - start


def subject(server, boxes, people: list[dict], serial: str) -> dict:
    """Queue one job per person through the intake, then time one worker process over them."""
    boxes.clear_logs()
    after = server.last_job_id()
    session = requests.Session()
    for i, person in enumerate(people):
        server.deliver(0, webhook_body(person, "employee_created", f"{serial}-{i}"), session)
    started = time.perf_counter()
    process = server.worker()
    try:
        done = server.wait_finished(after, len(people), process)
    finally:
        stop(process)
    first, last, statuses = server.job_window(after)
    if statuses.get("succeeded") != len(people):
        raise RuntimeError(f"not every job succeeded: {statuses}")
    eh_log, th_log = boxes.logs()
    calls = api_calls(eh_log, th_log)
    return {
        "busy_seconds": last - first,
        "wall_seconds": done - started,
        "calls": calls,
        "calls_per_job": round(len(calls) / len(people), 2),
    }


def run(database: str, jobs: int, rounds: int) -> dict:
    extra = {f"floor-{r:02d}": floor_key(r) for r in range(rounds)}
    with temporary() as tmp, sandboxes(tmp, 1, UNLIMITED_EH, UNLIMITED_TH, extra) as boxes:
        server = Server(
            tmp, boxes, 1, database_url(database, tmp, "bench_worker"), UNLIMITED_SERVER
        )
        try:
            with server.web():
                server.connect_all()
                staff = [employee(0, n) for n in range(1 + jobs * rounds)]
                boxes.eh_admin("POST", "/_admin/employees", staff)
                worker_rate, worker_wall, floor_rate, calls_per_job = [], [], [], []
                for r in range(rounds):  # alternating: subject, then its baseline
                    people = staff[1 + r * jobs : 1 + (r + 1) * jobs]
                    measured = subject(server, boxes, people, f"r{r}")
                    worker_rate.append(jobs / measured["busy_seconds"])
                    worker_wall.append(jobs / measured["wall_seconds"])
                    calls_per_job.append(measured["calls_per_job"])
                    floor_rate.append(jobs / floor(boxes, measured["calls"], r))
                    print(
                        f"  {database} round {r}: worker {worker_rate[-1]:.1f} jobs/s "
                        f"(wall {worker_wall[-1]:.1f}), floor {floor_rate[-1]:.1f} jobs/s",
                        flush=True,
                    )
        finally:
            server.close()
    figures = summary(worker_rate, floor_rate)
    return {
        "jobs_per_round": jobs,
        "rounds": rounds,
        "http_calls_per_job": calls_per_job[0],
        "worker_jobs_per_s": figures["subject_median"],
        "floor_jobs_per_s": figures["baseline_median"],
        "ratio": figures["ratio"],
        "ratio_per_round": figures["ratio_per_round"],
        "spread": figures["spread"],
        "worker_jobs_per_s_wall_incl_start_up": round(
            sorted(worker_wall)[len(worker_wall) // 2], 2
        ),
        "per_round": {
            "worker_jobs_per_s": [round(x, 2) for x in worker_rate],
            "floor_jobs_per_s": [round(x, 2) for x in floor_rate],
        },
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    report = {"at": time.strftime("%Y-%m-%d %H:%M:%S")}
    for kind in kinds:
        report[kind] = run(kind, args.jobs, args.rounds)
        print_figures(f"(d) worker throughput vs HTTP floor, {kind}", report[kind])
    print(f"\nwritten to {write_result('worker', report)}")


def print_figures(title: str, figures: dict) -> None:
    print(f"\n{title}")
    for key, value in figures.items():
        if key != "per_round":
            print(f"  {key:38} {value}")


if __name__ == "__main__":
    main()
