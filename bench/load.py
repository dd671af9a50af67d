"""Start a server under gunicorn, drive it with a fixed number of webhooks, report acks/s."""

import http.client
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOKEN = "bench-token-0123456789abcdefghijkl"
TENANT = """\
name: Bench
time_zone: Australia/Sydney
employment_hero:
  client_id: bench
  client_secret: ${BENCH_EH_SECRET}
  api_base: http://127.0.0.1:9/api/v1
  oauth_base: http://127.0.0.1:9
tribal_habits:
  base_url: http://127.0.0.1:9/papi
  api_key: ${BENCH_TH_KEY}
webhook:
  token: ${BENCH_TOKEN}
"""
APPS = {"bare": "bench.bare:app", "intake": "server:create_app()"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(folder: Path) -> dict:
    (folder / "tenants").mkdir()
    (folder / "tenants" / "bench.yaml").write_text(TENANT)
    shutil.copytree(REPO / "rules", folder / "rules")
    return {
        **os.environ,
        "TENANTS_DIR": str(folder / "tenants"),
        "RULES_DIR": str(folder / "rules"),
        "INSTANCE_PATH": str(folder / "instance"),
        "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", ""),
        "RUN_WORKER": "false",
        "LOG_LEVEL": "WARNING",
        "BENCH_EH_SECRET": "x",
        "BENCH_TH_KEY": "y",
        "BENCH_TOKEN": TOKEN,
    }


def wait_for(port: int, process) -> None:
    for _ in range(200):
        if process.poll() is not None:
            raise RuntimeError("the server exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the server did not start")


def client(args) -> tuple[int, list[float]]:
    """Acknowledged webhooks and each request's latency in seconds."""
    port, first, count = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    ok, latencies = 0, []
    for n in range(first, first + count):
        sent = time.perf_counter()
        body = json.dumps(
            {"event": "employee_updated", "event_id": f"evt-{n}", "data": {"id": f"emp-{n % 500}"}}
        )
        conn.request("POST", f"/webhooks/bench/{TOKEN}", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - sent)
        ok += response.status in (200, 202)
    conn.close()
    return ok, latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def drive(port: int, total: int, concurrency: int, offset: int = 0) -> tuple[float, float, float]:
    """acks/s, and the p50 and p99 latency in ms, of one round."""
    share = total // concurrency
    base = offset * total * 2  # unique event ids in every round: no duplicates
    client((port, base - 50, 50))  # warm up: first connection, first write, caches
    with multiprocessing.Pool(concurrency) as pool:
        start = time.perf_counter()
        jobs = [(port, base + i * share, share) for i in range(concurrency)]
        answers = pool.map(client, jobs)
        elapsed = time.perf_counter() - start
    acked = sum(ok for ok, _ in answers)
    latencies = [seconds for _, each in answers for seconds in each]
    if acked != share * concurrency:
        raise RuntimeError(f"only {acked} of {share * concurrency} webhooks were acknowledged")
    p50, p99 = (percentile(latencies, f) * 1000 for f in (0.50, 0.99))
    return acked / elapsed, p50, p99


@contextmanager
def running(kind: str):
    """A gunicorn server for `kind` on a free port, for the length of the block."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        # Not the repository's gunicorn.conf.py (its hook expects the product's app): both
        # servers get exactly the settings below.
        config = Path(tmp) / "gunicorn.conf.py"
        config.write_text("")
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(config),
            "-w",
            "2",
            "--threads",
            "4",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            APPS[kind],
        ]
        process = subprocess.Popen(command, cwd=REPO, env=server_env(Path(tmp)))
        try:
            wait_for(port, process)
            yield port
        finally:
            process.terminate()
            process.wait(timeout=20)


def compare(total: int, concurrency: int, rounds: int) -> dict[str, list[float]]:
    """Both servers up at once, measured in alternating rounds, so drift in the machine's load
    hits both alike. Returns acks/s per round for each, and each round's p99 latency in ms
    (`bare_p99_ms`, `intake_p99_ms`); every round is printed as it ends."""
    figures: dict[str, list[float]] = {
        "bare": [],
        "intake": [],
        "bare_p99_ms": [],
        "intake_p99_ms": [],
    }
    with running("bare") as bare, running("intake") as intake:
        ports = {"bare": bare, "intake": intake}
        for round_ in range(rounds):
            order = ("bare", "intake") if round_ % 2 == 0 else ("intake", "bare")
            for kind in order:
                rate, p50, p99 = drive(ports[kind], total, concurrency, offset=round_)
                figures[kind].append(rate)
                figures[f"{kind}_p99_ms"].append(p99)
                print(
                    f"  round {round_ + 1} {kind:6} {rate:7.1f} acks/s"
                    f"  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  ({concurrency} connections)",
                    flush=True,
                )
    return figures
