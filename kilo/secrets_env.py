"""Settings given as a section of `.streamlit/secrets.toml` (`[smtp]`, `[seller]`), copied
into the environment once at start-up so that `kilo` services, which read the environment,
see them. Variables already set win; blank values are skipped."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


def export_section(
    secrets: Mapping[str, Any] | None, section: str, names: Mapping[str, str]
) -> None:
    """Copy `secrets[section][key]` to the environment variable `names[key]`."""
    try:
        values = (secrets or {}).get(section) or {}
    except Exception:  # noqa: BLE001  (st.secrets without a secrets.toml)
        return
    if not isinstance(values, Mapping):
        return
    for key, name in names.items():
        value = values.get(key)
        if value is not None and str(value).strip() and not os.environ.get(name):
            os.environ[name] = str(value).strip()
