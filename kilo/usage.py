"""Usage: ingest of usage events, rollups, and the analytics the Usage tab reads.

Writing
    `insert_events` stores validated events and folds them into the rollups in the same
    transaction (`kilo.rollups`, grouped with pandas, upserted in SQL): day x member x model x
    provider x mode (`UsageDaily`), day x model x provider x mode (`UsageDailyModel`), day x
    provider x mode (`UsageDailyProviderMode`), day x one of model/provider/mode
    (`UsageDailyDim`), day x member (`UsageDailyMember`), month x member
    (`UsageMonthlyMember`), month x member x one of model/provider/mode with the active
    days as a bit mask (`UsageMonthlyMemberDim`), and UTC day x hour organization-wide, per
    member, per one of model/provider/mode, per provider x mode and per model x provider x
    mode (`UsageHourly`, `UsageHourlyMember`, `UsageHourlyDim`, `UsageHourlyProviderMode`,
    `UsageHourlyModel`).
    Rollups hold sums only (plus a latency histogram in the daily ones, and day masks that
    merge with OR), so they merge exactly and their totals equal the sums over raw events.
    `record_usage` records one gateway request; `import_usage` ingests a CSV/JSONL file
    (our columns, or OpenRouter's activity export), validated whole before a row is stored.

Reading
    Every analytics function takes a `UsageFilter` (period + members/models/providers/modes),
    checks `usage.view_own` / `usage.view_all`, picks the narrowest rollup that has every
    dimension the query filters or groups on, and aggregates in SQL. Raw events are read
    only by the weekday x hour heatmap when it is filtered by a member together with
    model, provider or mode (still aggregated in SQL).
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Integer as _INT
from sqlalchemy import distinct, func, literal, select, union_all
from sqlmodel import Session

from kilo import audit, csvsafe, rollups
from kilo.errors import NotFound, PermissionDenied, ValidationError
from kilo.models import (
    LATENCY_BOUNDS_MS,
    Member,
    Organization,
    Provider,
    UsageDaily,
    UsageDailyDim,
    UsageDailyMember,
    UsageDailyModel,
    UsageDailyProviderMode,
    UsageEvent,
    UsageHourly,
    UsageHourlyDim,
    UsageHourlyMember,
    UsageHourlyModel,
    UsageHourlyProviderMode,
    UsageMonthlyMember,
    UsageMonthlyMemberDim,
)
from kilo.permissions import Actor, allowed, ensure_allowed
from kilo.rollups import HISTOGRAM, MEASURES, month_end, month_start

# Each dimension column and the `UsageFilter` field that filters it.
DIMENSION_FIELDS = {
    "member_id": "members",
    "model_id": "models",
    "provider": "providers",
    "mode": "modes",
}
DIMENSIONS = tuple(DIMENSION_FIELDS)
STATUSES = ("success", "error")
MODE_RE = re.compile(r"^[a-z0-9-]{1,50}$")

# Per-request maxima (README, "Usage import"): far above any real request, and low enough
# that no sum can overflow a 64-bit integer (see MAX_ORG_TOTAL).
MAX_TOKENS = 1_000_000_000  # each of input, output, cache-read and cache-write tokens
MAX_LATENCY_MS = 86_400_000  # one day
MAX_COST_USD = Decimal(10_000)
# The most any organization-wide sum (requests, tokens of each kind, cost in micro-dollars
# = $1 trillion, latency) may reach. Every rollup cell and every query sums a subset of one
# organization's events, so none can pass it; input + output tokens (the heatmap's sum)
# stay below 2**63 - 1 too. `insert_events` refuses a batch that would pass it.
MAX_ORG_TOTAL = 10**18
PLAIN_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
ANALYTICS_OFF = (
    "Per-member usage analytics are turned off for this organization; an owner or admin "
    "can turn them on in Organization settings."
)


# ---------------------------------------------------------------------------------------
# Writing: events and rollups
# ---------------------------------------------------------------------------------------


def latency_bucket(latency_ms: int) -> int:
    """Index of the histogram bucket holding `latency_ms` (bucket i is (bound[i-1], bound[i]])."""
    return bisect.bisect_left(LATENCY_BOUNDS_MS, latency_ms)


def insert_events(session: Session, *, org_id: int, events: list[dict]) -> int:
    """Insert validated events and fold them into every rollup, in the caller's transaction.

    Each event is a dict with `at` (aware datetime), `member_id`, `model_id`, `provider`,
    and optionally `mode`, token counts, `cost_micros`, `latency_ms`, `status`,
    `external_id`. Callers (`record_usage`, `import_usage`) validate each event; this
    refuses (ValidationError, before writing anything) a batch that would take an
    organization-wide sum past `MAX_ORG_TOTAL`, so no sum can overflow. The rollups are
    grouped with pandas and upserted in SQL (`kilo.rollups`).
    """
    return rollups.store_events(
        session,
        org_id=org_id,
        events=events,
        check=lambda sums: _check_org_totals(session, org_id, sums),
    )


def _check_org_totals(session: Session, org_id: int, batch: dict[str, int]) -> None:
    """Refuse a batch (its exact sums per measure) that would take one of the
    organization's sums past MAX_ORG_TOTAL. The stored sums come from the smallest rollup
    (a few rows a day), so this costs one small query per batch. Concurrent batches may
    each pass the check: the ceiling is a ninth of what a 64-bit sum holds, so that margin
    is far more than any batches in flight can add."""
    t = UsageDailyDim
    stored = session.execute(
        select(*[func.coalesce(func.sum(getattr(t, m)), 0) for m in MEASURES]).where(
            t.org_id == org_id, t.dim == "mode"
        )
    ).one()
    for measure, total in zip(MEASURES, stored, strict=True):
        if int(total) + batch[measure] > MAX_ORG_TOTAL:
            what = {"cost_micros": "cost (micro-dollars)", "latency_ms_sum": "latency (ms)"}
            raise ValidationError(
                "Usage not recorded: the organization's total "
                f"{what.get(measure, measure.replace('_', ' '))} would pass "
                f"{MAX_ORG_TOTAL:,}, the most the dashboard adds up exactly. "
                "Nothing was stored."
            )


# ---------------------------------------------------------------------------------------
# Validation shared by the gateway call and file ingest
# ---------------------------------------------------------------------------------------


def _shown(text: str) -> str:
    """A value for an error message, cut short (a file can hold a huge cell)."""
    return text if len(text) <= 40 else text[:40] + "…"


def parse_cost_micros(value: object) -> int:
    """A USD amount as integer micro-dollars, rounded half-even below a micro-dollar.

    Text must be a plain decimal (`0.001234`): exponent forms (`1.2E-05`, what a
    spreadsheet makes of a small cost, with digits lost), NaN and Infinity are refused.
    Numbers (int, Decimal, float, as from a JSON file or a gateway) are taken as they are.
    Raises ValueError, with the reason, for anything that is not an amount between $0 and
    MAX_COST_USD.
    """
    if isinstance(value, bool):
        raise ValueError(f"cost “{value}” is not an amount of US dollars")
    if isinstance(value, int):
        amount = Decimal(value)
        shown = str(value) if abs(value) < 10**40 else "a number of more than 40 digits"
    elif isinstance(value, Decimal):
        amount, shown = value, _shown(str(value))
    elif isinstance(value, float):
        amount, shown = Decimal(repr(value)), repr(value)
    else:
        text = str(value if value is not None else "").strip()
        shown = _shown(text)
        if not PLAIN_DECIMAL.fullmatch(text):
            if re.fullmatch(r"[+-]?s?(nan|inf|infinity)", text, re.IGNORECASE):
                raise ValueError(f"cost “{shown}” is not a number of US dollars")
            if re.fullmatch(r"[+-]?[0-9.]+[eE][+-]?[0-9]+", text):
                raise ValueError(
                    f"cost “{shown}” is in exponent notation; write a plain decimal like "
                    "0.001234 (a spreadsheet may have rounded it: export the cost as text)"
                )
            if text.startswith("-"):
                raise ValueError(f"cost “{shown}” must be zero or a positive amount")
            raise ValueError(
                f"cost “{shown}” is not a decimal number of US dollars (like 0.001234)"
            )
        amount = Decimal(text)
    if not amount.is_finite():
        raise ValueError(f"cost “{shown}” is not a number of US dollars")
    if amount < 0:
        raise ValueError(f"cost “{shown}” must be zero or a positive amount")
    if amount > MAX_COST_USD:
        raise ValueError(f"cost “{shown}” is over the maximum of ${MAX_COST_USD:,} for one request")
    try:
        return int((amount * 1_000_000).quantize(Decimal(1), ROUND_HALF_EVEN))
    except ArithmeticError:  # the caller's decimal context may trap more than the default
        raise ValueError(f"cost “{shown}” is not a usable amount of US dollars") from None


def _int(value: object, name: str, maximum: int) -> int:
    """A whole number from 0 to `maximum`; ValueError naming the field otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number")
    if isinstance(value, int):
        number = value
    else:
        text = str(value if value is not None else "").strip()
        if not re.fullmatch(r"[0-9]+", text):
            raise ValueError(f"{name} “{_shown(text)}” is not a whole number of zero or more")
        if len(text.lstrip("0")) > len(str(maximum)):
            raise ValueError(f"{name} “{_shown(text)}” is over the maximum of {maximum:,}")
        number = int(text)
    if number < 0:
        raise ValueError(f"{name} must be zero or more")
    if number > maximum:
        shown = f"{number:,}" if number < 10**30 else "a number of more than 30 digits"
        raise ValueError(f"{name} {shown} is over the maximum of {maximum:,}")
    return number


