"""Group commit: concurrent writers share one transaction.

Every webhook must be durable before it is answered, and on SQLite the commit (with taking the
write lock) costs more than the INSERT. When several request threads write at once, the first
becomes the leader and writes everything queued so far in one transaction; the others wait for
that commit, and the next in line leads the following batch. A writer alone commits at once.
"""

import threading
from collections.abc import Callable


class _Entry:
    __slots__ = ("values", "wake", "written", "result", "error", "lead")

    def __init__(self, values):
        self.values = values
        self.wake = threading.Event()
        self.written = False
        self.result = None
        self.error = None
        self.lead = False


class GroupCommit:
    def __init__(self, write_batch: Callable[[list], list], max_batch: int = 64):
        """write_batch(list of values) -> list of results, in one transaction; raising fails
        every writer of that batch."""
        self.write_batch = write_batch
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Entry] = []
        self._leading = False

    def submit(self, values):
        entry = _Entry(values)
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

    def _lead(self, mine: _Entry) -> None:
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

    def _write(self, batch: list[_Entry]) -> None:
        try:
            results, error = self.write_batch([entry.values for entry in batch]), None
        except Exception as exc:  # every writer in the batch sees the failure
            results, error = [None] * len(batch), exc
        with self._lock:
            for entry, result in zip(batch, results, strict=True):
                entry.result, entry.error, entry.written = result, error, True
        for entry in batch:
            entry.wake.set()
