"""Kilo Code's `customModes` document (`.kilocodemodes`, `custom_modes.yaml`), YAML or JSON.

Reading collects every problem and never raises; it refuses, before building anything,
documents over MAX_DOCUMENT_BYTES, YAML anchors and aliases, and nesting deeper than Python
recurses. Writing follows Kilo Code's own files (block style, multi-line text as `|`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import yaml

from kilo.errors import ValidationError
from kilo.modes.schema import MODE_KEYS, ModeConfig, check_mode

MAX_DOCUMENT_BYTES = 1_048_576  # an imported document: 1 MB, as the tab's file upload


class _AnchorRefused(yaml.YAMLError):
    def __init__(self, mark: yaml.Mark) -> None:
        super().__init__()
        self.problem_mark = mark


class _Loader(yaml.SafeLoader):
    """YAML 1.2 core scalars, as Kilo Code's `yaml` package reads them; no anchors or aliases.

    PyYAML follows YAML 1.1, where `yes`, `on`, `1:20` or `2024-01-01` are not text;
    Kilo Code would read them as text, so this loader does too.

    Anchors (`&a`) and aliases (`*a`) are refused while composing, before any node is built:
    a few hundred bytes of nested aliases ("billion laughs") expand to billions of values
    in anything that walks the result. Kilo Code's files do not use them.
    """

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _AnchorRefused(event.start_mark)
        return super().compose_node(parent, index)


class _Dumper(yaml.SafeDumper):
    """Block style like Kilo Code's files: nested lists indented, multi-line text as `|`."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


_CORE_RESOLVERS = [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+0123456789."),
    ),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
]
_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag in ("tag:yaml.org,2002:merge",)]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _tag, _rx, _first in _CORE_RESOLVERS:
    _Loader.add_implicit_resolver(_tag, re.compile(_rx), _first)
    # The dumper quotes anything either reader could take for a non-string.
    _Dumper.add_implicit_resolver(_tag, re.compile(_rx), _first)


def _load_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    value = loader.construct_scalar(node)
    return int(value, 0) if value.startswith(("0o", "0x")) else int(value)


_Loader.add_constructor("tag:yaml.org,2002:int", _load_int)


_YAML_BREAKS = re.compile("[\r\x85\u2028\u2029]")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if _YAML_BREAKS.search(value):
        # Line breaks other than \n are folded or normalised in plain and block scalars.
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _represent_str)


def dump_document(modes: list[ModeConfig], fmt: str = "yaml") -> str:
    """Modes as a `customModes` document: "yaml" (`.kilocodemodes`) or "json"."""
    doc = {"customModes": [m.to_kilo() for m in modes]}
    if fmt == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if fmt != "yaml":
        raise ValidationError(f"Unknown export format “{fmt}”; use yaml or json.")
    return yaml.dump(
        doc,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1_000_000,
    )


_TOO_DEEP = "The document is nested too deeply to be a customModes document."


@dataclass
class ParsedDocument:
    modes: list[ModeConfig]
    problems: list[str]  # "Mode 2 (“slug”): …" for every invalid mode
    ignored: list[str]  # fields Kilo Code writes that the organization does not keep


def document_too_large(text: str) -> str | None:
    """Why `text` is too large to import (over MAX_DOCUMENT_BYTES in UTF-8), or None."""
    if (
        len(text) <= MAX_DOCUMENT_BYTES
        and len(text.encode("utf-8", "replace")) <= MAX_DOCUMENT_BYTES
    ):
        return None
    return "The document is larger than 1 MB, the limit; import the modes in smaller files."


def parse_document(text: str) -> ParsedDocument:
    """Read a `customModes` document (YAML or JSON); collect every problem, never raise.

    Refused before parsing: more than MAX_DOCUMENT_BYTES. Refused while parsing, before
    anything is built: YAML anchors and aliases, and nesting deeper than Python recurses.
    """
    if (too_large := document_too_large(text)) is not None:
        return ParsedDocument([], [too_large], [])
    text = text.lstrip("\ufeff")
    if not text.strip():
        return ParsedDocument([], ["The file is empty; expected a customModes document."], [])
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else None
    except json.JSONDecodeError:
        data = None
    except RecursionError:
        return ParsedDocument([], [_TOO_DEEP], [])
    if data is None:
        try:
            data = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
        except _AnchorRefused as exc:
            mark = exc.problem_mark
            return ParsedDocument(
                [],
                [
                    f"The document uses a YAML anchor or alias (&name or *name) at line "
                    f"{mark.line + 1}, column {mark.column + 1}. They are not accepted here "
                    "(Kilo Code's files do not need them): write each value out in full."
                ],
                [],
            )
        except RecursionError:
            return ParsedDocument([], [_TOO_DEEP], [])
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            return ParsedDocument(
                [], [f"The file is not valid YAML or JSON{where}: {problem}."], []
            )
    if not isinstance(data, dict) or "customModes" not in data:
        return ParsedDocument(
            [],
            ["Expected a customModes document: a mapping whose customModes key lists the modes."],
            [],
        )
    raw_modes = data["customModes"] or []
    if not isinstance(raw_modes, list):
        return ParsedDocument([], ["customModes must be a list of modes."], [])
    modes: list[ModeConfig] = []
    problems: list[str] = []
    ignored: set[str] = set()
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_modes, start=1):
        label = f"Mode {index}"
        if isinstance(raw, dict) and isinstance(raw.get("slug"), str):
            label += f" (“{raw['slug']}”)"
            ignored.update(str(k) for k in raw if k not in MODE_KEYS)
        mode, errs = check_mode(raw)
        if mode is not None and mode.slug in seen:
            errs = [f"the slug is also used by mode {seen[mode.slug]}; slugs must be unique."]
        problems.extend(f"{label}: {e}" for e in errs)
        if mode is not None and not errs:
            seen[mode.slug] = index
            modes.append(mode)
    return ParsedDocument(modes, problems, sorted(ignored))
