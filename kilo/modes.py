"""Modes: Kilo Code's built-in modes (adjustable per organization) and custom modes.

A mode tells the coding assistant who to be (roleDefinition, customInstructions) and which
tool groups it may use (read, edit, browser, command, mcp). A group may carry options
`{fileRegex, description}`, e.g. architect may only edit Markdown files.

Storage (`Mode` rows, one per organization and slug):
- a custom mode is a row with `builtin=False`;
- an adjusted or disabled built-in is a row with `builtin=True` holding the full definition
  the organization uses. A built-in without a row is Kilo Code's default. "Reset to default"
  writes the default back (and drops the row unless the mode is also disabled).

Import and export use Kilo Code's own `customModes` document (`.kilocodemodes`,
`custom_modes.yaml`), as YAML or JSON. Validation follows Kilo Code's schema
(packages/types/src/mode.ts) with the stricter slug rule of its mode editor
(lower-case letters, digits and dashes, at most 50 characters).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import yaml
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from kilo import audit, markdown
from kilo.errors import Conflict, NotFound, ValidationError
from kilo.models import Mode, utcnow
from kilo.permissions import Actor, ensure_allowed

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
MAX_DOCUMENT_BYTES = 1_048_576  # an imported document: 1 MB, as the tab's file upload
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
# Kilo Code's built-in modes. Texts copied from Kilo-Org/kilocode (Apache-2.0),
# packages/types/src/mode.ts, DEFAULT_MODES at commit 249784e8bf1f190eb1056de9a15928293aedde8d
# (its sixth mode, "review", is newer than the five the dashboard manages).
# --------------------------------------------------------------------------------------

_ARCHITECT_INSTRUCTIONS = """\
1. Do some information gathering (using provided tools) to get more context about the task.

2. You should also ask the user clarifying questions to get a better understanding of the task.

3. Once you've gained more context about the user's request, break down the task into clear, \
actionable steps and create a todo list using the `update_todo_list` tool. Each todo item should be:
   - Specific and actionable
   - Listed in logical execution order
   - Focused on a single, well-defined outcome
   - Clear enough that another mode could execute it independently

   **Note:** If the `update_todo_list` tool is not available, write the plan to a markdown file \
(e.g., `plan.md` or `todo.md`) instead.

4. As you gather more information or discover new requirements, update the todo list to reflect \
the current understanding of what needs to be accomplished.

5. Ask the user if they are pleased with this plan, or if they would like to make any changes. \
Think of this as a brainstorming session where you can discuss the task and refine the todo list.

6. Include Mermaid diagrams if they help clarify complex workflows or system architecture. \
Please avoid using double quotes ("") and parentheses () inside square brackets ([]) in Mermaid \
diagrams, as this can cause parsing errors.

7. Use the switch_mode tool to request switching to another mode when you need to edit \
non-markdown files (like source code files: .ts, .js, .py, .java, etc.) or execute commands. \
You CAN directly create and edit markdown files (.md) without switching modes.

**IMPORTANT: Focus on creating clear, actionable todo lists rather than lengthy markdown \
documents. Use the todo list as your primary planning tool to track and organize the work that \
needs to be done.**

**CRITICAL: Never provide level of effort time estimates (e.g., hours, days, weeks) for tasks. \
Focus solely on breaking down the work into clear, actionable steps without estimating how long \
they will take.**

Unless told otherwise, if you want to save a plan file, put it in the /plans directory"""

_ORCHESTRATOR_INSTRUCTIONS = """\
Your role is to coordinate complex workflows by delegating tasks to specialized modes. As an \
orchestrator, you should:

1. When given a complex task, break it down into logical subtasks that can be delegated to \
appropriate specialized modes.

2. For each subtask, use the `new_task` tool to delegate. Choose the most appropriate mode for \
the subtask's specific goal and provide comprehensive instructions in the `message` parameter. \
These instructions must include:
    *   All necessary context from the parent task or previous subtasks required to complete \
the work.
    *   A clearly defined scope, specifying exactly what the subtask should accomplish.
    *   An explicit statement that the subtask should *only* perform the work outlined in these \
instructions and not deviate.
    *   An instruction for the subtask to signal completion by using the `attempt_completion` \
