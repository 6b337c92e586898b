"""Decisions cached briefly, so that the proxy does not ask the dashboard before every
request and keeps serving through a short dashboard restart.

- A decision (allow or refusal) for one key, model, provider and mode is reused for
  `decision_ttl` seconds (default 5) as long as the organization's policy version is the
  one it was made under. The plugin polls the version once a second
  (`GET /api/v1/gateway/policy`): any audited change (a model disabled, a key revoked, a
  member removed, a limit changed...) drops every cached decision, so the next request is
  asked afresh.
- When the dashboard cannot be reached, a cached decision is reused up to
  `decision_grace` seconds (default 60) after it was made. After that, and for any request
  not decided before, the answer is a refusal (503 `dashboard_unreachable`): the proxy
  fails closed, so a model disabled before the outage is never let through.
- Spend limits and the balance are checked when the decision is made: within the TTL a
  member can go past their daily limit or the balance by the requests of those seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable

from kilo_litellm.dashboard import Decision, Unavailable

MAX_ENTRIES = 10_000
RETRY_SECONDS = 1.0

UNREACHABLE = Decision(
    False,
    status=503,
    code="dashboard_unreachable",
    message=(
        "The gateway cannot reach the Kilo dashboard to authorize this request, and has no "
        "recent decision for it. Try again in a minute; if it persists, tell your admin."
    ),
    headers={"Retry-After": "10"},
)

Key = tuple[str, str, str | None, str | None]
Ask = Callable[[str, str, str | None, str | None], Awaitable[Decision]]


class Decisions:
    def __init__(
        self, ask: Ask, *, ttl: float, grace: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ask = ask
        self.ttl, self.grace, self._clock = ttl, grace, clock
        self._entries: dict[Key, tuple[Decision, float]] = {}
        self._inflight: dict[Key, asyncio.Future[Decision]] = {}
        self.version: int | None = None
        self._down_until = 0.0  # after a failed call, serve from the cache until then

    def dashboard_down(self) -> None:
        """The dashboard did not answer: for the next second, requests with a decision
        within the grace period are served from it without trying the dashboard again."""
        self._down_until = self._clock() + RETRY_SECONDS

    def dashboard_up(self) -> None:
        self._down_until = 0.0

    def _stale(self, key: Key) -> Decision | None:
        """The cached decision for `key` while within the grace period, else None."""
        cached = self._entries.get(key)
        if cached is not None and self._clock() - cached[1] < self.grace:
            return cached[0]
        return None

    def policy_seen(self, version: int | None) -> None:
        """The dashboard's current policy version: a newer one drops every cached decision
        (versions only grow: the id of the organization's latest audit entry)."""
        if version is not None and (self.version is None or version > self.version):
            self._entries.clear()
            self.version = version

    def _fresh(self, decision: Decision, made: float, now: float) -> bool:
        if now - made >= self.ttl:
            return False
        return decision.policy_version is None or decision.policy_version == self.version

    async def decide(
        self, api_key: str, model: str, provider: str | None, mode: str | None
    ) -> Decision:
        key: Key = (hashlib.sha256(api_key.encode()).hexdigest(), model, provider, mode)
        cached = self._entries.get(key)
        if cached is not None and self._fresh(*cached, self._clock()):
            return cached[0]
        if self._clock() < self._down_until and (stale := self._stale(key)) is not None:
            return stale
        pending = self._inflight.get(key)
        if pending is not None:  # one question per key at a time
            return await asyncio.shield(pending)
        future: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            try:
                decision = await self._ask(api_key, model, provider, mode)
            except Unavailable:
                self.dashboard_down()
                decision = self._stale(key) or UNREACHABLE
            else:
                self.dashboard_up()
                self.policy_seen(decision.policy_version)
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
                self._entries[key] = (decision, self._clock())
            future.set_result(decision)
            return decision
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it, nobody logs "never retrieved"
            raise
        finally:
            del self._inflight[key]
