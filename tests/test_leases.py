"""Leases: one holder at a time on SQLite and PostgreSQL; an expired lease can be taken over."""

from __future__ import annotations

import threading
from datetime import timedelta

from tracker import leases
from tracker.store.db import open_store
from tracker.timeutil import utcnow


def test_one_holder_then_expiry(db_url: str) -> None:
    store = open_store(db_url)
    now = utcnow()
    ttl = timedelta(minutes=5)
    assert leases.acquire(store, "collect:a", ttl, holder="w1", now=now)
    assert not leases.acquire(store, "collect:a", ttl, holder="w2", now=now + timedelta(minutes=1))
    assert leases.acquire(store, "collect:a", ttl, holder="w1", now=now + timedelta(minutes=2)), (
        "holder extends"
    )
    assert leases.holder_of(store, "collect:a", now=now + timedelta(minutes=3)) == "w1"
    later = now + timedelta(minutes=8)
    assert leases.acquire(store, "collect:a", ttl, holder="w2", now=later), (
        "a crashed holder's lease runs out"
    )
    assert leases.acquire(store, "collect:b", ttl, holder="w1", now=later), "leases are per name"
    leases.release(store, "collect:a", holder="w1")  # not the holder: nothing happens
    assert leases.holder_of(store, "collect:a", now=later) == "w2"
    leases.release(store, "collect:a", holder="w2")
    assert leases.holder_of(store, "collect:a", now=later) is None
    store.close()


def test_racing_workers_never_both_win(db_url: str) -> None:
    store = open_store(db_url)
    for round_ in range(5):
        winners: list[str] = []
        barrier = threading.Barrier(8)

        def race(name: str, lease: str, barrier: threading.Barrier, winners: list[str]) -> None:
            barrier.wait()
            if leases.acquire(store, lease, timedelta(minutes=5), holder=name):
                winners.append(name)

        args = (f"digest:{round_}", barrier, winners)
        threads = [threading.Thread(target=race, args=(f"w{i}", *args)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(winners) == 1, winners
    store.close()