tool, providing a concise yet thorough summary of the outcome in the `result` parameter, keeping \
in mind that this summary will be the source of truth used to keep track of what was completed \
on this project.
    *   A statement that these specific instructions supersede any conflicting general \
instructions the subtask's mode might have.

3. Track and manage the progress of all subtasks. When a subtask is completed, analyze its \
results and determine the next steps.

4. Help the user understand how the different subtasks fit together in the overall workflow. \
Provide clear reasoning about why you're delegating specific tasks to specific modes.

5. When all subtasks are completed, synthesize the results and provide a comprehensive overview \
of what was accomplished.

6. Ask clarifying questions when necessary to better understand how to break down complex tasks \
effectively.

7. Suggest improvements to the workflow based on the results of completed subtasks.

Use subtasks to maintain clarity. If a request significantly shifts focus or requires a \
different expertise (mode), consider creating a subtask rather than overloading the current one."""

BUILTIN_MODES: tuple[ModeConfig, ...] = (
    ModeConfig(
        slug="architect",
        name="Architect",
        role_definition=(
            "You are Kilo Code, an experienced technical leader who is inquisitive and an "
            "excellent planner. Your goal is to gather information and get context to create a "
            "detailed plan for accomplishing the user's task, which the user will review and "
            "approve before they switch into another mode to implement the solution."
        ),
        when_to_use=(
            "Use this mode when you need to plan, design, or strategize before implementation. "
            "Perfect for breaking down complex problems, creating technical specifications, "
            "designing system architecture, or brainstorming solutions before coding."
        ),
        description="Plan and design before implementation",
        custom_instructions=_ARCHITECT_INSTRUCTIONS,
        groups=[
            "read",
            ["edit", {"fileRegex": r"\.md$", "description": "Markdown files only"}],
            "browser",
            "mcp",
        ],
    ),
    ModeConfig(
        slug="code",
        name="Code",
        role_definition=(
            "You are Kilo Code, a highly skilled software engineer with extensive knowledge in "
            "many programming languages, frameworks, design patterns, and best practices."
        ),
        when_to_use=(
            "Use this mode when you need to write, modify, or refactor code. Ideal for "
            "implementing features, fixing bugs, creating new files, or making code improvements "
            "across any programming language or framework."
        ),
        description="Write, modify, and refactor code",
        groups=["read", "edit", "browser", "command", "mcp"],
    ),
    ModeConfig(
        slug="ask",
        name="Ask",
        role_definition=(
            "You are Kilo Code, a knowledgeable technical assistant focused on answering "
            "questions and providing information about software development, technology, and "
            "related topics."
        ),
        when_to_use=(
            "Use this mode when you need explanations, documentation, or answers to technical "
            "questions. Best for understanding concepts, analyzing existing code, getting "
            "recommendations, or learning about technologies without making changes."
        ),
        description="Get answers and explanations",
        custom_instructions=(
            "You can analyze code, explain concepts, and access external resources. Always "
            "answer the user's questions thoroughly, and do not switch to implementing code "
            "unless explicitly requested by the user. Include Mermaid diagrams when they clarify "
            "your response."
        ),
        groups=["read", "browser", "mcp"],
    ),
    ModeConfig(
        slug="debug",
        name="Debug",
        role_definition=(
            "You are Kilo Code, an expert software debugger specializing in systematic problem "
            "diagnosis and resolution."
        ),
        when_to_use=(
            "Use this mode when you're troubleshooting issues, investigating errors, or "
            "diagnosing problems. Specialized in systematic debugging, adding logging, analyzing "
            "stack traces, and identifying root causes before applying fixes."
        ),
        description="Diagnose and fix software issues",
        custom_instructions=(
            "Reflect on 5-7 different possible sources of the problem, distill those down to 1-2 "
            "most likely sources, and then add logs to validate your assumptions. Explicitly ask "
            "the user to confirm the diagnosis before fixing the problem."
        ),
        groups=["read", "edit", "browser", "command", "mcp"],
    ),
    ModeConfig(
        slug="orchestrator",
        name="Orchestrator",
        role_definition=(
            "You are Kilo Code, a strategic workflow orchestrator who coordinates complex tasks "
            "by delegating them to appropriate specialized modes. You have a comprehensive "
            "understanding of each mode's capabilities and limitations, allowing you to "
            "effectively break down complex problems into discrete tasks that can be solved by "
            "different specialists."
        ),
        when_to_use=(
            "Use this mode for complex, multi-step projects that require coordination across "
            "different specialties. Ideal when you need to break down large tasks into subtasks, "
            "manage workflows, or coordinate work that spans multiple domains or expertise areas."
        ),
        description="Coordinate tasks across multiple modes",
        custom_instructions=_ORCHESTRATOR_INSTRUCTIONS,
        groups=[],
    ),
)
BUILTIN_SLUGS = tuple(m.slug for m in BUILTIN_MODES)
_BUILTIN = {m.slug: m for m in BUILTIN_MODES}


def builtin_default(slug: str) -> ModeConfig:
    """Kilo Code's default definition of a built-in mode (a fresh copy)."""
    if slug not in _BUILTIN:
        raise NotFound(f"“{slug}” is not a built-in mode ({', '.join(BUILTIN_SLUGS)}).")
    return ModeConfig(**json.loads(json.dumps(asdict(_BUILTIN[slug]))))


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
        raise ValidationError(_join(problems, f"The mode “{mode.slug}” is not valid:"))
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