def _timestamp(value: object, *, assume_utc: bool = False) -> datetime:
    if isinstance(value, datetime):
        at = value
    else:
        text = str(value or "").strip()
        try:
            at = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"timestamp “{text}” is not ISO 8601 (like 2026-05-01T14:03:00Z)"
            ) from None
    if at.tzinfo is None:
        if not assume_utc:
            raise ValueError(
                f"timestamp “{value}” has no time zone; add Z or an offset like +02:00"
            )
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC)


def _text(value: object, name: str, max_len: int) -> str:
    text = str(value if value is not None else "").strip()
    if not text:
        raise ValueError(f"{name} is missing")
    if len(text) > max_len:
        raise ValueError(f"{name} is longer than {max_len} characters")
    if not text.isprintable():
        raise ValueError(f"{name} contains control characters")
    return text


def _event(
    *,
    at: object,
    member_id: int,
    model_id: object,
    provider: object,
    mode: object,
    input_tokens: object,
    output_tokens: object,
    cache_read_tokens: object = 0,
    cache_write_tokens: object = 0,
    cost: object,
    latency_ms: object,
    status: object,
    external_id: object = None,
    assume_utc: bool = False,
) -> dict:
    """Check one event's fields; raises ValueError naming the first bad field."""
    mode_text = str(mode or "code").strip().lower()
    if not MODE_RE.match(mode_text):
        raise ValueError(f"mode “{mode}” must be a mode slug (lowercase letters, digits, -)")
    status_text = str(status or "").strip().lower()
    if status_text not in STATUSES:
        raise ValueError(f"status “{status}” must be success or error")
    ext = str(external_id).strip() if external_id not in (None, "") else None
    if ext is not None and len(ext) > 100:
        raise ValueError("id is longer than 100 characters")
    return {
        "at": _timestamp(at, assume_utc=assume_utc),
        "member_id": member_id,
        "model_id": _text(model_id, "model", 200),
        "provider": _text(provider, "provider", 100),
        "mode": mode_text,
        "input_tokens": _int(input_tokens, "input_tokens", MAX_TOKENS),
        "output_tokens": _int(output_tokens, "output_tokens", MAX_TOKENS),
        "cache_read_tokens": _int(cache_read_tokens or 0, "cache_read_tokens", MAX_TOKENS),
        "cache_write_tokens": _int(cache_write_tokens or 0, "cache_write_tokens", MAX_TOKENS),
        "cost_micros": parse_cost_micros(cost),
        "latency_ms": _int(latency_ms, "latency_ms", MAX_LATENCY_MS),
        "status": status_text,
        "external_id": ext,
    }


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
    member = session.get(Member, member_id)
    if member is None or member.org_id != actor.org_id:
        raise NotFound(f"Member {member_id} is not in this organization.")
    try:
        event = _event(
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
    if event["external_id"] and _existing_ids(session, actor.org_id, [event["external_id"]]):
        return False
    insert_events(session, org_id=actor.org_id, events=[event])
    return True


def _existing_ids(session: Session, org_id: int, ids: list[str]) -> set[str]:
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


# ---------------------------------------------------------------------------------------
# File ingest (CSV / JSONL / OpenRouter activity export)
# ---------------------------------------------------------------------------------------

NATIVE_REQUIRED = (
    "timestamp",
    "user_email",
    "model",
    "provider",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "latency_ms",
    "status",
)
NATIVE_OPTIONAL = ("mode", "cache_read_tokens", "cache_write_tokens", "id")
OPENROUTER_REQUIRED = (
    "generation_id",
    "created_at",
    "cost_total",
    "tokens_prompt",
    "tokens_completion",
    "model_permaslug",
    "provider_name",
    "cancelled",
    "generation_time_ms",
)
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


@cache
def _canonical_models() -> dict[str, str]:
    """OpenRouter permaslug (canonical_slug) -> model id, from the shipped catalogue."""
    from kilo.catalog import CATALOG_DIR

    try:
        doc = json.loads((Path(CATALOG_DIR) / "models.json").read_text())
    except (OSError, ValueError):
        return {}
    return {
        m["canonical_slug"]: m["id"]
        for m in doc.get("data", [])
        if m.get("canonical_slug") and m.get("id")
    }


def _openrouter_model(permaslug: str) -> str:
    slug = permaslug.strip()
    return _canonical_models().get(slug) or re.sub(r"-20\d{6}$", "", slug)


def _detect_format(path: Path, header: list[str] | None) -> str:
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return "jsonl"
    if header and {"generation_id", "model_permaslug"} <= set(header):
        return "openrouter"
    return "csv"


def _read_records(path: Path) -> tuple[str, Iterator[tuple[int, dict]]]:
    """(format, iterator of (file line number, raw record dict))."""
    if path.suffix.lower() in (".jsonl", ".ndjson"):

        def jsonl() -> Iterator[tuple[int, dict]]:
            with path.open(encoding="utf-8-sig") as fh:
                for line_no, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                    except ValueError as exc:
                        yield line_no, {"__error__": f"not valid JSON ({exc.msg})"}
                        continue
                    if not isinstance(obj, dict):
                        yield line_no, {"__error__": "each line must be a JSON object"}
                        continue
                    yield line_no, {str(k).strip().lower(): v for k, v in obj.items()}

        return "jsonl", jsonl()
    with path.open(encoding="utf-8-sig", newline="") as fh:
        header = [h.strip().lower() for h in next(csv.reader(fh), [])]
    fmt = _detect_format(path, header)
    required = OPENROUTER_REQUIRED if fmt == "openrouter" else NATIVE_REQUIRED
    missing = [c for c in required if c not in header]
    if not header:
        raise ValidationError(f"{path.name} is empty; nothing was imported.")
    if missing:
        raise ValidationError(
            f"{path.name} line 1: missing column(s) {', '.join(missing)}; the header must "
            f"name {', '.join(required)} (optional: {', '.join(NATIVE_OPTIONAL)}). "
            "Nothing was imported."
        )

    def rows() -> Iterator[tuple[int, dict]]:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            next(reader, None)
            for values in reader:
                if not any(v.strip() for v in values):
                    continue
                line_no = reader.line_num
                if len(values) != len(header):
                    yield (
                        line_no,
                        {"__error__": f"{len(values)} fields, the header has {len(header)}"},
                    )
                    continue
                yield line_no, dict(zip(header, values, strict=True))

    return fmt, rows()


@dataclass
class _Resolver:
    """Maps a file row to a member: e-mail, else API key name, else the default member."""

    by_email: dict[str, int]
    key_members: dict[str, int]
    default_member: int | None
    unknown: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    def member(self, line_no: int, email: str, key_name: str = "") -> int | None:
        email = (email or "").strip().lower()
        if email:
            member_id = self.by_email.get(email)
            if member_id is None:
                self.unknown[email].append(line_no)
            return member_id
        if key_name and key_name.strip() in self.key_members:
            return self.key_members[key_name.strip()]
        if self.default_member is not None:
            return self.default_member
        raise ValueError(
            "the row names no user; pass --member EMAIL for rows without one, "
            "or --key-member 'KEY NAME=EMAIL' to map an API key to a member"
        )


def _provider_slugs(session: Session) -> dict[str, str]:
    rows = session.execute(select(Provider.slug, Provider.name)).all()
    out = {slug.lower(): slug for slug, _ in rows}
    out.update({name.lower(): slug for slug, name in rows})
    return out


def _convert(
    fmt: str,
    record: dict,
    line_no: int,
    resolver: _Resolver,
    providers: dict[str, str],
    default_mode: str,
) -> dict | None:
    if fmt == "openrouter":
        member_id = resolver.member(line_no, record.get("user", ""), record.get("api_key_name", ""))
        provider_name = str(record.get("provider_name") or "").strip()
        provider = providers.get(provider_name.lower()) or re.sub(
            r"[^a-z0-9]+", "-", provider_name.lower()
        ).strip("-")
        cancelled = str(record.get("cancelled", "")).strip().lower() == "true"
        failed = str(record.get("finish_reason_normalized", "")).strip().lower() == "error"
        event = _event(
            at=record["created_at"],
            assume_utc=True,
            member_id=member_id or 0,
            model_id=_openrouter_model(str(record["model_permaslug"])),
            provider=provider,
            mode=default_mode,
            input_tokens=record["tokens_prompt"] or 0,
            output_tokens=record["tokens_completion"] or 0,
            cache_read_tokens=record.get("tokens_cached") or 0,
            cost=record["cost_total"] or "0",
            latency_ms=record["generation_time_ms"] or 0,
            status="error" if cancelled or failed else "success",
            external_id=record["generation_id"],
        )
    else:
        missing = [c for c in NATIVE_REQUIRED if c not in record]
        if missing:
            raise ValueError(f"missing field(s) {', '.join(missing)}")
        member_id = resolver.member(line_no, str(record["user_email"] or ""))
        event = _event(
            at=record["timestamp"],
            member_id=member_id or 0,
            model_id=record["model"],
            provider=record["provider"],
            mode=record.get("mode") or default_mode,
            input_tokens=record["input_tokens"],
            output_tokens=record["output_tokens"],
            cache_read_tokens=record.get("cache_read_tokens") or 0,
            cache_write_tokens=record.get("cache_write_tokens") or 0,
            cost=record["cost_usd"],
            latency_ms=record["latency_ms"],
            status=record["status"],
            external_id=record.get("id"),
        )
    return event if member_id is not None else None


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

    resolver = _Resolver(
        by_email=by_email,
        key_members={
            k.strip(): lookup(v, f"--key-member {k}:") for k, v in (key_members or {}).items()
        },
        default_member=lookup(member_email, "--member") if member_email else None,
    )
    providers = _provider_slugs(session)
    with path.open("rb") as fh:
        total_lines = sum(1 for _ in fh)
    tick = max(1, total_lines // 100)
    if total_lines < PROGRESS_MIN_LINES:
        progress = None

    def events(stage: str) -> Iterator[tuple[int, dict | None, str | None]]:
        fmt, records = _read_records(path)
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
                    _convert(fmt, record, line_no, resolver, providers, default_mode),
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
    existing = _existing_ids(session, actor.org_id, list(seen_ids))
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


# ---------------------------------------------------------------------------------------
# Reading: periods, filters and the rollup navigator
# ---------------------------------------------------------------------------------------

PERIODS = {
    "billing": "Current billing period",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "custom": "Custom range",
}


@dataclass(frozen=True)
class UsageFilter:
    """A view of usage: inclusive UTC days plus optional dimension filters (empty = all)."""

    start: date
    end: date
    members: tuple[int, ...] = ()
    models: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    modes: tuple[str, ...] = ()

    def dims(self) -> dict[str, tuple]:
        """The filtered dimensions: column -> values."""
        values = {column: getattr(self, field) for column, field in DIMENSION_FIELDS.items()}
        return {column: v for column, v in values.items() if v}

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def resolve_period(
    kind: str, *, today: date, start: date | None = None, end: date | None = None
) -> tuple[date, date]:
    """The (start, end) days of a period choice; the billing period is the calendar month."""
    if kind == "billing":
        return month_start(today), today
    if kind in ("7d", "30d", "90d"):
        return today - timedelta(days=int(kind[:-1]) - 1), today
    if kind == "custom":
        if start is None or end is None:
            raise ValidationError("Choose both a start and an end day for a custom range.")
        if start > end:
            raise ValidationError("The start day must be on or before the end day.")
        if (end - start).days > 3 * 366:
            raise ValidationError("Choose a range of at most three years.")
        return start, end
    raise ValidationError(f"Unknown period “{kind}”; choose one of {', '.join(PERIODS)}.")


def previous_period(f: UsageFilter, *, billing: bool = False) -> UsageFilter:
    """The comparison period: the same days of the previous month for a month-to-date
    billing period, otherwise the equally long span just before."""
    if billing and f.start.day == 1:
        prev_start = month_start(f.start - timedelta(days=1))
        prev_end = min(prev_start + timedelta(days=f.days - 1), f.start - timedelta(days=1))
        return replace(f, start=prev_start, end=prev_end)
    return replace(f, start=f.start - timedelta(days=f.days), end=f.start - timedelta(days=1))


@dataclass(frozen=True)
class _Rollup:
    table: Any
    dims: frozenset[str]
    hourly: bool
    histogram: bool


_ROLLUPS = (  # narrowest first; the first that covers a query wins
    _Rollup(UsageDailyMember, frozenset({"member_id"}), False, False),
    _Rollup(UsageDailyProviderMode, frozenset({"provider", "mode"}), False, False),
    _Rollup(UsageDailyModel, frozenset({"model_id", "provider", "mode"}), False, True),
    _Rollup(UsageDaily, frozenset(DIMENSIONS), False, True),
    _Rollup(UsageHourly, frozenset(), True, False),
    _Rollup(UsageHourlyMember, frozenset({"member_id"}), True, False),
    _Rollup(UsageHourlyProviderMode, frozenset({"provider", "mode"}), True, False),
    _Rollup(UsageHourlyModel, frozenset({"model_id", "provider", "mode"}), True, False),
)


def _pick(needed: set[str], *, hourly: bool = False, histogram: bool = False) -> _Rollup | None:
    for r in _ROLLUPS:
        if r.hourly == hourly and needed <= r.dims and (r.histogram or not histogram):
            return r
    return None


def _conditions(t: Any, org_id: int, f: UsageFilter) -> list:
    """The view's WHERE clause on rollup `t`: organization, days and dimension filters.

    `UsageDaily` is keyed member first. Without a member filter its rows of a period are
    read member by member (every member row of the organization, removed ones included: a
    seek each) instead of scanning the organization's whole table (30 days under a model
    filter at 10M events: 810 -> 60 ms)."""
    conds = [t.org_id == org_id, t.day >= f.start, t.day <= f.end]
    conds += [getattr(t, d).in_(values) for d, values in f.dims().items()]
    if t is UsageDaily and not f.members:
        members = select(Member.id).where(Member.org_id == org_id)
        conds.append(t.member_id.in_(members.scalar_subquery()))
    return conds


def _scope(
    session: Session, actor: Actor, f: UsageFilter, *, by: Iterable[str] = ()
) -> UsageFilter:
    """Enforce who may see what: members only themselves; admins everything unless the
    organization turned per-member analytics off, which refuses both a member filter and a
    grouping by member (`by`). System actors (command line, gateway) see everything."""
    ensure_allowed(actor, "usage.view_own")
    if actor.is_system:
        return f
    if not allowed(actor, "usage.view_all"):
        return replace(f, members=(actor.id,))
    per_member = bool(f.members) or "member_id" in by
    if per_member and not analytics_enabled(session, org_id=actor.org_id):
        raise PermissionDenied(ANALYTICS_OFF)
    return f


def analytics_enabled(session: Session, *, org_id: int) -> bool:
    # One column through Core: cheaper than loading the organization on every query.
    enabled = (
        session.connection()
        .execute(select(Organization.usage_analytics_enabled).where(Organization.id == org_id))
        .scalar()
    )
    return bool(enabled)


def is_analytics_enabled(session: Session, *, actor: Actor) -> bool:
    """Whether the actor's organization shows per-member usage analytics."""
    ensure_allowed(actor, "usage.view_own")
    return analytics_enabled(session, org_id=actor.org_id)


def _to_int(value: Any) -> int:
    return int(value or 0)


def _fetch(session: Session, stmt: Any) -> list[tuple]:
    """Rows as the driver returns them, plain tuples: SQLAlchemy's per-row result handling
    cost as much as the query itself on large groupings (365 days x 60 models, 21,900 rows:
    100 -> 54 ms). So no type conversion: SQLite returns a date as ISO text (`_dates`)."""
    result = session.connection().execute(stmt)
    rows = result.cursor.fetchall()
    result.close()
    return rows


def _dates(values: list) -> list:
    """A `day` column as dates (SQLite returns ISO text, which sorts the same)."""
    if values and isinstance(values[0], str):
        return list(map(date.fromisoformat, values))
    return values


def _fetch_ints(session: Session, stmt: Any) -> list[dict[str, int]]:
    """Rows as dicts of integers (every selected column is a count or a sum)."""
    result = session.connection().execute(stmt)
    keys = list(result.keys())
    return [dict(zip(keys, map(_to_int, row), strict=True)) for row in result]


def _month_expr(session: Session, day_column: Any) -> Any:
    """`YYYY-MM` of a date column, computed by the database."""
    if session.get_bind().dialect.name == "sqlite":
        return func.substr(day_column, 1, 7)
    return func.to_char(day_column, "YYYY-MM")


def _aggregate_rows(
    session: Session,
    org_id: int,
    f: UsageFilter,
    group: tuple[str, ...] = (),
    *,
    histogram: bool = False,
    measures: tuple[str, ...] = MEASURES,
    hourly: bool = False,
) -> tuple[list[tuple], tuple[str, ...]]:
    """Sums of `measures` over the view, grouped by `group` (dimensions, `day`, `month`),
    from the narrowest rollup that covers it: (rows as tuples, the measure columns)."""
    needed = set(f.dims()) | {g for g in group if g in DIMENSIONS}
    cols = measures + (HISTOGRAM if histogram else ())
    if not hourly and len(needed) <= 1 and "member_id" not in needed:
        # At most one of model/provider/mode: the per-dimension rollup is the smallest.
        # With none, its `mode` rows partition all events, so their sums are the totals.
        t = UsageDailyDim
        dim = next(iter(needed), "mode")
        conds = [t.org_id == org_id, t.dim == dim, t.day >= f.start, t.day <= f.end]
        if dim in f.dims():
            conds.append(t.value.in_(f.dims()[dim]))

        def column(g: str) -> Any:
            return t.value if g == dim else getattr(t, g)
    else:
        rollup = _pick(needed, hourly=hourly, histogram=histogram)
        if rollup is None:
            raise ValueError(f"no rollup covers {sorted(needed)}")  # a programming error
        t = rollup.table
        conds = _conditions(t, org_id, f)

        def column(g: str) -> Any:
            return getattr(t, g)

    keys = [_month_expr(session, t.day) if g == "month" else column(g) for g in group]
    # When the groups are the rollup's own rows (e.g. day x model of the per-dimension
    # rollup), read them as they are: summing single rows cost SQLite as much again as
    # reading them (365 days x 60 models: 56 -> 30 ms).
    key_names = {column(g).key for g in group if g != "month"}
    row_key = {c.name for c in t.__table__.primary_key} - {"org_id", "dim"}
    own_rows = bool(group) and key_names >= row_key
    stmt = select(
        *[k.label(g) for k, g in zip(keys, group, strict=True)],
        *[(getattr(t, c) if own_rows else func.sum(getattr(t, c))).label(c) for c in cols],
    ).where(*conds)
    if group and not own_rows:
        stmt = stmt.group_by(*keys)
    return _fetch(session, stmt), cols


def _int_column(values: tuple) -> np.ndarray:
    """Sums as int64 (PostgreSQL returns BIGINT sums as Decimal; no rows -> NULL)."""
    try:
        return np.fromiter(values, np.int64, len(values))
    except TypeError:
        return np.fromiter((int(v or 0) for v in values), np.int64, len(values))


def _aggregate(
    session: Session,
    org_id: int,
    f: UsageFilter,
    group: tuple[str, ...] = (),
    *,
    ordered: bool = False,
    **kwargs: Any,
) -> pd.DataFrame:
    """`_aggregate_rows` as a DataFrame, measures as int64, `ordered` by the group columns.
    Built column by column: the per-column fillna/astype of a record frame cost more than
    small queries themselves. Sorted as tuples, before the frame: the rows mostly arrive
    in group order, which Python's sort checks in one pass, where pandas' sort on string
    columns took longer than the SQL of a one-member breakdown."""
    rows, cols = _aggregate_rows(session, org_id, f, group, **kwargs)
    if ordered and group:
        rows.sort(key=itemgetter(*range(len(group))))
    # Column by column (itemgetter: 2.7x faster than zip(*rows) on 21,900 rows).
    columns = [list(map(itemgetter(i), rows)) for i in range(len(group) + len(cols))]
    data: dict[str, Any] = {
        g: _dates(columns[i]) if g == "day" else columns[i] for i, g in enumerate(group)
    }
    data.update({c: _int_column(columns[len(group) + j]) for j, c in enumerate(cols)})
    return pd.DataFrame(data, columns=[*group, *cols])


# ---------------------------------------------------------------------------------------
# Analytics (each enforces usage.view_own / usage.view_all)
# ---------------------------------------------------------------------------------------


def _frame(rows: list[dict], group: tuple[str, ...], cols: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[*group, *cols])
    for c in cols:
        frame[c] = frame[c].astype("int64")
    return frame


def get_totals(session: Session, *, actor: Actor, f: UsageFilter) -> dict[str, int]:
    """Sums over the view: requests, errors, successful, tokens, cost_micros, latency sum."""
    f = _scope(session, actor, f)
    rows, _ = _aggregate_rows(session, actor.org_id, f)
    values = rows[0] if rows else (None,) * len(MEASURES)  # one row, NULL sums when empty
    totals = {m: _to_int(v) for m, v in zip(MEASURES, values, strict=True)}
    totals["successful"] = totals["requests"] - totals["errors"]
    return totals


# "Active" means the same everywhere (Usage tab, Organization tab): at least one Kilo
# request in the last ACTIVE_DAYS UTC days, today included. Dashboard sign-ins do not count.
ACTIVE_DAYS = 7


def active_window(today: date) -> tuple[date, date]:
    """The inclusive UTC days that count for "active" on `today`."""
    return today - timedelta(days=ACTIVE_DAYS - 1), today


def _active_member_ids(org_id: int, f: UsageFilter) -> Any:
    """SELECT of the members (removed ones included) with at least one request in the view."""
    t = _pick(set(f.dims()) | {"member_id"}).table
    return select(t.member_id).where(*_conditions(t, org_id, f), t.requests > 0).distinct()


def count_active_members(session: Session, *, actor: Actor, f: UsageFilter) -> int:
    """Members with at least one request in the view's days."""
    f = _scope(session, actor, f)
    active = _active_member_ids(actor.org_id, f).subquery()
    return _to_int(session.execute(select(func.count()).select_from(active)).scalar())


def count_active_by_role(session: Session, *, actor: Actor, today: date) -> dict[str, int]:
    """Current members per role with a request in the active window ending `today`: the
    Usage tab's "Active users (7 days)" split by role (members removed since are left out).
    Counts only, so everyone who may view the organization may see them."""
    ensure_allowed(actor, "organization.view")
    start, end = active_window(today)
    active = _active_member_ids(actor.org_id, UsageFilter(start=start, end=end))
    rows = session.execute(
        select(Member.role, func.count())
        .where(
            Member.org_id == actor.org_id,
            Member.removed_at.is_(None),
            Member.id.in_(active),
        )
        .group_by(Member.role)
    ).all()
    return {role: int(n) for role, n in rows}


def sees_every_member(session: Session, *, actor: Actor) -> bool:
    """Whether the actor may see other members' own usage (not only totals): owners and
    admins while per-member analytics are on, and the system."""
    return actor.is_system or (
        allowed(actor, "usage.view_all") and analytics_enabled(session, org_id=actor.org_id)
    )


def last_request_hours(session: Session, *, actor: Actor) -> dict[int, datetime]:
    """Each current member's latest hour with a Kilo request (UTC, the start of the hour),
    from the per-member hourly rollup: two index seeks per member, no raw events. Members
    without a request are absent. Others' hours need `usage.view_all` and per-member
    analytics turned on; otherwise only the actor's own."""
    ensure_allowed(actor, "usage.view_own")
    everyone = sees_every_member(session, actor=actor)
    h = UsageHourlyMember
    # Every rollup row holds at least one request (rows are sums of events), so the
    # latest row is the latest request. Per member: the latest day (a seek on the primary
    # key, member first), then that day's latest hour.
    last_day = (
        select(func.max(h.day))
        .where(h.org_id == actor.org_id, h.member_id == Member.id)
        .scalar_subquery()
    )
    people = select(Member.id.label("member_id"), last_day.label("day")).where(
        Member.org_id == actor.org_id, Member.removed_at.is_(None)
    )
    if not everyone:
        people = people.where(Member.id == actor.id)
    last = people.subquery()
    stmt = (
        select(last.c.member_id, last.c.day, func.max(h.hour))
        .join(
            h,
            (h.org_id == actor.org_id) & (h.member_id == last.c.member_id) & (h.day == last.c.day),
        )
        .group_by(last.c.member_id, last.c.day)
    )
    return {
        member_id: datetime.combine(_dates([day])[0], time(int(hour)), tzinfo=UTC)
        for member_id, day, hour in session.execute(stmt).all()
    }


def get_overview(
    session: Session,
    *,
    actor: Actor,
    f: UsageFilter,
    billing: bool = False,
    today: date | None = None,
) -> dict[str, dict[str, int]]:
    """Overview metrics of the view and of the previous period (for the deltas).

    Keys of each side: spend_micros, successful, avg_cost_micros (per successful request,
    integer micro-dollars rounded down), input_tokens, output_tokens, active_7d (members
    active in the 7 days ending at the period's last day, or today if earlier).
    """
    out = {}
    prev = previous_period(f, billing=billing)
    for name, view in (("current", f), ("previous", prev)):
        t = get_totals(session, actor=actor, f=view)
        last = min(view.end, today) if today else view.end
        first, last = active_window(last)
        active = count_active_members(session, actor=actor, f=replace(view, start=first, end=last))
        out[name] = {
            "spend_micros": t["cost_micros"],
            "successful": t["successful"],
            "avg_cost_micros": t["cost_micros"] // t["successful"] if t["successful"] else 0,
            "input_tokens": t["input_tokens"],
            "output_tokens": t["output_tokens"],
            "requests": t["requests"],
            "errors": t["errors"],
            "active_7d": active,
        }
    out["previous_period"] = {"start": prev.start, "end": prev.end}  # type: ignore[assignment]
    return out


def get_breakdown(
    session: Session,
    *,
    actor: Actor,
    f: UsageFilter,
    by: tuple[str, ...] = ("model_id",),
    daily: bool = False,
) -> pd.DataFrame:
    """Sums grouped by dimensions (member_id, model_id, provider, mode), optionally per day.

    Returns a DataFrame with the group columns (plus `day`) and every measure, as int64,
    sorted by the group columns. Grouping by member is refused for owners and admins while
    the organization has per-member analytics off.
    """
    for dim in by:
        if dim not in DIMENSIONS:
            raise ValidationError(f"Cannot group usage by “{dim}”.")
    f = _scope(session, actor, f, by=by)
    group = (("day",) if daily else ()) + tuple(by)
    return _aggregate(session, actor.org_id, f, group, ordered=True)


def percentile_from_histogram(counts: list[int], q: float) -> float | None:
    """Latency (ms) at quantile q, interpolated linearly inside the histogram bucket.

    Exact to the bucket: the true value lies within the bucket that is returned from.
    The open last bucket (over 30 s) reports its lower bound.
    """
    total = sum(counts)
    if total == 0:
        return None
    target = q * total
    cumulative = 0
    for i, n in enumerate(counts):
        if n and cumulative + n >= target:
            low = LATENCY_BOUNDS_MS[i - 1] if i > 0 else 0
            if i >= len(LATENCY_BOUNDS_MS):
                return float(low)
            high = LATENCY_BOUNDS_MS[i]
            return low + (high - low) * (target - cumulative) / n
        cumulative += n
    return float(LATENCY_BOUNDS_MS[-1])


def get_model_performance(session: Session, *, actor: Actor, f: UsageFilter) -> pd.DataFrame:
    """Per model: requests, errors, error rate, cost, latency p50/p95 (from the histogram),
    mean latency, and output tokens per second of generation time."""
    f = _scope(session, actor, f)
    rows = _aggregate(session, actor.org_id, f, ("model_id",), histogram=True)
    out = []
    for r in rows.to_dict("records"):
        counts = [r[h] for h in HISTOGRAM]
        req = r["requests"]
        out.append(
            {
                "model_id": r["model_id"],
                "requests": req,
                "errors": r["errors"],
                "error_rate": r["errors"] / req if req else 0.0,
                "cost_micros": r["cost_micros"],
                "output_tokens": r["output_tokens"],
                "latency_p50_ms": percentile_from_histogram(counts, 0.5),
                "latency_p95_ms": percentile_from_histogram(counts, 0.95),
                "latency_mean_ms": r["latency_ms_sum"] / req if req else None,
                "output_tokens_per_s": (
                    r["output_tokens"] * 1000 / r["latency_ms_sum"] if r["latency_ms_sum"] else None
                ),
            }
        )
    cols = [
        "model_id",
        "requests",
        "errors",
        "error_rate",
        "cost_micros",
        "output_tokens",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_mean_ms",
        "output_tokens_per_s",
    ]
    frame = pd.DataFrame(out, columns=cols)
    return frame.sort_values("requests", ascending=False).reset_index(drop=True)


HEATMAP_MEASURES = ("requests", "errors", "cost_micros", "tokens")


def _heatmap_from_events(session: Session, org_id: int, f: UsageFilter) -> list[tuple]:
    """Heatmap cells from raw events (a member's are contiguous: the table is keyed member
    first), grouped by UTC hour slot in SQL and folded into weekday x hour here: a few
    thousand slots at most, where parsing every event's timestamp with strftime in SQL cost
    1.4x more."""
    t = UsageEvent
    if session.get_bind().dialect.name == "sqlite":
        slot = func.substr(t.at, 1, 13)  # 'YYYY-MM-DD HH' of the stored UTC text
    else:
        slot = func.date_trunc("hour", func.timezone("UTC", t.at))
    start = datetime.combine(f.start, datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(f.end + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    err = func.sum(func.cast(t.status != literal("success"), _INT))
    stmt = select(
        slot,
        func.count(),
        err,
        func.sum(t.cost_micros),
        func.sum(t.input_tokens + t.output_tokens),
    ).where(t.org_id == org_id, t.at >= start, t.at < end)
    for dim, values in f.dims().items():
        stmt = stmt.where(getattr(t, dim).in_(values))
    cells = []  # (weekday, hour, *HEATMAP_MEASURES), as the rollup query returns them
    for at, *sums in _fetch(session, stmt.group_by(slot)):
        at = datetime.fromisoformat(at) if isinstance(at, str) else at
        cells.append((at.weekday(), at.hour, *sums))
    return cells


def get_heatmap(session: Session, *, actor: Actor, f: UsageFilter) -> pd.DataFrame:
    """Requests, errors, cost and tokens by UTC weekday (0 = Monday) x hour, all 168 cells."""
    f = _scope(session, actor, f)
    dims = f.dims()
    rollup = _pick(set(dims), hourly=True)
    if rollup is None:  # a member together with model/provider/mode: raw events, in SQL
        rows = _heatmap_from_events(session, actor.org_id, f)
    else:
        if len(dims) == 1 and "member_id" not in dims:
            # One of model/provider/mode: the per-dimension rollup has a row per value.
            (dim, values), t = next(iter(dims.items())), UsageHourlyDim
            conds = [t.dim == dim, t.value.in_(values)]
        else:
            t = rollup.table
            conds = [getattr(t, d).in_(values) for d, values in dims.items()]
            if t is UsageHourlyModel and "provider" not in dims:
                # Keyed provider first: seek each provider of the period, not a full scan.
                d = UsageDailyDim
                providers = select(d.value).where(
                    d.org_id == actor.org_id,
                    d.dim == "provider",
                    d.day >= f.start,
                    d.day <= f.end,
                )
                conds.append(t.provider.in_(providers.distinct().scalar_subquery()))
        stmt = select(
            t.weekday,
            t.hour,
            func.sum(t.requests),
            func.sum(t.errors),
            func.sum(t.cost_micros),
            func.sum(t.input_tokens + t.output_tokens),
        ).where(t.org_id == actor.org_id, t.day >= f.start, t.day <= f.end, *conds)
        rows = _fetch(session, stmt.group_by(t.weekday, t.hour))
    # All 168 cells, in weekday-then-hour order; cells without events stay zero.
    grid = np.zeros((7 * 24, len(HEATMAP_MEASURES)), np.int64)
    if rows:
        values = np.array([[_to_int(v) for v in row] for row in rows], np.int64)
        # Raw events give a cell once per hour slot: add them up.
        np.add.at(grid, values[:, 0] * 24 + values[:, 1], values[:, 2:])
    cells = np.arange(7 * 24)
    columns = {m: grid[:, i] for i, m in enumerate(HEATMAP_MEASURES)}
    return pd.DataFrame({"weekday": cells // 24, "hour": cells % 24, **columns})


def get_monthly(
    session: Session, *, actor: Actor, f: UsageFilter, months: int = 6, by: str = "model_id"
) -> pd.DataFrame:
    """Month by month (the `months` calendar months ending with the view's last day),
    grouped by `by`; the view's dimension filters apply, its start day does not. Grouping
    by member is refused for owners and admins while per-member analytics are off."""
    start = month_start(f.end)
    for _ in range(months - 1):
        start = month_start(start - timedelta(days=1))
    if by not in DIMENSIONS:
        raise ValidationError(f"Cannot group usage by “{by}”.")
    f = _scope(session, actor, replace(f, start=start), by=(by,))
    return _aggregate(session, actor.org_id, f, ("month", by), ordered=True)


def _member_names(session: Session, org_id: int) -> pd.DataFrame:
    rows = session.execute(
        select(Member.id, Member.name, Member.email, Member.role, Member.removed_at).where(
            Member.org_id == org_id
        )
    ).all()
    return pd.DataFrame(
        [
            {
                "member_id": r[0],
                "name": r[1],
                "email": r[2],
                "role": r[3],
                "removed": r[4] is not None,
            }
            for r in rows
        ],
        columns=["member_id", "name", "email", "role", "removed"],
    )


def month_split(start: date, end: date) -> tuple[tuple[date, date] | None, list[tuple[date, date]]]:
    """Split inclusive days into whole calendar months (first and last month's first days,
    or None) and the leftover day ranges before and after them."""
    first = start if start.day == 1 else month_end(start) + timedelta(days=1)
    last = end if end == month_end(end) else month_start(end) - timedelta(days=1)
    if first > last:
        return None, [(start, end)]
    partial = [(start, first - timedelta(days=1))] if start < first else []
    if end > last:
        partial.append((last + timedelta(days=1), end))
    return (first, month_start(last)), partial


def month_plan(
    start: date, end: date
) -> tuple[list[tuple[date, date]], list[tuple[date, date]], list[tuple[date, date]]]:
    """How to sum inclusive days from month and day rollups with the fewest day rows.

    Returns (month ranges to add, as first days of months; day ranges to add; day ranges to
    subtract). Whole months are read as months. A partial month is read as its days, or,
    when it covers most of the month, as the month minus the days it leaves out (a 30-day
    view reads one month row and two days a member instead of 28 days)."""
    months, partial = month_split(start, end)
    add_months = [months] if months else []
    add_days: list[tuple[date, date]] = []
    subtract_days: list[tuple[date, date]] = []
    for lo, hi in partial:
        while lo <= hi:  # one piece per calendar month
            first, last = month_start(lo), month_end(lo)
            piece_end = min(hi, last)
            inside = (piece_end - lo).days + 1
            if (last - first).days + 1 - inside < inside:
                add_months.append((first, first))
                subtract_days += [(first, lo - timedelta(days=1))] if lo > first else []
                if piece_end < last:
                    subtract_days.append((piece_end + timedelta(days=1), last))
            else:
                add_days.append((lo, piece_end))
            lo = piece_end + timedelta(days=1)
    return add_months, add_days, subtract_days


def _member_stats_by_month(org_id: int, f: UsageFilter) -> Any:
    """Per-member sums and active days from the monthly rollup plus or minus a few days of
    the daily one (`month_plan`). Each range is its own UNION ALL branch: an OR of ranges
    would make SQLite scan every day."""
    add_months, add_days, subtract_days = month_plan(f.start, f.end)
    m, d = UsageMonthlyMember, UsageDailyMember
    members = [m.member_id.in_(f.members)] if f.members else []
    parts = [
        select(
            m.member_id,
            *[getattr(m, x).label(x) for x in MEASURES],
            m.active_days.label("active_days"),
        ).where(m.org_id == org_id, m.month >= lo, m.month <= hi, *members)
        for lo, hi in add_months
    ]
    members = [d.member_id.in_(f.members)] if f.members else []
    for sign, ranges in ((1, add_days), (-1, subtract_days)):
        parts += [
            select(
                d.member_id,
                *[(getattr(d, x) * sign).label(x) for x in MEASURES],
                literal(sign).label("active_days"),  # a day row is one active day
            ).where(d.org_id == org_id, d.day >= lo, d.day <= hi, *members)
            for lo, hi in ranges
        ]
    u = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()
    total = func.sum(u.c.requests)
    return (
        select(
            u.c.member_id,
            *[func.sum(u.c[x]).label(x) for x in (*MEASURES, "active_days")],
        )
        .group_by(u.c.member_id)
        .having(total > 0)  # members whose month rows were all subtracted away
    )


def _member_stats_one_dim(session: Session, org_id: int, f: UsageFilter) -> list[dict[str, int]]:
    """Per-member sums and active days under a filter on one of model/provider/mode: whole
    months from the month x member x dimension rollup, plus or minus the days `month_plan`
    reads from the daily one. Active days: the months' day masks (OR-ed over the filtered
    values, without the subtracted days), plus the added days seen in the daily rollup."""
    ((dim, values),) = [(d, v) for d, v in f.dims().items() if d != "member_id"]
    add_months, add_days, subtract_days = month_plan(f.start, f.end)
    sums: dict[int, list[int]] = {}
    masks: dict[tuple[int, date], int] = defaultdict(int)
    days: dict[int, set] = defaultdict(set)

    def add(member: int, measures: Iterable, sign: int) -> None:
        acc = sums.setdefault(member, [0] * len(MEASURES))
        for i, v in enumerate(measures):
            acc[i] += sign * _to_int(v)

    m = UsageMonthlyMemberDim
    members = [m.member_id.in_(f.members)] if f.members else []
    for lo, hi in add_months:
        stmt = select(m.member_id, m.month, m.day_mask, *[getattr(m, x) for x in MEASURES])
        stmt = stmt.where(
            m.org_id == org_id,
            m.dim == dim,
            m.value.in_(values),
            m.month >= lo,
            m.month <= hi,
            *members,
        )
        for member, month, mask, *measures in _fetch(session, stmt):
            add(member, measures, 1)
            masks[member, _dates([month])[0]] |= int(mask)
    t = UsageDaily
    for sign, ranges in ((1, add_days), (-1, subtract_days)):
        for lo, hi in ranges:
            stmt = select(t.member_id, t.day, *[func.sum(getattr(t, x)) for x in MEASURES])
            stmt = stmt.where(*_conditions(t, org_id, replace(f, start=lo, end=hi)))
            for member, day, *measures in _fetch(session, stmt.group_by(t.member_id, t.day)):
                add(member, measures, sign)
                if sign > 0:
                    days[member].add(day)
    cleared: dict[date, int] = defaultdict(int)  # subtracted days: within whole months
    for lo, hi in subtract_days:
        for n in range(lo.day, hi.day + 1):
            cleared[month_start(lo)] |= 1 << (n - 1)
    active = {member: len(d) for member, d in days.items()}
    for (member, month), mask in masks.items():
        active[member] = active.get(member, 0) + (mask & ~cleared[month]).bit_count()
    return [
        {
            "member_id": member,
            **dict(zip(MEASURES, acc, strict=True)),
            "active_days": active[member],
        }
        for member, acc in sums.items()
        if acc[0] > 0  # members whose month rows were all subtracted away
    ]


def list_member_usage(session: Session, *, actor: Actor, f: UsageFilter) -> pd.DataFrame:
    """Per-member statistics of the view (owners/admins, when analytics are on).

    Columns: member_id, name, email, role, every measure, successful, active_days,
    share_of_spend (0..1). Sorted by spend, highest first.
    """
    ensure_allowed(actor, "usage.view_all")
    if not analytics_enabled(session, org_id=actor.org_id):
        raise PermissionDenied(ANALYTICS_OFF)
    f = _scope(session, actor, f)
    dims = set(f.dims()) - {"member_id"}
    if not dims:
        rows = _fetch_ints(session, _member_stats_by_month(actor.org_id, f))
    elif len(dims) == 1:
        rows = _member_stats_one_dim(session, actor.org_id, f)
    else:  # two or three of model/provider/mode: the finest daily rollup
        rollup = _pick(set(f.dims()) | {"member_id"})
        t = rollup.table
        active_days = func.count(distinct(t.day))
        stmt = select(
            t.member_id,
            *[func.sum(getattr(t, m)).label(m) for m in MEASURES],
            active_days.label("active_days"),
        ).where(*_conditions(t, actor.org_id, f))
        rows = _fetch_ints(session, stmt.group_by(t.member_id))
    stats = _frame(rows, ("member_id",), (*MEASURES, "active_days"))
    frame = _member_names(session, actor.org_id).merge(stats, on="member_id", how="inner")
    frame["successful"] = frame["requests"] - frame["errors"]
    total = int(frame["cost_micros"].sum())
    frame["share_of_spend"] = frame["cost_micros"] / total if total else 0.0
    return frame.sort_values(["cost_micros", "requests"], ascending=False).reset_index(drop=True)


def export_member_csv(session: Session, *, actor: Actor, f: UsageFilter) -> str:
    """The per-member statistics of the view (`list_member_usage`, same permissions) as
    spreadsheet-safe CSV (`kilo.csvsafe`): names and e-mails that start with = + - @, tab
    or CR get a leading apostrophe; numbers stay numbers."""
    frame = list_member_usage(session, actor=actor, f=f)
    return csvsafe.frame_to_csv(frame.drop(columns=["removed"]))


def spend_concentration(costs: Iterable[int]) -> dict[str, float]:
    """How concentrated spend is: Gini coefficient and the share of the top 10 % / 20 %."""
    values = sorted((int(c) for c in costs), reverse=True)
    total = sum(values)
    n = len(values)
    if not n or not total:
        return {"gini": 0.0, "top10_share": 0.0, "top20_share": 0.0, "members": n}
    ascending = values[::-1]
    weighted = sum((i + 1) * v for i, v in enumerate(ascending))
    gini = (2 * weighted) / (n * total) - (n + 1) / n
    top = lambda p: sum(values[: max(1, round(n * p))]) / total  # noqa: E731
    return {"gini": gini, "top10_share": top(0.10), "top20_share": top(0.20), "members": n}


def list_filter_options(
    session: Session, *, actor: Actor, start: date, end: date
) -> dict[str, list]:
    """Values for the filter widgets: models, providers and modes seen in the days (for
    the actor's scope), and members (owners/admins with analytics on)."""
    f = _scope(session, actor, UsageFilter(start=start, end=end))
    options: dict[str, list] = {}
    for dim in ("model_id", "provider", "mode"):
        rows = _aggregate(session, actor.org_id, f, (dim,), measures=("requests",))
        options[dim] = sorted(rows[dim].tolist())
    members = []
    if allowed(actor, "usage.view_all") and analytics_enabled(session, org_id=actor.org_id):
        names = _member_names(session, actor.org_id)
        members = [(int(r.member_id), f"{r.name} <{r.email}>") for r in names.itertuples()]
        members.sort(key=lambda m: m[1].lower())
    options["members"] = members
    return options


def get_forecast(session: Session, *, actor: Actor, f: UsageFilter, today: date) -> dict:
    """Spend so far in the calendar month of `today` and a projection to its end, at the
    average daily spend of the last 7 days (the view's filters apply)."""
    period_start, period_end = month_start(today), month_end(today)
    so_far = get_totals(session, actor=actor, f=replace(f, start=period_start, end=today))[
        "cost_micros"
    ]
    recent = get_totals(
        session, actor=actor, f=replace(f, start=today - timedelta(days=6), end=today)
    )["cost_micros"]
    daily_rate = recent // 7
    remaining_days = (period_end - today).days
    return {
        "period_start": period_start,
        "period_end": period_end,
        "spent_micros": so_far,
        "daily_rate_micros": daily_rate,
        "remaining_days": remaining_days,
        "projected_micros": so_far + daily_rate * remaining_days,
    }


def total_cost_micros(
    session: Session, *, org_id: int, start: date | None = None, end: date | None = None
) -> int:
    """Usage cost of an organization (optionally between UTC days, inclusive), read from
    the smallest rollup; for billing (balance) and other internal callers."""
    t = UsageDailyDim
    stmt = select(func.coalesce(func.sum(t.cost_micros), 0)).where(
        t.org_id == org_id, t.dim == "mode"
    )
    if start is not None:
        stmt = stmt.where(t.day >= start)
    if end is not None:
        stmt = stmt.where(t.day <= end)
    return int(session.execute(stmt).scalar())


def get_credit_runway(session: Session, *, actor: Actor, today: date) -> dict:
    """Billing's balance and runway (`kilo.billing.ledger.get_credit_runway`), for the Usage
    page. Imported here at call time only until total_cost_micros moves out of this module
    (kilo.rollups.query); then kilo.usage re-exports it."""
    from kilo.billing.ledger import get_credit_runway as billing_runway

    return billing_runway(session, actor=actor, today=today)


EXPORT_COLUMNS = (
    "day",
    "member_email",
    "model_id",
    "provider",
    "mode",
    "requests",
    "successful",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_usd",
    "cost_micros",
    "latency_ms_sum",
)


def export_csv(session: Session, *, actor: Actor, f: UsageFilter) -> str:
    """The daily table behind the view as CSV: day x [member] x model x provider x mode.

    The member column is filled for owners/admins when analytics are on (and for a member's
    own rows); cost_usd is the exact decimal of cost_micros. Spreadsheet-safe (`kilo.csvsafe`):
    a text cell starting with = + - @, tab or CR gets a leading apostrophe. The rows are the
    rollup's own
    (it has exactly this grain), read in index order and written as they come: no pandas
    frame, no sort (a 30-day export at 10M events a year is ~575,000 rows).
    """
    f = _scope(session, actor, f)
    per_member = bool(f.members) or (
        allowed(actor, "usage.view_all") and analytics_enabled(session, org_id=actor.org_id)
    )
    by = ("member_id",) if per_member else ()
    by += ("model_id", "provider", "mode")
    t = (UsageDaily if per_member else UsageDailyModel).__table__.c
    stmt = (
        select(t.day, *[t[d] for d in by], *[t[m] for m in MEASURES])
        .where(t.org_id == actor.org_id, t.day >= f.start, t.day <= f.end)
        .where(*[t[d].in_(values) for d, values in f.dims().items()])
        .order_by(t.day, *[t[d] for d in by])
    )
    emails = dict(
        session.execute(select(Member.id, Member.email).where(Member.org_id == actor.org_id)).all()
    )
    m = {name: i + 1 + len(by) for i, name in enumerate(MEASURES)}  # measure -> row index
    out = io.StringIO()
    writer = csvsafe.writer(out)  # e-mails, model ids... are text from members and files
    writer.writerow(EXPORT_COLUMNS)
    for row in session.connection().execute(stmt):
        member = emails.get(row[1], "") if per_member else ""
        cost = row[m["cost_micros"]]
        writer.writerow(
            (
                row[0].isoformat(),
                member,
                *row[1 + per_member : 1 + len(by)],
                row[m["requests"]],
                row[m["requests"]] - row[m["errors"]],
                row[m["errors"]],
                row[m["input_tokens"]],
                row[m["output_tokens"]],
                row[m["cache_read_tokens"]],
                row[m["cache_write_tokens"]],
                # Exact decimal dollars by integer arithmetic (costs are never negative).
                f"{cost // 1_000_000}.{cost % 1_000_000:06d}",
                cost,
                row[m["latency_ms_sum"]],
            )
        )
    return out.getvalue()


# ---------------------------------------------------------------------------------------
# Command line: python -m kilo ingest FILE
# ---------------------------------------------------------------------------------------


def _progress_bar(stage: str, done: int, total: int) -> None:
    import sys

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
    from kilo.db import migrate, write_session

    migrate()
    key_members = {}
    for item in args.key_member or []:
        name, sep, email = item.rpartition("=")
        if not sep or not name.strip():
            raise ValidationError(f"--key-member “{item}” must look like 'KEY NAME=EMAIL'.")
        key_members[name.strip()] = email.strip()
    with write_session() as session:
        from kilo.organization import choose_org_id
        from kilo.permissions import system_actor

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
