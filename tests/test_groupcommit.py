"""Group commit hands every writer its own result, batches concurrent writers, fails together."""

import threading

import pytest

from thsync.store.groupcommit import GroupCommit


def test_alone_a_writer_commits_at_once():
    batches = []
    group = GroupCommit(lambda values: batches.append(list(values)) or [v * 2 for v in values])
    assert [group.submit(n) for n in range(3)] == [0, 2, 4]
    assert batches == [[0], [1], [2]]


def test_concurrent_writers_share_transactions_and_get_their_own_results():
    batches, gate = [], threading.Event()

    def write(values):
        gate.wait(5)  # hold the first batch so the others queue up behind it
        batches.append(list(values))
        return [f"id-{v}" for v in values]

    group = GroupCommit(write)
    results = {}

    def writer(n):
        results[n] = group.submit(n)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    while sum(len(b) for b in batches) == 0 and len(group._queue) < 19:
        threading.Event().wait(0.01)
    gate.set()
    for thread in threads:
        thread.join(10)
    assert results == {n: f"id-{n}" for n in range(20)}
    assert sorted(v for b in batches for v in b) == list(range(20))
    assert len(batches) < 20  # the queued writers were batched


def test_a_failed_batch_fails_each_of_its_writers():
    def write(values):
        raise RuntimeError("disk full")

    group = GroupCommit(write)
    with pytest.raises(RuntimeError, match="disk full"):
        group.submit(1)
    with pytest.raises(RuntimeError, match="disk full"):
        group.submit(2)  # and the group is still usable afterwards