def _join(problems: list[str], heading: str) -> str:
    if len(problems) == 1:
        return f"{heading} {problems[0]}"
    return heading + "\n" + "\n".join(f"- {p}" for p in problems)


# --------------------------------------------------------------------------------------
# Plain-words preview (pure)
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Documents: Kilo Code's `customModes` YAML / JSON
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Services
# --------------------------------------------------------------------------------------


def _row_config(row: Mode) -> ModeConfig:
    return ModeConfig(
        row.slug,
        row.name,
        row.role_definition,
        row.when_to_use,
        row.description,
        row.custom_instructions,
        list(row.groups or []),
    )


def _view(config: ModeConfig, *, kind: str, row: Mode | None) -> ModeView:
    overridden = kind == "built-in" and row is not None and config != _BUILTIN[config.slug]
    return ModeView(
        **asdict(config),
        kind=kind,
        overridden=overridden,
        disabled=bool(row and row.disabled),
        updated_at=row.updated_at if row is not None else None,
    )


def _rows(session: Session, org_id: int) -> dict[str, Mode]:
    rows = session.exec(select(Mode).where(Mode.org_id == org_id).order_by(col(Mode.id))).all()
    return {r.slug: r for r in rows}


def _row(session: Session, org_id: int, slug: str) -> Mode | None:
    return session.exec(select(Mode).where(Mode.org_id == org_id, Mode.slug == slug)).first()


def list_modes(session: Session, *, actor: Actor, search: str = "") -> list[ModeView]:
    """Every mode of the organization: the five built-ins (as adjusted) first, then custom
    modes in the order they were added (an imported file keeps its order). `search` keeps modes whose slug, name, description or whenToUse contain it."""
    ensure_allowed(actor, "modes.view")
    rows = _rows(session, actor.org_id)
    views = []
    for default in BUILTIN_MODES:
        row = rows.get(default.slug)
        config = _row_config(row) if row is not None else builtin_default(default.slug)
        views.append(_view(config, kind="built-in", row=row))
    custom = [r for r in rows.values() if not r.builtin]
    for row in custom:
        views.append(_view(_row_config(row), kind="custom", row=row))
    needle = search.strip().casefold()
    if needle:
        views = [
            v
            for v in views
            if any(needle in s.casefold() for s in (v.slug, v.name, v.description, v.when_to_use))
        ]
    return views


def get_mode(session: Session, *, actor: Actor, slug: str) -> ModeView:
    """One mode by slug (a built-in as the organization has it, or a custom mode)."""
    for view in list_modes(session, actor=actor):
        if view.slug == slug:
            return view
    raise NotFound(f"There is no mode “{slug}” in this organization.")


def effective_modes(session: Session, *, actor: Actor) -> list[ModeConfig]:
    """What members' editors use: built-ins with the organization's adjustments, without the
    disabled ones, then the custom modes."""
    return [v.config() for v in list_modes(session, actor=actor) if not v.disabled]


def _changes(before: ModeConfig, after: ModeConfig) -> dict[str, Any]:
    b, a = before.to_kilo(), after.to_kilo()
    return {k: {"before": b.get(k), "after": a.get(k)} for k in MODE_KEYS if b.get(k) != a.get(k)}


