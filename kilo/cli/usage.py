"""Command line of usage: `python -m kilo ingest FILE` (`kilo.usage.import_usage`)."""

from __future__ import annotations

import sys
from typing import Any

from kilo.db import migrate, write_session
from kilo.errors import ValidationError
from kilo.organization import choose_org_id
from kilo.permissions import system_actor
from kilo.usage.ingest import import_usage


def _progress_bar(stage: str, done: int, total: int) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    if stage == "done" or done == total:
        end = "\n"
    else:
        end = ""
    sys.stderr.write(
        f"\r{stage:>9} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} lines{end}"
    )
    sys.stderr.flush()


def _cmd_ingest(args: Any) -> int:
    migrate()
    key_members = {}
    for item in args.key_member or []:
        name, sep, email = item.rpartition("=")
        if not sep or not name.strip():
            raise ValidationError(f"--key-member “{item}” must look like 'KEY NAME=EMAIL'.")
        key_members[name.strip()] = email.strip()
    with write_session() as session:
        org_id = choose_org_id(session, args.org)

        result = import_usage(
            session,
            actor=system_actor(org_id),
            path=args.file,
            member_email=args.member,
            key_members=key_members,
            default_mode=args.mode,
            dry_run=args.dry_run,
            progress=None if args.quiet else _progress_bar,
        )
    print(
        ("Checked (dry run, nothing stored): " if args.dry_run else "Imported: ") + result.summary()
    )
    return 0


def register_cli(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "ingest",
        help="import usage events from a CSV or JSONL file",
        description="Import usage events. The whole file is checked first; if any row is "
        "bad, its line number and reason are printed and nothing is stored. Accepts our "
        "CSV/JSONL columns (see README, 'Usage import') or an OpenRouter activity export "
        "CSV. Rows whose id/generation_id is already stored are skipped.",
    )
    p.add_argument("file", help="path to a .csv, .jsonl or .ndjson file")
    p.add_argument(
        "--org",
        type=int,
        default=None,
        help="organization id (needed only when the database holds several)",
    )
    p.add_argument(
        "--member",
        metavar="EMAIL",
        help="member to charge rows that name no user (OpenRouter exports)",
    )
    p.add_argument(
        "--key-member",
        action="append",
        metavar="'KEY NAME=EMAIL'",
        help="charge OpenRouter rows of this api_key_name to this member (repeatable)",
    )
    p.add_argument(
        "--mode",
        default="code",
        help="mode for rows without one (OpenRouter exports); default: code",
    )
    p.add_argument("--dry-run", action="store_true", help="check the file, store nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_ingest)
