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


def client(args) -> int:
    port, first, count = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    ok = 0
    for n in range(first, first + count):
        body = json.dumps(
            {"event": "employee_updated", "event_id": f"evt-{n}", "data": {"id": f"emp-{n % 500}"}}
        )
        conn.request("POST", f"/webhooks/bench/{TOKEN}", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        ok += response.status in (200, 202)
    conn.close()
    return ok


def drive(port: int, total: int, concurrency: int, offset: int = 0) -> float:
    share = total // concurrency
    base = offset * total * 2  # unique event ids in every round: no duplicates
    client((port, base - 50, 50))  # warm up: first connection, first write, caches
    with multiprocessing.Pool(concurrency) as pool:
        start = time.perf_counter()
        jobs = [(port, base + i * share, share) for i in range(concurrency)]
        acked = sum(pool.map(client, jobs))
        elapsed = time.perf_counter() - start
    if acked != share * concurrency:
        raise RuntimeError(f"only {acked} of {share * concurrency} webhooks were acknowledged")
    return acked / elapsed


@contextmanager
def running(kind: str):
    """A gunicorn server for `kind` on a free port, for the length of the block."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
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
    hits both alike. Returns acks/s per round for each."""
    figures = {"bare": [], "intake": []}
    with running("bare") as bare, running("intake") as intake:
        ports = {"bare": bare, "intake": intake}
        for round_ in range(rounds):
            order = ("bare", "intake") if round_ % 2 == 0 else ("intake", "bare")
            for kind in order:
                figures[kind].append(drive(ports[kind], total, concurrency, offset=round_))
    return figures