def _store(row: Mode, config: ModeConfig) -> None:
    row.slug, row.name = config.slug, config.name
    row.role_definition, row.when_to_use = config.role_definition, config.when_to_use
    row.description, row.custom_instructions = config.description, config.custom_instructions
    row.groups = json.loads(json.dumps(config.groups))
    row.updated_at = utcnow()


def _flush_unique(session: Session, slug: str) -> None:
    # Two admins saving the same new slug at once: the unique index decides.
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(
            f"A mode with the slug “{slug}” was just added by someone else. "
            "Reload the page and pick another slug."
        ) from None


def _insert_custom(
    session: Session, actor: Actor, config: ModeConfig, *, how: str, source: str = "dashboard"
) -> ModeView:
    if config.slug in _BUILTIN:
        raise ValidationError(
            f"“{config.slug}” is the slug of the built-in {_BUILTIN[config.slug].name} mode. "
            "Pick another slug, or adjust the built-in mode instead."
        )
    if _row(session, actor.org_id, config.slug) is not None:
        raise ValidationError(
            f"A mode with the slug “{config.slug}” already exists. Pick another slug."
        )
    row = Mode(org_id=actor.org_id, slug=config.slug, name=config.name)
    _store(row, config)
    session.add(row)
    _flush_unique(session, config.slug)
    audit.record(
        session,
        actor=actor,
        action="organization.mode.create",
        target=config.slug,
        message=f"Created mode “{config.name}” ({config.slug}){how}",
        details={"mode": config.to_kilo(), "source": source},
    )
    return _view(config, kind="custom", row=row)


def create_mode(session: Session, *, actor: Actor, mode: ModeConfig) -> ModeView:
    """Add a custom mode. The slug must be new in the organization and not a built-in's."""
    ensure_allowed(actor, "modes.change")
    return _insert_custom(session, actor, validate_mode(mode), how="")


def update_mode(session: Session, *, actor: Actor, slug: str, mode: ModeConfig) -> ModeView:
    """Change a custom mode (its slug too) or adjust a built-in (its slug stays)."""
    ensure_allowed(actor, "modes.change")
    config = validate_mode(mode)
    if slug in _BUILTIN:
        if config.slug != slug:
            raise ValidationError(
                f"The slug of the built-in mode “{slug}” cannot change. "
                "Duplicate it to make a custom mode with another slug."
            )
        return _update_builtin(session, actor, config, how="")
    row = _row(session, actor.org_id, slug)
    if row is None or row.builtin:
        raise NotFound(f"There is no custom mode “{slug}” in this organization.")
    return _update_custom(session, actor, row, config, how="")


def _update_custom(
    session: Session,
    actor: Actor,
    row: Mode,
    config: ModeConfig,
    *,
    how: str,
    source: str = "dashboard",
) -> ModeView:
    before = _row_config(row)
    if config.slug != row.slug:
        if config.slug in _BUILTIN:
            raise ValidationError(
                f"“{config.slug}” is the slug of a built-in mode. Pick another slug."
            )
        if _row(session, actor.org_id, config.slug) is not None:
            raise ValidationError(
                f"A mode with the slug “{config.slug}” already exists. Pick another slug."
            )
    changes = _changes(before, config)
    if changes:
        _store(row, config)
        session.add(row)
        _flush_unique(session, config.slug)
        audit.record(
            session,
            actor=actor,
            action="organization.mode.update",
            target=before.slug,
            message=f"Changed mode “{config.name}” ({config.slug}){how}: " + ", ".join(changes),
            details={"changes": changes, "source": source},
        )
    return _view(config, kind="custom", row=row)


def _update_builtin(
    session: Session,
    actor: Actor,
    config: ModeConfig,
    *,
    how: str,
    source: str = "dashboard",
    change: str = "adjust",
) -> ModeView:
    row = _row(session, actor.org_id, config.slug)
    before = _row_config(row) if row is not None else builtin_default(config.slug)
    changes = _changes(before, config)
    if not changes:
        return _view(before, kind="built-in", row=row)
    is_default = config == _BUILTIN[config.slug]
    if row is None:
        row = Mode(org_id=actor.org_id, slug=config.slug, name=config.name, builtin=True)
    if is_default and not row.disabled:
        if row.id is not None:
            session.delete(row)
        row = None
    else:
        _store(row, config)
        session.add(row)
    session.flush()
    verb = "Reset built-in mode" if change == "reset" else "Adjusted built-in mode"
    audit.record(
        session,
        actor=actor,
        action="organization.mode.update",
        target=config.slug,
        message=f"{verb} “{config.name}” ({config.slug}){how}: " + ", ".join(changes),
        details={"change": change, "changes": changes, "source": source},
    )
    return _view(config, kind="built-in", row=row)


