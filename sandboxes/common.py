"""What both sandboxes share: injected faults, the request log, sliding-window counters."""

import contextlib
import socket
import threading
from collections import deque

from flask import jsonify, request

from thsync.clock import SystemClock


class Faults:
    """Faults armed through the admin API: the next `count` matching requests get `kind`."""

    def __init__(self):
        self._lock = threading.Lock()
        self._armed = []

    def arm(self, spec: dict) -> dict:
        fault = {
            "kind": str(spec["kind"]),
            "count": int(spec.get("count", 1)),
            "path": spec.get("path"),
            "method": (spec.get("method") or "").upper() or None,
            "delay": float(spec.get("delay", 2.0)),
        }
        with self._lock:
            self._armed.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def take(self, path: str, method: str, kinds) -> dict | None:
        with self._lock:
            for fault in self._armed:
                if fault["kind"] not in kinds:
                    continue
                if fault["path"] and not path.startswith(fault["path"]):
                    continue
                if fault["method"] and fault["method"] != method:
                    continue
                fault["count"] -= 1
                if fault["count"] <= 0:
                    self._armed.remove(fault)
                return dict(fault)
        return None


class RequestLog:
    def __init__(self, clock):
        self.clock = clock
        self._lock = threading.Lock()
        self._entries = []

    def add(self, **entry) -> None:
        with self._lock:
            self._entries.append({"time": self.clock.now(), **entry})

    def all(self) -> list:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class Window:
    """How many events fell in the last `seconds` (a sliding window)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.times = deque()

    def count(self, now: float) -> int:
        while self.times and self.times[0] <= now - self.seconds:
            self.times.popleft()
        return len(self.times)

    def add(self, now: float) -> None:
        self.times.append(now)


def clock_of(config: dict):
    return config.get("clock") or SystemClock()


def drop_connection() -> None:
    """Close the client's socket without answering: a lost response."""
    sock = request.environ.get("werkzeug.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


def error(status: int, **body):
    return jsonify(body), status


def add_common_admin(admin, state) -> None:
    """The admin routes both sandboxes have: reset, faults, the request log, the clock.
    `state` returns the sandbox's state (with reset(), faults, log and clock)."""

    @admin.post("/reset")
    def reset():
        state().reset()
        return jsonify(ok=True)

    @admin.post("/faults")
    def arm_fault():
        return jsonify(state().faults.arm(request.get_json(force=True))), 201

    @admin.delete("/faults")
    def clear_faults():
        state().faults.clear()
        return jsonify(ok=True)

    @admin.get("/requests")
    def requests_log():
        return jsonify(state().log.all())

    @admin.delete("/requests")
    def clear_requests():
        state().log.clear()
        return jsonify(ok=True)

    @admin.post("/clock")
    def move_clock():
        clock = state().clock
        if not hasattr(clock, "advance"):
            return error(400, message="this sandbox runs on the system clock")
        clock.advance(float(request.get_json(force=True)["advance"]))
        return jsonify(now=clock.now())
