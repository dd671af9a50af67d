"""The server as separate processes against both sandboxes, driven only through public
interfaces: tenant and rule files in a temporary folder, settings as environment variables, the
web server (gunicorn) for sign-in, Connect and the webhook intake, `flask --app server worker`
as its own process, and the sandboxes' /_admin APIs. The database is only read, never written.

Every process started here runs in its own process group and is stopped on leaving the block.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet
from werkzeug.security import generate_password_hash

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ORG = "5b0f3c1e-8a2d-4f6b-9c3e-1d2a3b4c5d6e"
CLIENT_ID, CLIENT_SECRET = "bench-client", "bench-secret-0123456789abcdef"
WEBHOOK_TOKEN = "bench-webhook-token-0123456789abcdef"
SUPPORT_PASSWORD = "bench support password"
UNLIMITED = 10_000_000  # a per-minute or per-second limit nothing in a benchmark reaches
FINISHED = ("succeeded", "skipped", "failed")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CUSTOM_FIELDS = {
    "Job Title": {"type": "text"},
    "Location": {"type": "text"},
    "Team": {
        "type": "list",
        "items": ["Warehouse", "Forklift Licensed", "Fleet", "Operations", "Safety"],
    },
    "Employment Type": {"type": "text"},
    "Cost Centre": {"type": "text"},
}
TENANT_YAML = """\
name: Bench {n}
mode: live
time_zone: Australia/Sydney
employment_hero:
  client_id: {client_id}
  client_secret: ${{BENCH_EH_CLIENT_SECRET}}
  api_base: {eh_url}/api/v1
  oauth_base: {eh_url}
tribal_habits:
  base_url: {th_url}/papi
  api_key: ${{BENCH_TH_KEY_{n}}}
  update_mode: partial
alerts:
  recipients: [hr@bench{n}.example]
webhook:
  token: ${{BENCH_WEBHOOK_TOKEN}}
