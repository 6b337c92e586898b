"""Whether an empty database gets the demo: `[app] demo` in secrets, or `KILO_DEMO`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from kilo.errors import ValidationError

_OFF = {"0", "false", "no", "off"}
_ON = {"1", "true", "yes", "on"}


def demo_enabled(settings: Mapping[str, Any] | None = None) -> bool:
    """Whether an empty database gets the demo organization at start-up.

    `[app] demo` in `settings` (a mapping such as st.secrets) wins, then the `KILO_DEMO`
    environment variable; on when neither is set. Values: true/false, 1/0, yes/no, on/off.
    """
    value: Any = None
    if settings is not None:
        try:
            value = (settings.get("app") or {}).get("demo")
        except Exception:  # noqa: BLE001  (st.secrets without a secrets.toml)
            value = None
    source = "[app] demo in secrets"
    if value is None:
        value, source = os.environ.get("KILO_DEMO"), "KILO_DEMO"
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _OFF:
        return False
    if word in _ON:
        return True
    raise ValidationError(f"{source} is “{value}”; set it to 1 (demo on) or 0 (demo off).")
