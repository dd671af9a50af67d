"""What both sandboxes share: injected faults, the request log, sliding-window counters, a clock
the admin API can move, and the admin routes for all of these."""

import contextlib
import socket
import threading
import time
from collections import deque

from flask import current_app, jsonify, request


class FaultSpecError(ValueError):
    """The fault asked for through /_admin/faults is not one this sandbox can inject."""


class Faults:
    """Faults armed through the admin API: the next `count` matching requests get `kind`."""

    def __init__(self, kinds: tuple[str, ...]):
        self.kinds = kinds
        self._lock = threading.Lock()
        self._armed = []

    def arm(self, spec) -> dict:
        fault = parse_fault(spec, self.kinds)
        with self._lock:
            self._armed.append(fault)
        return dict(fault)

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def take(self, path: str, method: str, kinds) -> dict | None:
        """The first armed fault of one of `kinds` matching this request, used up by one."""
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


def parse_fault(spec, kinds: tuple[str, ...]) -> dict:
    if not isinstance(spec, dict):
        raise FaultSpecError("the body must be a JSON object with a kind")
    kind = str(spec.get("kind"))
    if kind not in kinds:
        raise FaultSpecError(f"unknown fault kind '{kind}'; one of: {', '.join(kinds)}")
    try:
        fault = {
            "kind": kind,
            "count": int(spec.get("count", 1)),
            "path": spec.get("path") or None,
            "method": (spec.get("method") or "").upper() or None,
            "delay": float(spec.get("delay", 2.0)),
        }
    except (TypeError, ValueError) as exc:
        raise FaultSpecError("count and delay must be numbers") from exc
    if fault["count"] < 1 or fault["delay"] < 0:
        raise FaultSpecError("count must be at least 1 and delay not negative")
    return fault


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
    """How many events fell in the last `seconds` (a sliding window). Not locked itself: the
    owning sandbox holds its state lock around count() and add()."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.times = deque()

    def count(self, now: float) -> int:
        while self.times and self.times[0] <= now - self.seconds:
            self.times.popleft()
        return len(self.times)

    def add(self, now: float) -> None:
        self.times.append(now)


class OffsetClock:
    """The system clock plus an offset that POST /_admin/clock moves, so a sandbox started
    without a test's ManualClock can still be made to see token expiry or a rate window end."""

    def __init__(self):
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


def clock_of(config: dict):
    return config.get("clock") or OffsetClock()


def extension(name: str):
    """The state of the sandbox serving this request (kept on the app, never in a global)."""
    return current_app.extensions[name]


DROPPED = "sandbox.dropped"  # request.environ key: this request's connection was dropped


def drop_connection() -> None:
    """Hang up on the client without answering: a lost request or a lost response.

    Shutting the socket down (rather than closing it) sends the FIN at once and leaves the
    file descriptor to werkzeug, whose attempt to write the response then fails with a broken
    pipe, which it treats as a client that went away and keeps quiet about."""
    sock = request.environ.get("werkzeug.socket")
    if sock is None:
        raise RuntimeError("dropping a connection needs werkzeug's server (sandboxes.serve)")
    request.environ[DROPPED] = True
    with contextlib.suppress(OSError):  # the client hung up first: dropped either way
        sock.shutdown(socket.SHUT_RDWR)


def outcome(status: int) -> dict:
    """The status a request log entry records: None (and dropped) when nobody got an answer."""
    if request.environ.get(DROPPED):
        return {"status": None, "dropped": True}
    return {"status": status}


def serve_fault(fault: dict | None, answer):
    """What an armed fault does to this request: None to carry on (no fault, or a slow one
    after its wait), else the response; `answer(kind)` makes the sandbox's own error answers.
    A slow fault waits in real time, whatever the sandbox clock: its point is to outlast the
    client's socket timeout, which a ManualClock cannot move."""
    if fault is None:
        return None
    if fault["kind"] == "slow":
        time.sleep(fault["delay"])
        return None
    if fault["kind"] == "drop":
        drop_connection()
        return "", 500  # never reaches the client
    return answer(fault["kind"])


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
        try:
            return jsonify(state().faults.arm(request.get_json(silent=True))), 201
        except FaultSpecError as exc:
            return error(400, message=str(exc))

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
        body = request.get_json(silent=True) or {}
        if not hasattr(clock, "advance"):
            return error(400, message="this sandbox's clock cannot be moved from outside")
        try:
            clock.advance(float(body["advance"]))
        except (KeyError, TypeError, ValueError):
            return error(400, message="advance must be a number of seconds")
        return jsonify(now=clock.now())
