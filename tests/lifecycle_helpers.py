"""Shared by the lifecycle tests: synthetic EH people, the tenant's rule options, SMTP sink."""

import socket
import threading

from tests.fixtures_app import ORG

MANAGER = "a1e2c3d4-0000-4000-8000-000000000001"
JORDAN = "a1e2c3d4-0000-4000-8000-000000000042"
MERE = "a1e2c3d4-0000-4000-8000-000000000101"
TOM = "a1e2c3d4-0000-4000-8000-000000000077"
SASHA = "a1e2c3d4-0000-4000-8000-000000000555"


def person(n: int, **changes) -> dict:
    """A plain active employee reporting to the seeded manager (Priya Nair)."""
    return {
        "id": f"b0000000-0000-4000-8000-{n:012d}",
        "organisation_id": ORG,
        "first_name": f"Person{n}",
        "last_name": "Example",
        "company_email": f"person{n}@harbourline.example",
        "account_email": f"person{n}@harbourline.example",
        "code": f"HL-{5000 + n}",
        "job_title": "Picker",
        "location": "Port Botany",
        "employment_type": "Full-time",
        "status": "active",
        "start_date": "2024-01-15",
        "termination_date": None,
        "primary_manager": {"id": MANAGER, "name": "Priya Nair"},
        "teams": [],
        "independent_contractor": False,
        **changes,
    }


def set_options(dirs, **options) -> None:
    """rules/acme.yaml with these options (the registry reloads it on the next look-up)."""
    lines = ["extends: standard", "options:"]
    lines += [f"  {name}: {_yaml(value)}" for name, value in options.items()]
    (dirs["rules"] / "acme.yaml").write_text("\n".join(lines) + "\n")


def set_time_zone(dirs, zone: str) -> None:
    path = dirs["tenants"] / "acme.yaml"
    text = path.read_text()
    path.write_text(text.replace("time_zone: Australia/Sydney", f"time_zone: {zone}"))


def _yaml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Outbox:
    """A real SMTP server on a free port, keeping what it receives."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages = []
        self._lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        with self._lock:
            self.messages.append(
                {"to": list(envelope.rcpt_tos), "text": envelope.content.decode("utf-8")}
            )
        return "250 OK"

    def stop(self) -> None:
        self.controller.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