def reset_builtin(session: Session, *, actor: Actor, slug: str) -> ModeView:
    """Restore Kilo Code's definition of a built-in mode (keeps it disabled if it was)."""
    ensure_allowed(actor, "modes.change")
    return _update_builtin(session, actor, builtin_default(slug), how="", change="reset")


def set_builtin_disabled(session: Session, *, actor: Actor, slug: str, disabled: bool) -> ModeView:
    """Disable a built-in mode for the organization's members, or enable it again."""
    ensure_allowed(actor, "modes.change")
    default = builtin_default(slug)
    row = _row(session, actor.org_id, slug)
    if bool(row and row.disabled) == disabled:
        return _view(_row_config(row) if row else default, kind="built-in", row=row)
    if row is None:
        row = Mode(org_id=actor.org_id, slug=slug, name=default.name, builtin=True)
        _store(row, default)
    config = _row_config(row)
    if not disabled and config == default:
        session.delete(row)
        row_after = None
    else:
        row.disabled = disabled
        row.updated_at = utcnow()
        session.add(row)
        row_after = row
    session.flush()
    word = "Disabled" if disabled else "Enabled"
    audit.record(
        session,
        actor=actor,
        action="organization.mode.update",
        target=slug,
        message=f"{word} built-in mode “{config.name}” ({slug})",
        details={
            "change": "disable" if disabled else "enable",
            "disabled": {"before": not disabled, "after": disabled},
            "source": "dashboard",
        },
    )
    return _view(config, kind="built-in", row=row_after)


def delete_mode(session: Session, *, actor: Actor, slug: str) -> None:
    """Delete a custom mode. Built-in modes cannot be deleted: reset or disable them."""
    ensure_allowed(actor, "modes.change")
    if slug in _BUILTIN:
        raise ValidationError(
            f"“{slug}” is a built-in mode and cannot be deleted; "
            "disable it or reset it to Kilo Code's default instead."
        )
    row = _row(session, actor.org_id, slug)
    if row is None or row.builtin:
        raise NotFound(f"There is no custom mode “{slug}” in this organization.")
    config = _row_config(row)
    session.delete(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="organization.mode.delete",
        target=slug,
        message=f"Deleted mode “{config.name}” ({slug})",
        details={"mode": config.to_kilo(), "source": "dashboard"},
    )


def free_slug(session: Session, *, org_id: int, base: str) -> str:
    """`base-copy`, `base-copy-2`, … : the first slug not taken in the organization."""
    taken = set(_rows(session, org_id)) | set(BUILTIN_SLUGS)
    stem = f"{base}-copy"[:SLUG_MAX]
    candidate, n = stem, 2
    while candidate in taken:
        suffix = f"-{n}"
        candidate, n = stem[: SLUG_MAX - len(suffix)] + suffix, n + 1
    return candidate


def duplicate_mode(
    session: Session,
    *,
    actor: Actor,
    slug: str,
    new_slug: str | None = None,
    new_name: str | None = None,
) -> ModeView:
    """Copy any mode (built-in or custom) into a new custom mode."""
    ensure_allowed(actor, "modes.change")
    copy = get_mode(session, actor=actor, slug=slug).config()
    copy.slug = new_slug or free_slug(session, org_id=actor.org_id, base=slug)
    copy.name = new_name or f"{copy.name} (copy)"[:NAME_MAX]
    return _insert_custom(
        session, actor, validate_mode(copy), how=f", copied from “{slug}”", source="duplicate"
    )


def export_modes(
    session: Session, *, actor: Actor, fmt: str = "yaml", include_builtins: bool = False
) -> str:
    """The organization's modes as a `customModes` document (YAML or JSON).

    By default: custom modes plus the built-ins the organization adjusted (what a
    `.kilocodemodes` file holds). With `include_builtins`, every enabled mode as members'
    editors see it. Disabled is not part of Kilo Code's format and is not exported.
    """
    views = list_modes(session, actor=actor)
    if include_builtins:
        chosen = [v for v in views if not v.disabled]
    else:
        chosen = [v for v in views if v.kind == "custom" or v.overridden]
    return dump_document([v.config() for v in chosen], fmt)


