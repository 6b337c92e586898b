"""Command line: python -m kilo modes-export | modes-import."""

from __future__ import annotations

import sys
from typing import Any

from sqlmodel import Session

from kilo.db import read_session, write_session
from kilo.errors import ValidationError
from kilo.modes import MAX_DOCUMENT_BYTES, export_modes, import_modes, plan_import
from kilo.organization import choose_org_id
from kilo.permissions import system_actor


def _cli_org(session: Session, org: int | None) -> int:
    return choose_org_id(session, org)


def cmd_export(args: Any) -> int:
    with read_session() as session:
        actor = system_actor(_cli_org(session, args.org))
        text = export_modes(session, actor=actor, fmt=args.format, include_builtins=args.all)
    if args.output in (None, "-"):
        print(text, end="")
    else:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    return 0


def cmd_import(args: Any) -> int:
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
    p.set_defaults(func=cmd_export)
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
    p.set_defaults(func=cmd_import)
