"""A mode in plain words: its tools and restrictions, and whether it may edit a path (pure)."""

from __future__ import annotations

import re

from kilo import markdown
from kilo.modes.schema import GROUP_LABELS, TOOL_GROUPS, GroupEntry, ModeConfig


def describe_mode(mode: ModeConfig) -> list[str]:
    """How the mode reads: its tools and restrictions in plain words, one Markdown line each.

    The mode's own text (fileRegex, description) is escaped: it shows as written, never as
    a link, an image or formatting.
    """
    if not mode.groups:
        return ["No tools: it can only talk and hand work to other modes."]
    lines = []
    for entry in mode.groups:
        name, options = (entry, {}) if isinstance(entry, str) else (entry[0], entry[1])
        label = GROUP_LABELS[name][0].upper() + GROUP_LABELS[name][1:]
        regex = options.get("fileRegex")
        what = markdown.escape(options.get("description") or "")
        if regex:
            scope = f" ({what})" if what else ""
            lines.append(f"{label}: only files whose path matches {markdown.code(regex)}{scope}.")
        elif what:
            lines.append(f"{label} ({what}).")
        else:
            lines.append(f"{label}: any file." if name in ("read", "edit") else f"{label}.")
    missing = [GROUP_LABELS[g] for g in TOOL_GROUPS if g not in group_names(mode.groups)]
    if missing:
        lines.append("Cannot " + ", ".join(missing) + ".")
    return lines


def group_names(groups: list[GroupEntry]) -> list[str]:
    return [g if isinstance(g, str) else g[0] for g in groups]


def can_edit_file(mode: ModeConfig, path: str) -> bool:
    """Whether the mode may edit `path`, as Kilo Code decides (fileRegex searched in the path)."""
    for entry in mode.groups:
        name, options = (entry, {}) if isinstance(entry, str) else (entry[0], entry[1])
        if name == "edit":
            regex = options.get("fileRegex")
            return not regex or re.search(re.sub(r"\(\?<(?![=!])", "(?P<", regex), path) is not None
    return False


def tools_summary(groups: list[GroupEntry]) -> str:
    """Short form for tables: `read, edit (Markdown files only), mcp`."""
    parts = []
    for entry in groups:
        if isinstance(entry, str):
            parts.append(entry)
        else:
            opts = entry[1]
            parts.append(f"{entry[0]} ({opts.get('description') or opts.get('fileRegex', '')})")
    return ", ".join(parts) or "no tools"
