"""The plugin's settings, read once from the environment of the LiteLLM proxy."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_MODE = re.compile(r"^[a-z0-9-]{1,50}$")


class SettingsError(RuntimeError):
    """A missing or malformed setting: the proxy refuses to start with the plugin."""


def _seconds(name: str, default: float, low: float, high: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low:g} and {high:g} seconds")
    return value


@dataclass(frozen=True)
class Settings:
    dashboard_url: str  # e.g. http://dashboard.internal:8501
    gateway_token: str  # kilo_gw_…
    spool_dir: Path
    decision_ttl: float  # a decision is reused this long while the policy is unchanged
    decision_grace: float  # ... and this long while the dashboard cannot be reached
    default_mode: str  # recorded when the client sends no mode
    timeout: float  # per call to the dashboard

    @classmethod
    def from_env(cls) -> Settings:
        url = os.environ.get("KILO_DASHBOARD_URL", "").strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise SettingsError(
                "KILO_DASHBOARD_URL must be the dashboard's address, e.g. http://127.0.0.1:8501"
            )
        token = os.environ.get("KILO_GATEWAY_TOKEN", "").strip()
        if not token.startswith("kilo_gw_"):
            raise SettingsError(
                "KILO_GATEWAY_TOKEN must be a gateway token (kilo_gw_…); owners and admins "
                "create one on the dashboard's Organization tab"
            )
        mode = os.environ.get("KILO_DEFAULT_MODE", "code").strip()
        if not _MODE.match(mode):
            raise SettingsError("KILO_DEFAULT_MODE must be a mode slug such as code")
        ttl = _seconds("KILO_DECISION_TTL", 5.0, 0.0, 60.0)
        grace = _seconds("KILO_DECISION_GRACE", 60.0, 0.0, 900.0)
        return cls(
            dashboard_url=url,
            gateway_token=token,
            spool_dir=Path(os.environ.get("KILO_SPOOL_DIR", "kilo-spool")),
            decision_ttl=ttl,
            decision_grace=max(grace, ttl),
            default_mode=mode,
            timeout=_seconds("KILO_DASHBOARD_TIMEOUT", 2.0, 0.1, 60.0),
        )
