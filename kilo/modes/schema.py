"""What a mode is and the rules it must follow (pure: no database).

A mode tells the coding assistant who to be (roleDefinition, customInstructions) and which
tool groups it may use (read, edit, browser, command, mcp). A group may carry options
`{fileRegex, description}`, e.g. architect may only edit Markdown files.

Validation follows Kilo Code's schema (packages/types/src/mode.ts) with the stricter slug
rule of its mode editor (lower-case letters, digits and dashes, at most 50 characters).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kilo.errors import ValidationError

TOOL_GROUPS = ("read", "edit", "browser", "command", "mcp")
GROUP_LABELS = {
    "read": "read files",
    "edit": "edit files",
    "browser": "use a browser",
    "command": "run terminal commands",
    "mcp": "use MCP servers",
}
OPTION_KEYS = ("fileRegex", "description")
SLUG_RE = re.compile(r"^[a-z0-9-]+$")
SLUG_MAX = 50
NAME_MAX = 100
TEXT_MAX = 100_000  # roleDefinition, whenToUse, description, customInstructions
MODE_KEYS = (
    "slug",
    "name",
    "roleDefinition",
    "whenToUse",
    "description",
    "customInstructions",
    "groups",
)

GroupEntry = str | list  # "read" or ["edit", {"fileRegex": ..., "description": ...}]


@dataclass
class ModeConfig:
    """One mode as Kilo Code defines it (snake_case here, camelCase in documents)."""

    slug: str
    name: str
    role_definition: str
    when_to_use: str = ""
    description: str = ""
    custom_instructions: str = ""
    groups: list[GroupEntry] = field(default_factory=list)

    def to_kilo(self) -> dict[str, Any]:
        """The mode as a `customModes` entry; empty optional fields are left out."""
        out: dict[str, Any] = {
            "slug": self.slug,
            "name": self.name,
            "roleDefinition": self.role_definition,
        }
        for key, value in (
            ("whenToUse", self.when_to_use),
            ("description", self.description),
            ("customInstructions", self.custom_instructions),
        ):
            if value:
                out[key] = value
        out["groups"] = [g if isinstance(g, str) else [g[0], dict(g[1])] for g in self.groups]
        return out


@dataclass
class ModeView:
    """A mode as the dashboard shows it: its definition plus where it comes from."""

    slug: str
    name: str
    role_definition: str
    when_to_use: str
    description: str
    custom_instructions: str
    groups: list[GroupEntry]
    kind: str  # "built-in" | "custom"
    overridden: bool  # a built-in the organization adjusted
    disabled: bool
    updated_at: datetime | None

    def config(self) -> ModeConfig:
        return ModeConfig(
            self.slug,
            self.name,
            self.role_definition,
            self.when_to_use,
            self.description,
            self.custom_instructions,
            list(self.groups),
        )


# --------------------------------------------------------------------------------------
# Validation (pure)
# --------------------------------------------------------------------------------------


def js_regex_error(pattern: str) -> str | None:
    """Why `pattern` does not compile as a regular expression, or None when it does.

    Kilo Code compiles fileRegex with JavaScript's RegExp; Python's `re` agrees on the
    patterns modes use. JavaScript's named groups `(?<name>...)` are accepted too.
    """
    try:
        re.compile(re.sub(r"\(\?<(?![=!])", "(?P<", pattern))
    except re.error as exc:
        return str(exc)
    return None


def _check_text(
    problems: list[str], label: str, value: Any, *, required: bool, max_len: int = TEXT_MAX
) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        problems.append(f"{label} must be text, not {_type_name(value)} (put it in quotes).")
        return ""
    if required and not value.strip():
        problems.append(f"{label} is required.")
    elif len(value) > max_len:
        problems.append(f"{label} is {len(value):,} characters long; the limit is {max_len:,}.")
    if "\x00" in value:
        problems.append(f"{label} contains a NUL character; remove it.")
    return value


def _preview(value: Any, limit: int = 80) -> str:
    try:
        return json.dumps(value, default=str)[:limit]
    except (RecursionError, ValueError):
        return _type_name(value)


def _type_name(value: Any) -> str:
    return {
        bool: "true/false",
        int: "a number",
        float: "a number",
        list: "a list",
        dict: "a mapping",
    }.get(type(value), type(value).__name__)


def _check_groups(problems: list[str], raw: Any) -> list[GroupEntry]:
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        problems.append("groups must be a list of tool groups (read, edit, browser, command, mcp).")
        return []
    groups: list[GroupEntry] = []
    seen: set[str] = set()
    for position, entry in enumerate(raw, start=1):
        where = f"group {position}"
        options: dict[str, Any] = {}
        if isinstance(entry, str):
            name = entry
        elif isinstance(entry, list | tuple) and len(entry) == 2 and isinstance(entry[0], str):
            name, raw_options = entry
            if raw_options is None:
                raw_options = {}
            if not isinstance(raw_options, dict):
                problems.append(
                    f"{where} ({name}): its options must be a mapping with "
                    "fileRegex and/or description."
                )
                continue
            unknown = [str(k) for k in raw_options if k not in OPTION_KEYS]
            if unknown:
                problems.append(
                    f"{where} ({name}): unknown option {', '.join(unknown)} "
                    "(allowed: fileRegex, description)."
                )
            for key in OPTION_KEYS:
                value = raw_options.get(key)
                if value is None or value == "":
                    continue
                if not isinstance(value, str):
                    problems.append(
                        f"{where} ({name}): {key} must be text, not "
                        f"{_type_name(value)} (put it in quotes)."
                    )
                    continue
                options[key] = value
            regex = options.get("fileRegex")
            if regex is not None and (err := js_regex_error(regex)) is not None:
                problems.append(
                    f"{where} ({name}): fileRegex “{regex}” is not a valid regular "
                    f"expression ({err})."
                )
        else:
            problems.append(
                f"{where}: expected a group name or [name, {{fileRegex, "
                f"description}}], got {_preview(entry)}."
            )
            continue
        if name not in TOOL_GROUPS:
            problems.append(
                f"{where}: “{name}” is not a tool group; use one of {', '.join(TOOL_GROUPS)}."
            )
            continue
        if name in seen:
            problems.append(f"{where}: “{name}” is listed more than once; list each group once.")
            continue
        seen.add(name)
        groups.append([name, options] if options else name)
    return groups


def check_mode(data: dict[str, Any]) -> tuple[ModeConfig | None, list[str]]:
    """Validate one mode given as a `customModes` entry (camelCase keys).

    Returns the normalised mode and no problems, or None and every problem found.
    Normalising: empty group options are dropped (`["edit", {}]` is plain `"edit"`).
    """
    if not isinstance(data, dict):
        return None, [
            f"expected a mode (a mapping with slug, name, roleDefinition, groups), "
            f"got {_type_name(data)}."
        ]
    problems: list[str] = []
    slug = _check_text(problems, "slug", data.get("slug"), required=True, max_len=SLUG_MAX)
    if slug.strip() and len(slug) <= SLUG_MAX and not SLUG_RE.match(slug):
        problems.append(
            f"slug “{slug}” may only contain lower-case letters, digits and dashes (a-z, 0-9, -)."
        )
    name = _check_text(problems, "name", data.get("name"), required=True, max_len=NAME_MAX)
    role = _check_text(problems, "roleDefinition", data.get("roleDefinition"), required=True)
    when = _check_text(problems, "whenToUse", data.get("whenToUse"), required=False)
    desc = _check_text(problems, "description", data.get("description"), required=False)
    instr = _check_text(
        problems, "customInstructions", data.get("customInstructions"), required=False
    )
    if "groups" not in data:
        problems.append("groups is required (use an empty list for a mode without tools).")
    groups = _check_groups(problems, data.get("groups"))
    if problems:
        return None, problems
    return ModeConfig(slug, name, role, when, desc, instr, groups), []


def validate_mode(mode: ModeConfig) -> ModeConfig:
    """The normalised mode, or ValidationError naming every problem."""
    checked, problems = check_mode(_raw(mode))
    if problems:
        raise ValidationError(join_problems(problems, f"The mode “{mode.slug}” is not valid:"))
    assert checked is not None
    return checked


def _raw(mode: ModeConfig) -> dict[str, Any]:
    # Unlike to_kilo(), keep every field (and its type) so validation sees what was given.
    return {
        "slug": mode.slug,
        "name": mode.name,
        "roleDefinition": mode.role_definition,
        "whenToUse": mode.when_to_use,
        "description": mode.description,
        "customInstructions": mode.custom_instructions,
        "groups": list(mode.groups),
    }


def join_problems(problems: list[str], heading: str) -> str:
    if len(problems) == 1:
        return f"{heading} {problems[0]}"
    return heading + "\n" + "\n".join(f"- {p}" for p in problems)
