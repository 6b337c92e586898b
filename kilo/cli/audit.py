"""`python -m kilo verify-audit` and `export-audit`: the audit log's chain check and export."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, select

from kilo.audit import (
    AuditFilter,
    ChainReport,
    check_anchor,
    compare_daily_rollup,
    export_entries,
    verify_chain,
)
from kilo.db import read_session
from kilo.errors import ValidationError
from kilo.models import Organization
from kilo.organization import choose_org_id
from kilo.permissions import system_actor

MAX_MISMATCHES_SHOWN = 10


def _org_ids(session: Session, org: int | None) -> list[int]:
    if org is not None:
        if session.get(Organization, org) is None:
            raise ValidationError(f"There is no organization with id {org}.")
        return [org]
    return list(session.exec(select(Organization.id).order_by(Organization.id)).all())


def cmd_verify_audit(args: argparse.Namespace) -> int:
    anchor = None
    if args.anchor:
        entry_id, _, expected = args.anchor.partition(":")
        if not entry_id.isdigit() or len(expected) != 64 or args.org is None:
            raise ValidationError(
                "--anchor takes ENTRY_ID:HASH as printed by verify-audit, together with --org."
            )
        anchor = (int(entry_id), expected.lower())
    broken = 0
    with read_session() as session:
        for org_id in _org_ids(session, args.org):
            name = session.get(Organization, org_id).name
            report = verify_chain(session, org_id=org_id)
            if report.ok and anchor:
                problem = check_anchor(
                    session, org_id=org_id, entry_id=anchor[0], expected_hash=anchor[1]
                )
                if problem:
                    report = ChainReport(report.checked, False, anchor[0], problem)
            mismatches = compare_daily_rollup(session, org_id=org_id)
            if report.ok and not mismatches:
                head = f"; head entry {report.head_id} {report.head_hash}" if report.head_id else ""
                print(
                    f"org {org_id} ({name}): {report.checked:,} entries, chain intact, "
                    f"daily counts match{head}"
                )
                continue
            broken += 1
            if not report.ok:
                print(
                    f"org {org_id} ({name}): CHAIN BROKEN at entry {report.first_bad_id}: "
                    f"{report.problem} ({report.checked:,} entries before it are intact)",
                    file=sys.stderr,
                )
            if mismatches:
                shown = "; ".join(m.describe() for m in mismatches[:MAX_MISMATCHES_SHOWN])
                more = len(mismatches) - MAX_MISMATCHES_SHOWN
                print(
                    f"org {org_id} ({name}): DAILY COUNTS DIFFER on {len(mismatches)} day(s): "
                    f"{shown}{f'; and {more} more days' if more > 0 else ''}. Entries were "
                    "removed from or added to the log outside the application (removing the "
                    "newest entries leaves the chain itself valid).",
                    file=sys.stderr,
                )
    return 1 if broken else 0


def _parse_time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            f"--{name} {value!r} is not a date or time (like 2026-11-01 or 2026-11-01T08:00)."
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def cmd_export_audit(args: argparse.Namespace) -> int:
    with read_session() as session:
        org_id = _org_ids(session, args.org)[0] if args.org else _single_org(session)
        f = AuditFilter(
            actions=tuple(args.action or ()),
            start=_parse_time(args.since, "since"),
            end=_parse_time(args.until, "until"),
            search=args.search or "",
        )
        chunks = export_entries(session, actor=system_actor(org_id), filters=f, fmt=args.format)
        encoding = "utf-8-sig" if args.format == "csv" else "utf-8"
        out = open(args.output, "w", encoding=encoding, newline="") if args.output else sys.stdout
        try:
            _write_all(out, chunks)
        finally:
            if args.output:
                out.close()
    return 0


def _write_all(out: Any, chunks: Iterable[str]) -> None:
    for chunk in chunks:
        out.write(chunk)


def _single_org(session: Session) -> int:
    return choose_org_id(session, None)


def register_cli(subparsers: Any) -> None:
    """`verify-audit` and `export-audit` sub-commands of `python -m kilo`."""
    p = subparsers.add_parser(
        "verify-audit",
        help="check the audit log's hash chain",
        description="Check every organization's audit hash chain (or one with --org), and "
        "compare its entries per UTC day with the daily counts kept as they were written. "
        "Exits 1 and names the first entry that was altered, removed or inserted when a chain "
        "is broken, or each day whose counts differ (with both counts); prints each chain's "
        "head entry and hash when intact (keep them to detect later truncation).",
    )
    p.add_argument("--org", type=int, help="only this organization id")
    p.add_argument(
        "--anchor",
        metavar="ENTRY_ID:HASH",
        help="a head printed by an earlier run (with --org): also fail when that entry was "
        "removed or re-hashed since",
    )
    p.set_defaults(func=cmd_verify_audit)
    p = subparsers.add_parser(
        "export-audit",
        help="export audit entries as CSV or JSON Lines",
        description="Write an organization's audit entries (newest first, spreadsheet-safe) as "
        "CSV or JSON Lines, without the download limit of the Audit Logs tab.",
    )
    p.add_argument("--org", type=int, help="organization id (needed when there are several)")
    p.add_argument("--format", choices=("csv", "jsonl"), default="csv", help="default: csv")
    p.add_argument("--action", action="append", help="only this action (repeatable)")
    p.add_argument("--since", help="from this UTC date/time (inclusive), e.g. 2026-11-01")
    p.add_argument("--until", help="before this UTC date/time (exclusive)")
    p.add_argument("--search", help="text to find in action, actor, target or message")
    p.add_argument("-o", "--output", help="file to write (default: standard output)")
    p.set_defaults(func=cmd_export_audit)
