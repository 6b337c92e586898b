"""The plugin's state in one proxy process: settings, the dashboard client, the decision
cache, the spool, and two background tasks on the proxy's event loop (poll the policy
version once a second; send the spool's events in batches)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kilo_litellm.dashboard import Dashboard, Unavailable
from kilo_litellm.decisions import Decisions
from kilo_litellm.settings import Settings
from kilo_litellm.spool import Spool

log = logging.getLogger("kilo_litellm")

POLL_SECONDS = 1.0
BATCH = 500  # events per post (the dashboard takes at most 1,000)
FLUSH_SECONDS = 0.5  # the spool is sent twice a second: a post carries every request since
RETRY_MAX = 2.0  # longest wait between resends while the dashboard is away


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dashboard = Dashboard(settings)
        self.spool = Spool(settings.spool_dir)
        self.decisions = Decisions(
            self._ask, ttl=settings.decision_ttl, grace=settings.decision_grace
        )
        self._tasks: list[asyncio.Task[None]] = []

    async def _ask(self, api_key: str, model: str, provider: str | None, mode: str | None):
        return await self.dashboard.authorize(
            api_key=api_key, model=model, provider=provider, mode=mode
        )

    def start(self) -> None:
        """Start the background tasks once, on the running loop."""
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._poll_policy(), name="kilo-policy"),
            asyncio.create_task(self._send_spool(), name="kilo-spool"),
        ]

    def record(self, event: dict[str, Any]) -> None:
        """Append the event to the spool; the sender posts it within FLUSH_SECONDS."""
        self.spool.append(event)

    async def _poll_policy(self) -> None:
        while True:
            try:
                self.decisions.policy_seen(await self.dashboard.policy_version())
                self.decisions.dashboard_up()
            except Unavailable:
                self.decisions.dashboard_down()  # cached decisions serve for the grace period
            except Exception:  # noqa: BLE001 - the poller must outlive any surprise
                log.exception("kilo_litellm: polling the policy version failed")
            await asyncio.sleep(POLL_SECONDS)

    async def _send_spool(self) -> None:
        delay = FLUSH_SECONDS
        while True:
            try:
                sent = await self.send_once() if self.spool.claim_sender() else 0
                delay = FLUSH_SECONDS
            except Unavailable as exc:
                log.warning("kilo_litellm: dashboard unavailable for usage (%s); kept", exc)
                sent, delay = 0, min(RETRY_MAX, delay * 2)
            except Exception:  # noqa: BLE001
                log.exception("kilo_litellm: sending usage failed; kept in the spool")
                sent, delay = 0, RETRY_MAX
            if sent < BATCH:  # a full batch: more may be waiting, send again at once
                await asyncio.sleep(delay)

    async def send_once(self) -> int:
        """Send one batch from the spool; the number of lines it consumed."""
        events, bad, offset = self.spool.pending(BATCH)
        if bad:
            self.spool.reject([(line, "not a JSON object") for line in bad])
        if events:
            await self._post(events)
        if events or bad:
            self.spool.acknowledge(offset)
        return len(events) + len(bad)

    async def _post(self, events: list[dict[str, Any]]) -> None:
        """Post events; those refused as invalid go to the rejected file with the dashboard's
        message and the rest are posted again. Unavailable if it may be retried later."""
        remaining = list(range(len(events)))
        rejected: dict[int, str] = {}
        status, answer = 200, None
        while remaining:
            status, answer = await self.dashboard.post_usage([events[i] for i in remaining])
            if status != 422:
                break
            found = _problems(answer, len(remaining)) or {
                j: _message(answer) for j in range(len(remaining))
            }
            rejected.update({remaining[j]: m for j, m in found.items()})
            remaining = [i for j, i in enumerate(remaining) if j not in found]
            status = 200
        if rejected:
            self.spool.reject([(events[i], m) for i, m in sorted(rejected.items())])
            log.error(
                "kilo_litellm: %d usage events refused as invalid; kept in %s",
                len(rejected),
                self.spool.rejected,
            )
        if status != 200:
            raise Unavailable(f"usage answered HTTP {status}: {_message(answer)}")


def _message(answer: Any) -> str:
    error = answer.get("error") if isinstance(answer, dict) else None
    return str(error.get("message", "")) if isinstance(error, dict) else str(answer)[:300]


def _problems(answer: Any, count: int) -> dict[int, str]:
    """The dashboard's per-event problems of a refused batch: index -> message."""
    error = answer.get("error") if isinstance(answer, dict) else None
    found = error.get("events", []) if isinstance(error, dict) else []
    return {
        p["index"]: str(p.get("message", ""))
        for p in found
        if isinstance(p, dict) and isinstance(p.get("index"), int) and 0 <= p["index"] < count
    }


_runtime: Runtime | None = None


def runtime() -> Runtime:
    """This process's plugin state, created on first use (settings read then)."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime(Settings.from_env())
    _runtime.start()
    return _runtime
