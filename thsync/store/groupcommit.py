"""Group commit: concurrent writers share one transaction.

Every webhook must be durable before it is answered, and on SQLite the commit (with taking the
write lock) costs more than the INSERT. When several request threads write at once, the first
becomes the leader and writes everything queued so far in one transaction; the others wait for
that commit, and the next in line leads the following batch. A writer alone commits at once.
"""

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")  # what one writer submits
R = TypeVar("R")  # what its write returns


class _Entry(Generic[V, R]):
    __slots__ = ("values", "wake", "written", "result", "error", "lead")

    def __init__(self, values: V) -> None:
        self.values = values
        self.wake = threading.Event()
        self.written = False
        self.result: R | None = None
        self.error: Exception | None = None
        self.lead = False


class GroupCommit(Generic[V, R]):
    def __init__(self, write_batch: Callable[[list[V]], list[R]], max_batch: int = 64) -> None:
        """write_batch(list of values) -> list of results, in one transaction; raising fails
        every writer of that batch."""
        self.write_batch = write_batch
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Entry[V, R]] = []
        self._leading = False

    def submit(self, values: V) -> R | None:
        """The write's result (None only when write_batch returned None for it)."""
        entry: _Entry[V, R] = _Entry(values)
        with self._lock:
            self._queue.append(entry)
            if not self._leading:
                self._leading = entry.lead = True
        while True:
            with self._lock:
                if entry.written or entry.lead:
                    break
            entry.wake.wait()
        if not entry.written:
            self._lead(entry)
        if entry.error is not None:
            raise entry.error
        return entry.result

    def _lead(self, mine: _Entry[V, R]) -> None:
        """Write batches until our own entry is written, then hand the lead on."""
        while True:
            with self._lock:
                if mine.written:
                    self._hand_on()
                    return
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
            self._write(batch)

    def _hand_on(self) -> None:
        if self._queue:
            successor = self._queue[0]
            successor.lead = True
            successor.wake.set()
        else:
            self._leading = False

    def _write(self, batch: list[_Entry[V, R]]) -> None:
        results: list[R] | list[None]
        error: Exception | None
        try:
            results, error = self.write_batch([entry.values for entry in batch]), None
        except Exception as exc:  # every writer in the batch sees the failure
            results, error = [None] * len(batch), exc
        with self._lock:
            for entry, result in zip(batch, results, strict=True):
                entry.result, entry.error, entry.written = result, error, True
        for entry in batch:
            entry.wake.set()