@dataclass
class ImportItem:
    slug: str
    name: str
    kind: str  # "built-in" | "custom"
    action: str  # "create" | "update" | "unchanged"
    changed: list[str]  # camelCase field names that change


@dataclass
class ImportPlan:
    items: list[ImportItem]
    problems: list[str]
    ignored: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def count(self, action: str) -> int:
        return sum(1 for i in self.items if i.action == action)


def plan_import(session: Session, *, actor: Actor, text: str) -> ImportPlan:
    """What importing `text` would do, mode by mode, and every invalid mode with its reason.

    A mode whose slug is a built-in's adjusts that built-in; a slug the organization has
    updates that custom mode; any other slug creates a custom mode. Nothing is deleted.
    """
    ensure_allowed(actor, "modes.view")
    parsed = parse_document(text)
    current = {v.slug: v for v in list_modes(session, actor=actor)}
    items = []
    for mode in parsed.modes:
        view = current.get(mode.slug)
        kind = "built-in" if mode.slug in _BUILTIN else "custom"
        if view is None:
            items.append(ImportItem(mode.slug, mode.name, kind, "create", []))
            continue
        changed = list(_changes(view.config(), mode))
        items.append(
            ImportItem(mode.slug, mode.name, kind, "update" if changed else "unchanged", changed)
        )
    if not parsed.modes and not parsed.problems:
        parsed.problems.append("The document lists no modes.")
    return ImportPlan(items, parsed.problems, parsed.ignored)


def import_modes(session: Session, *, actor: Actor, text: str) -> ImportPlan:
    """Import a `customModes` document: all modes or none.

    Writes one `organization.mode.create` or `.update` audit entry per changed mode
    (details.source = "import"); unchanged modes write nothing.
    """
    ensure_allowed(actor, "modes.change")
    plan = plan_import(session, actor=actor, text=text)
    if not plan.ok:
        raise ValidationError(_join(plan.problems, "Nothing was imported:"))
    parsed = {m.slug: m for m in parse_document(text).modes}
    for item in plan.items:
        mode = parsed[item.slug]
        if item.action == "unchanged":
            continue
        if item.kind == "built-in":
            _update_builtin(session, actor, mode, how=" (import)", source="import")
        elif item.action == "create":
            _insert_custom(session, actor, mode, how=" (import)", source="import")
        else:
            row = _row(session, actor.org_id, item.slug)
            assert row is not None
            _update_custom(session, actor, row, mode, how=" (import)", source="import")
    return plan


# --------------------------------------------------------------------------------------
# Demo data
# --------------------------------------------------------------------------------------

DEMO_MODES = """\
customModes:
  - slug: test-engineer
    name: 🧪 Test Engineer
    roleDefinition: You are Kilo Code, a QA engineer for Acme Robotics' firmware and fleet \
services. You write focused, deterministic tests (pytest for services, GoogleTest for firmware) \
and explain every failure you find.
    whenToUse: Use this mode to add or fix tests, raise coverage before a release, or reproduce \
a reported bug as a failing test.
    description: Write and fix tests
    groups:
      - read
      - command
      - - edit
        - fileRegex: (^|/)(tests?|__tests__)/|_test\\.(py|cc|go)$|\\.test\\.(ts|tsx)$
          description: Test files only
    customInstructions: |-
      - Run the narrowest test command first, then the package's suite.
      - Never weaken an assertion to make a test pass; report the bug instead.
      - Hardware-in-the-loop tests live in hil/ and need a lab slot: do not run them.
  - slug: security-reviewer
    name: 🔒 Security Reviewer
    roleDefinition: You are Kilo Code, an application security reviewer. You read code changes \
for injection, authentication and authorization flaws, secrets in code, unsafe deserialization \
and dependency risks, and you report findings with severity and a concrete fix.
    whenToUse: Use this mode before merging changes that touch authentication, the fleet API, \
or anything that parses input from robots in the field.
    description: Review changes for security issues
    groups:
      - read
      - - edit
        - fileRegex: ^docs/security/.*\\.md$
          description: Security review notes only
      - mcp
"""