"""


def tenant_id(n: int) -> str:
    return f"t{n:03d}"


def th_key(n: int) -> str:
    return f"th-key-bench-{n:03d}-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def employee(tenant: int, n: int) -> dict:
    """A new person in EH, with a manager (person 0 of the tenant, who has none)."""
    sample = json.loads((REPO / "sandboxes" / "demo_data" / "employee-active.json").read_text())
    person = dict(sample["data"])
    ident = f"e{tenant:03d}-{n:06d}"
    person.update(
        id=f"a1e2c3d4-{tenant:04d}-4000-8000-{n:012d}",
        first_name=f"First{n}",
        last_name=f"Bench{tenant}",
        full_name=f"First{n} Bench{tenant}",
        known_as=None,
        email=f"{ident}@bench.example",
        account_email=f"{ident}@bench.example",
        company_email=f"{ident}@bench.example",
        personal_email=None,
        code=f"B{tenant}-{n}",
        external_id=f"PAY-{tenant}-{n}",
        organisation_id=ORG,
    )
    if n == 0:
        person["primary_manager"] = None
        person["job_title"] = "Operations Manager"
    else:
        manager = f"a1e2c3d4-{tenant:04d}-4000-8000-{0:012d}"
        person["primary_manager"] = {"id": manager, "name": f"First0 Bench{tenant}"}
    return person


def webhook_body(person: dict, event: str, serial: str) -> dict:
    """The body EH sends (the contract's default shape, as the EH sandbox's /_admin/fire)."""
    return {
        "event": event,
        "event_id": f"evt-{serial}",
        "organisation_id": ORG,
        "created_at": "2026-12-01T09:00:00+11:00",
        "data": {"id": person["id"], "organisation_id": ORG},
    }


# -- processes -------------------------------------------------------------------------------


def spawn(command, env=None, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True, **kwargs)


def stop(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM to the process's group, SIGKILL if it is still there after `timeout`."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def wait_for_port(port: int, process, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{process.args!r} did not start listening in {seconds} s")


@contextmanager
def sandboxes(tmp: Path, tenants: int, eh_limits=None, th_limits=None, extra_portals=()):
    """Both sandboxes in one process: one EH client and organisation, one TH portal per tenant
    (named after it) and `extra_portals` ({name: key}). Limits: dicts of the sandboxes' own
    config keys; None keeps their real limits."""
    eh = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [],
        "organisations": [{"id": ORG, "name": "Bench Org", "time_zone": "Australia/Sydney"}],
        **(eh_limits or {}),
    }
    portals = {
        th_key(n): {"name": tenant_id(n), "custom_fields": CUSTOM_FIELDS} for n in range(tenants)
    }
    for name, key in dict(extra_portals).items():
        portals[key] = {"name": name, "custom_fields": CUSTOM_FIELDS}
    config = tmp / "sandboxes.json"
    config.write_text(json.dumps({"eh": eh, "th": {"portals": portals, **(th_limits or {})}}))
    process = spawn(
        [PY, "-m", "bench.sandbox_host", str(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        urls = json.loads(process.stdout.readline())
        yield Boxes(urls["eh"], urls["th"], process)
    finally:
        with contextlib.suppress(OSError):
            process.stdin.close()
        stop(process)


@dataclass
class Boxes:
    eh: str
    th: str
    process: subprocess.Popen
    http: requests.Session = field(default_factory=requests.Session)

    def admin(self, base: str, method: str, path: str, payload=None):
        response = self.http.request(method, base + path, json=payload, timeout=60)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def eh_admin(self, method, path, payload=None):
        return self.admin(self.eh, method, path, payload)

    def th_admin(self, method, path, payload=None):
        return self.admin(self.th, method, path, payload)

    def clear_logs(self) -> None:
        self.eh_admin("DELETE", "/_admin/requests")
        self.th_admin("DELETE", "/_admin/requests")

    def logs(self) -> tuple[list, list]:
        return self.eh_admin("GET", "/_admin/requests"), self.th_admin("GET", "/_admin/requests")


def database_url(kind: str, tmp: Path, name: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'bench.db'}"
    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


class Server:
    """Tenant files, the environment both server processes share, and the database URL."""

    def __init__(
        self, tmp: Path, boxes: Boxes, tenants: int, db_url: str, settings=None, th_urls=None
    ):
        """th_urls: {tenant number: TH sandbox URL} for tenants whose portal is elsewhere."""
        self.tmp, self.boxes, self.tenants, self.db_url = tmp, boxes, tenants, db_url
        folder = tmp / "tenants"
        folder.mkdir()
        for n in range(tenants):
            (folder / f"{tenant_id(n)}.yaml").write_text(
                TENANT_YAML.format(
                    n=f"{n:03d}",
                    client_id=CLIENT_ID,
                    eh_url=boxes.eh,
                    th_url=(th_urls or {}).get(n, boxes.th),
                )
            )
        rules = tmp / "rules"
        rules.mkdir()
        shutil.copy(REPO / "rules" / "standard.yaml", rules / "standard.yaml")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        support = "support:" + generate_password_hash(SUPPORT_PASSWORD, method="pbkdf2:sha256:1000")
        self.env = {
            **os.environ,
            "MODE": "development",
            "DATABASE_URL": db_url,
            "INSTANCE_PATH": str(tmp / "instance"),
            "TENANTS_DIR": str(folder),
            "RULES_DIR": str(rules),
            "THSYNC_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "SECRET_KEY": "bench-secret-key",
            "PUBLIC_URL": self.url,
            "RUN_WORKER": "false",
            "LOG_LEVEL": "WARNING",
            "COALESCE_SECONDS": "0",
            "WORKER_POLL_SECONDS": "0.2",
            "RELOAD_SECONDS": "3600",
            "SUPPORT_USERS": support,
            "BENCH_EH_CLIENT_SECRET": CLIENT_SECRET,
            "BENCH_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
            **{f"BENCH_TH_KEY_{n:03d}": th_key(n) for n in range(tenants)},
            **{k: str(v) for k, v in (settings or {}).items()},
        }
        self.http = requests.Session()
        self._engine = None

    # -- the web process ---------------------------------------------------------------

    @contextmanager
    def web(self, workers: int = 2, threads: int = 4):
        command = [
            PY, "-m", "gunicorn", "-w", str(workers), "--threads", str(threads),
            "-b", f"127.0.0.1:{self.port}", "--log-level", "warning", "server:create_app()",
        ]  # fmt: skip
        process = spawn(command, env=self.env)
        try:
            wait_for_port(self.port, process)
            self.wait_ready(process)
            yield process
        finally:
            stop(process)

    def wait_ready(self, process, seconds: float = 240) -> None:
        """Until a web process answers (gunicorn binds before its workers have built the app)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("the web server exited during start-up")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/sign-in", timeout=60).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"the web server did not answer within {seconds} s")

    def sign_in(self) -> None:
        page = self.http.get(f"{self.url}/sign-in", timeout=30)
        token = CSRF.search(page.text).group(1)
        form = {
            "csrf_token": token,
            "username": "support",
            "password": SUPPORT_PASSWORD,
            "next": "",
        }
        answer = self.http.post(f"{self.url}/sign-in", data=form, allow_redirects=False, timeout=30)
        if answer.status_code != 302:
            raise RuntimeError(f"support sign-in failed: {answer.status_code}")

    def connect(self, n: int) -> None:
        """The customer's Connect round trip: our link, EH's consent page, our callback."""
        start = self.http.get(
            f"{self.url}/tenants/{tenant_id(n)}/connect", allow_redirects=False, timeout=30
        )
        if start.status_code != 302:
            raise RuntimeError(f"connect {tenant_id(n)}: {start.status_code} {start.text[:200]}")
        authorize = start.headers["Location"]
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
        consent = requests.post(
            authorize.split("?")[0],
            data={**query, "approve": "1"},
            allow_redirects=False,
            timeout=30,
        )
        back = urlsplit(consent.headers["Location"])
        callback = self.http.get(f"{self.url}{back.path}?{back.query}", timeout=30)
        if callback.status_code != 200:
            raise RuntimeError(
                f"callback {tenant_id(n)}: {callback.status_code} {callback.text[:200]}"
            )

    def connect_all(self) -> None:
        self.sign_in()
        for n in range(self.tenants):
            self.connect(n)

    def deliver(self, n: int, body: dict, session: requests.Session | None = None) -> None:
        answer = (session or self.http).post(
            f"{self.url}/webhooks/{tenant_id(n)}/{WEBHOOK_TOKEN}", json=body, timeout=30
        )
        if answer.status_code not in (200, 202):
            raise RuntimeError(f"webhook refused: {answer.status_code} {answer.text[:200]}")

    # -- the worker process -------------------------------------------------------------

    def worker(self, command=None, env=None) -> subprocess.Popen:
        command = command or [PY, "-m", "flask", "--app", "server", "worker"]
        return spawn(command, env={**self.env, **(env or {})}, stdout=subprocess.DEVNULL)

    # -- reading the database (read-only) ------------------------------------------------

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            url = self.db_url
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url[len("postgresql://") :]
            self._engine = sa.create_engine(url)
        return self._engine

    def query(self, sql: str, **params):
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).all()

    def finished_since(self, job_id: int) -> int:
        statuses = ", ".join(f"'{s}'" for s in FINISHED)
        rows = self.query(
            f"SELECT count(*) FROM jobs WHERE id > :after AND status IN ({statuses})", after=job_id
        )
        return rows[0][0]

    def last_job_id(self) -> int:
        return self.query("SELECT coalesce(max(id), 0) FROM jobs")[0][0]

    def job_window(self, after: int) -> tuple[float, float, dict]:
        """(first attempt's start, last attempt's end, jobs per status) of the jobs after id."""
        first, last = self.query(
            "SELECT min(a.started_at), max(a.finished_at) FROM attempts a "
            "JOIN jobs j ON j.id = a.job_id WHERE j.id > :after",
            after=after,
        )[0]
        statuses = dict(
            self.query(
                "SELECT status, count(*) FROM jobs WHERE id > :after GROUP BY status", after=after
            )
        )
        return first, last, statuses

    def wait_finished(self, after: int, count: int, process=None, seconds: float = 900) -> float:
        """Poll (read-only) until `count` jobs after id `after` are finished; the time then."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.finished_since(after) >= count:
                return time.perf_counter()
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"the worker exited with {process.returncode}")
            time.sleep(0.1)
        raise RuntimeError(f"{count} jobs were not finished within {seconds} s")

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


@contextmanager
def temporary():
    with tempfile.TemporaryDirectory(prefix="thsync-bench-") as tmp:
        yield Path(tmp)


def wait_dispatched(server: Server, expected: int, seconds: float = 120) -> None:
    """Until the intake has stored `expected` deliveries (it answers before that, in a group
    commit, on some back-ends)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.query("SELECT count(*) FROM deliveries")[0][0] >= expected:
            return
        time.sleep(0.1)
    raise RuntimeError("the deliveries were not all stored")


def median(values):
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def summary(subject: list[float], baseline: list[float], higher_is_better: bool = True) -> dict:
    """Medians, the ratio of the medians, and the spread of the per-round ratios."""
    ratios = [s / b for s, b in zip(subject, baseline, strict=True)]
    return {
        "subject_median": round(median(subject), 2),
        "baseline_median": round(median(baseline), 2),
        "ratio": round(median(subject) / median(baseline), 3),
        "ratio_per_round": [round(r, 3) for r in ratios],
        "spread": [round(min(ratios), 3), round(max(ratios), 3)],
    }


def write_result(name: str, data: dict) -> Path:
    folder = REPO / "bench" / "results"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str))
    return path
