"""Usage in: one gateway request (`record_usage`) or a usage file (`import_usage`).

Both check every event (`kilo.usage.checks`) before anything is stored, skip requests
whose id is already stored, and store through `kilo.rollups.store.insert_events` (events
and every rollup in the caller's transaction). A file is validated whole first: any
problem stores nothing.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import bindparam, exists, select
from sqlmodel import Session

from kilo import audit
from kilo.errors import NotFound, ValidationError
from kilo.models import Member, UsageEvent
from kilo.permissions import Actor, ensure_allowed
from kilo.rollups.store import insert_events
from kilo.usage.checks import MODE_RE, check_event
from kilo.usage.formats import MemberResolver, convert_record, provider_slugs, read_records


def record_usage(
    session: Session,
    *,
    actor: Actor,
    member_id: int,
    model_id: str,
    provider: str,
    input_tokens: int,
    output_tokens: int,
    cost_usd: Decimal | str,
    latency_ms: int,
    status: str = "success",
    mode: str = "code",
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
    at: datetime | None = None,
    external_id: str | None = None,
) -> bool:
    """Record one gateway request for a member of the actor's organization.

    Idempotent on `external_id`: a request already recorded is not counted twice (returns
    False). Usage events are the record themselves, so no audit entry is written per
    request (file imports write one). Raises ValidationError for bad values, including
    any over MAX_TOKENS, MAX_LATENCY_MS or MAX_COST_USD.
    """
    ensure_allowed(actor, "usage.ingest")
    try:
        event = check_event(
            at=at or datetime.now(UTC),
            member_id=member_id,
            model_id=model_id,
            provider=provider,
            mode=mode,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read_tokens,
            cache_write_tokens=cache_write_tokens,
            cost=cost_usd,
            latency_ms=latency_ms,
            status=status,
            external_id=external_id,
        )
    except ValueError as exc:
        raise ValidationError(f"Usage not recorded: {exc}.") from None
    params = {"member_id": member_id, "org_id": actor.org_id, "external_id": event["external_id"]}
    found = session.connection().execute(_MEMBER_AND_SEEN, params).first()
    if found is None or found.org_id != actor.org_id:
        raise NotFound(f"Member {member_id} is not in this organization.")
    if event["external_id"] and found.seen:
        return False
    insert_events(session, org_id=actor.org_id, events=[event])
    return True


# The member's organization and whether the request's id is stored already: one round trip
# (a gateway records every request), built once.
_MEMBER_AND_SEEN = select(
    Member.org_id,
    exists()
    .where(
        UsageEvent.org_id == bindparam("org_id"),
        UsageEvent.external_id == bindparam("external_id"),
    )
    .label("seen"),
).where(Member.id == bindparam("member_id"))


def existing_ids(session: Session, org_id: int, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        found.update(
            session.execute(
                select(UsageEvent.external_id).where(
                    UsageEvent.org_id == org_id, UsageEvent.external_id.in_(chunk)
                )
            ).scalars()
        )
    return found


MAX_REPORTED_PROBLEMS = 50


PROGRESS_MIN_LINES = 5_000  # smaller files import too fast for a progress bar to help


@dataclass
class ImportResult:
    """What an import did (or, with `dry_run`, would do)."""

    path: str
    file_format: str  # csv | jsonl | openrouter
    rows: int = 0
    imported: int = 0
    already_imported: int = 0
    cost_micros: int = 0
    members: set[int] = field(default_factory=set)
    models: Counter = field(default_factory=Counter)
    first_at: datetime | None = None
    last_at: datetime | None = None

    def summary(self) -> str:
        span = (
            f"{self.first_at:%Y-%m-%d %H:%M} – {self.last_at:%Y-%m-%d %H:%M} UTC"
            if self.first_at
            else "no rows"
        )
        dollars = Decimal(self.cost_micros) / 1_000_000
        return (
            f"{self.path} ({self.file_format}): {self.rows:,} rows read, "
            f"{self.imported:,} imported, {self.already_imported:,} already imported "
            f"(skipped); {len(self.members)} member(s), {len(self.models)} model(s), "
            f"${dollars:,.6f}; {span}"
        )


def _problem_report(name: str, problems: dict[str, list[int]]) -> str:
    """One line per distinct problem, ordered by first line: "line 7: reason" or
    "lines 2, 3, 4 … (825 lines): reason"."""
    count = sum(len(lines) for lines in problems.values())
    out = [f"{name} was not imported (nothing was stored): {count:,} problem(s)."]
    ordered = sorted(problems.items(), key=lambda item: item[1][0])
    for reason, lines in ordered[:MAX_REPORTED_PROBLEMS]:
        if len(lines) == 1:
            out.append(f"line {lines[0]}: {reason}")
        else:
            shown = ", ".join(str(n) for n in lines[:5]) + (" …" if len(lines) > 5 else "")
            out.append(f"lines {shown} ({len(lines):,} lines): {reason}")
    if len(ordered) > MAX_REPORTED_PROBLEMS:
        out.append(f"… and {len(ordered) - MAX_REPORTED_PROBLEMS:,} more kinds of problem")
    return "\n".join(out)


def import_usage(
    session: Session,
    *,
    actor: Actor,
    path: str | Path,
    member_email: str | None = None,
    key_members: dict[str, str] | None = None,
    default_mode: str = "code",
    dry_run: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> ImportResult:
    """Ingest a usage file: validated whole first; any problem stores nothing.

    Formats: CSV or JSONL with our columns (see README, "Usage import"), or OpenRouter's
    activity export CSV. Rows are matched to members by e-mail; OpenRouter rows (whose
    `user` is usually empty) by `key_members` (API key name -> e-mail), else `member_email`.
    Unknown e-mails are reported as problems (members are never created by an import).
    Rows whose id (OpenRouter generation_id) is already stored are skipped, so importing
    the same file twice counts it once. Writes one `organization.usage.import` audit entry.
    """
    ensure_allowed(actor, "usage.ingest")
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"{path} is not a file.")
    if not MODE_RE.match(default_mode or ""):
        raise ValidationError(f"Mode “{default_mode}” must be a mode slug like code or ask.")
    members = session.execute(
        select(Member.id, Member.email).where(Member.org_id == actor.org_id)
    ).all()
    by_email = {email.lower(): member_id for member_id, email in members}

    def lookup(email: str, what: str) -> int:
        member_id = by_email.get(email.strip().lower())
        if member_id is None:
            raise ValidationError(f"{what} {email} is not a member of this organization.")
        return member_id

    resolver = MemberResolver(
        by_email=by_email,
        key_members={
            k.strip(): lookup(v, f"--key-member {k}:") for k, v in (key_members or {}).items()
        },
        default_member=lookup(member_email, "--member") if member_email else None,
    )
    providers = provider_slugs(session)
    with path.open("rb") as fh:
        total_lines = sum(1 for _ in fh)
    tick = max(1, total_lines // 100)
    if total_lines < PROGRESS_MIN_LINES:
        progress = None

    def events(stage: str) -> Iterator[tuple[int, dict | None, str | None]]:
        fmt, records = read_records(path)
        result.file_format = fmt
        for n, (line_no, record) in enumerate(records, 1):
            if progress and n % tick == 0:
                progress(stage, line_no, total_lines)
            if "__error__" in record:
                yield line_no, None, record["__error__"]
                continue
            try:
                yield (
                    line_no,
                    convert_record(fmt, record, line_no, resolver, providers, default_mode),
                    None,
                )
            except ValueError as exc:
                yield line_no, None, str(exc)
            except KeyError as exc:
                yield line_no, None, f"missing field {exc}"

    result = ImportResult(path=path.name, file_format="")
    problems: dict[str, list[int]] = defaultdict(list)  # reason -> line numbers
    seen_ids: dict[str, int] = {}
    # Pass 1: validate everything; keep only ids, so large files need little memory.
    try:
        for line_no, event, problem in events("checking"):
            result.rows += 1
            if problem:
                problems[problem].append(line_no)
            elif event is not None and event["external_id"] is not None:
                ext = event["external_id"]
                if ext in seen_ids:
                    problems[f"id {ext} repeats line {seen_ids[ext]}"].append(line_no)
                else:
                    seen_ids[ext] = line_no
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"{path.name} is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV or "
            "JSONL. Nothing was imported."
        ) from None
    except csv.Error as exc:
        raise ValidationError(
            f"{path.name} is not a readable CSV file ({exc}); nothing was imported."
        ) from None
    for email, lines in sorted(resolver.unknown.items()):
        problems[
            f"unknown user {email} (not a member; invite them first or fix the "
            "e-mail; imports never create members)"
        ] = lines
    if problems:
        raise ValidationError(_problem_report(path.name, problems))
    if result.rows == 0:
        raise ValidationError(f"{path.name} has no usage rows; nothing was imported.")
    existing = existing_ids(session, actor.org_id, list(seen_ids))
    # Pass 2: store in batches, all in the caller's one transaction.
    batch: list[dict] = []
    for _, event, _ in events("importing" if not dry_run else "checking"):
        if event["external_id"] in existing:
            result.already_imported += 1
            continue
        result.imported += 1
        result.cost_micros += event["cost_micros"]
        result.members.add(event["member_id"])
        result.models[event["model_id"]] += 1
        at = event["at"]
        result.first_at = at if result.first_at is None else min(result.first_at, at)
        result.last_at = at if result.last_at is None else max(result.last_at, at)
        if not dry_run:
            batch.append(event)
            if len(batch) >= 50_000:
                insert_events(session, org_id=actor.org_id, events=batch)
                batch = []
    if batch:
        insert_events(session, org_id=actor.org_id, events=batch)
    if progress:
        progress("done", total_lines, total_lines)
    if not dry_run:
        audit.record(
            session,
            actor=actor,
            action="organization.usage.import",
            target=path.name,
            message=f"Imported {result.imported:,} usage events from {path.name} "
            f"({result.already_imported:,} already imported)",
            details={
                "file": path.name,
                "format": result.file_format,
                "rows": result.rows,
                "imported": result.imported,
                "already_imported": result.already_imported,
                "cost_micros": result.cost_micros,
                "members": len(result.members),
                "first_at": result.first_at.isoformat() if result.first_at else None,
                "last_at": result.last_at.isoformat() if result.last_at else None,
            },
        )
    return result
