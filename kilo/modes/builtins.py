"""Kilo Code's five built-in modes (architect, code, ask, debug, orchestrator).

Their definitions are data: `builtin_modes.yaml` next to this module, a `customModes`
document read once at import with the same reader as an imported file. An organization may
adjust or disable a built-in (see `service`); this module only knows Kilo Code's defaults.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from kilo.errors import NotFound
from kilo.modes.document import parse_document
from kilo.modes.schema import ModeConfig

BUILTINS_FILE = Path(__file__).with_name("builtin_modes.yaml")


def _load() -> tuple[ModeConfig, ...]:
    parsed = parse_document(BUILTINS_FILE.read_text(encoding="utf-8"))
    if parsed.problems or parsed.ignored:
        raise RuntimeError(f"{BUILTINS_FILE} is not a valid customModes document: {parsed}")
    return tuple(parsed.modes)


BUILTIN_MODES: tuple[ModeConfig, ...] = _load()
BUILTIN_SLUGS = tuple(m.slug for m in BUILTIN_MODES)
BUILTIN_BY_SLUG = {m.slug: m for m in BUILTIN_MODES}


def builtin_default(slug: str) -> ModeConfig:
    """Kilo Code's default definition of a built-in mode (a fresh copy)."""
    if slug not in BUILTIN_BY_SLUG:
        raise NotFound(f"“{slug}” is not a built-in mode ({', '.join(BUILTIN_SLUGS)}).")
    return ModeConfig(**json.loads(json.dumps(asdict(BUILTIN_BY_SLUG[slug]))))