def seed_demo(session: Session, org: Any, owner_member: Any, rng: Any) -> None:
    """Two custom modes and an adjusted architect (may also edit diagrams), by the owner."""
    from kilo.members import actor_for

    actor = actor_for(owner_member)
    import_modes(session, actor=actor, text=DEMO_MODES)
    architect = builtin_default("architect")
    architect.groups[1] = [
        "edit",
        {"fileRegex": r"\.(md|mmd|puml)$", "description": "Markdown and diagram files only"},
    ]
    architect.custom_instructions += (
        "\n\nAcme Robotics: architecture decision records go in docs/adr/ as "
        "NNNN-title.md; draw sequence diagrams in PlantUML (.puml)."
    )
    update_mode(session, actor=actor, slug="architect", mode=architect)


# --------------------------------------------------------------------------------------
# Command line: python -m kilo modes-export | modes-import
# --------------------------------------------------------------------------------------


def _cli_org(session: Session, org: int | None) -> int:
    from kilo.organization import choose_org_id

    return choose_org_id(session, org)


def _cmd_export(args: Any) -> int:
    from kilo.db import read_session
    from kilo.permissions import system_actor

    with read_session() as session:
        actor = system_actor(_cli_org(session, args.org))
        text = export_modes(session, actor=actor, fmt=args.format, include_builtins=args.all)
    if args.output in (None, "-"):
        print(text, end="")
    else:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    return 0


def _cmd_import(args: Any) -> int:
    import sys

    from kilo.db import write_session
    from kilo.permissions import system_actor

    try:
        with open(args.file, encoding="utf-8-sig") as fh:
            text = fh.read(MAX_DOCUMENT_BYTES + 1)  # one more: parse_document says it is too big
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"Cannot read {args.file}: {exc}") from None
    with write_session() as session:
        actor = system_actor(_cli_org(session, args.org))
        plan = plan_import(session, actor=actor, text=text)
        for item in plan.items:
            extra = f" ({', '.join(item.changed)})" if item.changed else ""
            print(f"{item.action:9} {item.kind:8} {item.slug}{extra}")
        for problem in plan.problems:
            print(f"invalid: {problem}", file=sys.stderr)
        if not plan.ok:
            raise ValidationError(f"{len(plan.problems)} problem(s); nothing was imported.")
        if args.dry_run:
            print("Dry run: nothing was imported.")
            return 0
        import_modes(session, actor=actor, text=text)
    print(
        f"Imported: {plan.count('create')} created, {plan.count('update')} updated, "
        f"{plan.count('unchanged')} unchanged."
    )
    return 0


def register_cli(subparsers: Any) -> None:
    """`modes-export` and `modes-import`."""
    p = subparsers.add_parser(
        "modes-export",
        help="write the organization's modes as a Kilo Code customModes file",
        description="Write the organization's modes as Kilo Code's customModes document "
        "(.kilocodemodes / custom_modes.yaml), YAML or JSON. By default the custom modes and "
        "the adjusted built-ins; with --all every enabled mode as members' editors see it.",
    )
    p.add_argument(
        "--format", choices=("yaml", "json"), default="yaml", help="document format (default: yaml)"
    )
    p.add_argument(
        "--all", action="store_true", help="include every enabled built-in mode, adjusted or not"
    )
    p.add_argument("--output", "-o", help="file to write (default: standard output)")
    p.add_argument("--org", type=int, help="organization id (needed only with several)")
    p.set_defaults(func=_cmd_export)
    p = subparsers.add_parser(
        "modes-import",
        help="import a Kilo Code / Roo Code customModes file (YAML or JSON)",
        description="Import a customModes document (.kilocodemodes, .roomodes, "
        "custom_modes.yaml, YAML or JSON). Prints what is created or updated; if any mode is "
        "invalid, prints every problem and imports nothing. A built-in's slug adjusts that "
        "built-in. Audit entries name the system actor.",
    )
    p.add_argument("file", help="path to the YAML or JSON file")
    p.add_argument("--org", type=int, help="organization id (needed only with several)")
    p.add_argument("--dry-run", action="store_true", help="show the plan, import nothing")
    p.set_defaults(func=_cmd_import)
