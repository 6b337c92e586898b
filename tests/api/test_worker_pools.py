"""`api.core.in_thread`: the endpoints' work runs in bounded pools of worker threads, and the
gateway's calls have a pool of their own (they never queue behind read-API exports)."""

from __future__ import annotations

import threading

import anyio

from api import core


def test_pools_are_bounded_and_the_gateway_has_its_own(monkeypatch):
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
            with anyio.fail_after(5):  # a gateway call is answered meanwhile
                assert await core.in_thread(lambda: "allowed", pool="gateway") == "allowed"
            gate.set()
        assert running == 0 and most == core.WORKERS

    anyio.run(main)
