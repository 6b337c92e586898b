"""`api.core.in_thread`: the endpoints' work runs in bounded pools of worker threads, and the
gateway's decisions have a pool of their own (they never queue behind usage batches or
read-API exports)."""

from __future__ import annotations

import threading

import anyio

from api import core


def test_pools_are_bounded_and_decisions_have_their_own(monkeypatch):
    monkeypatch.setattr(core, "_pools", {})
    running = 0
    most = 0
    lock = threading.Lock()
    gate = threading.Event()

    def slow_export() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        gate.wait(10)
        with lock:
            running -= 1

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(core.WORKERS * 2):
                group.start_soon(core.in_thread, slow_export)
            await anyio.sleep(0.2)
            assert most == core.WORKERS  # the others wait for a thread
            with anyio.fail_after(5):  # a decision is answered meanwhile
                assert await core.in_thread(lambda: "allowed", pool="decide") == "allowed"
            gate.set()
        assert running == 0 and most == core.WORKERS

    anyio.run(main)


def test_usage_batches_get_more_workers_on_postgresql_only(monkeypatch):
    class Engine:
        def __init__(self, name: str) -> None:
            self.dialect = type("Dialect", (), {"name": name})()

    for name, size in (("sqlite", core.WORKERS), ("postgresql", 16)):
        monkeypatch.setattr(core, "get_engine", lambda name=name: Engine(name))
        assert core.pool_size("ingest") == size
        assert core.pool_size("decide") == core.pool_size("other") == core.WORKERS
