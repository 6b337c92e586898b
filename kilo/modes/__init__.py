"""Modes: Kilo Code's built-in modes (adjustable per organization) and custom modes.

- `schema`: ModeConfig / ModeView, the tool groups and the validation rules (pure);
- `describe`: a mode in plain words, and whether it may edit a path (pure);
- `document`: Kilo Code's `customModes` document, YAML or JSON (parse, dump, limits);
- `builtins`: Kilo Code's five built-in modes, read once from `builtin_modes.yaml`;
- `store`: `Mode` rows <-> definitions (no permission checks);
- `service`: the organization's modes, actor-scoped: list, change, import, export;
- `demo`: the demo organization's modes.

The names below are the package's public interface (pages, tests, the README).
"""

from kilo.modes.builtins import BUILTIN_MODES, BUILTIN_SLUGS, builtin_default
from kilo.modes.demo import DEMO_MODES, seed_demo
from kilo.modes.describe import can_edit_file, describe_mode, group_names, tools_summary
from kilo.modes.document import (
    MAX_DOCUMENT_BYTES,
    ParsedDocument,
    document_too_large,
    dump_document,
    parse_document,
)
from kilo.modes.schema import (
    GROUP_LABELS,
    MODE_KEYS,
    NAME_MAX,
    OPTION_KEYS,
    SLUG_MAX,
    SLUG_RE,
    TEXT_MAX,
    TOOL_GROUPS,
    GroupEntry,
    ModeConfig,
    ModeView,
    check_mode,
    js_regex_error,
    validate_mode,
)
from kilo.modes.service import (
    ImportItem,
    ImportPlan,
    create_mode,
    delete_mode,
    duplicate_mode,
    effective_modes,
    export_modes,
    free_slug,
    get_mode,
    import_modes,
    list_modes,
    plan_import,
    reset_builtin,
    set_builtin_disabled,
    update_mode,
)

__all__ = [
    "BUILTIN_MODES",
    "BUILTIN_SLUGS",
    "DEMO_MODES",
    "GROUP_LABELS",
    "MAX_DOCUMENT_BYTES",
    "MODE_KEYS",
    "NAME_MAX",
    "OPTION_KEYS",
    "SLUG_MAX",
    "SLUG_RE",
    "TEXT_MAX",
    "TOOL_GROUPS",
    "GroupEntry",
    "ImportItem",
    "ImportPlan",
    "ModeConfig",
    "ModeView",
    "ParsedDocument",
    "builtin_default",
    "can_edit_file",
    "check_mode",
    "create_mode",
    "delete_mode",
    "describe_mode",
    "document_too_large",
    "dump_document",
    "duplicate_mode",
    "effective_modes",
    "export_modes",
    "free_slug",
    "get_mode",
    "group_names",
    "import_modes",
    "js_regex_error",
    "list_modes",
    "parse_document",
    "plan_import",
    "reset_builtin",
    "seed_demo",
    "set_builtin_disabled",
    "tools_summary",
    "update_mode",
    "validate_mode",
]
