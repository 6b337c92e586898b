"""Usage file formats: our CSV/JSONL columns and OpenRouter's activity export.

`read_records` reads a file as (line number, raw record) pairs; `convert_record` turns a
record of either format into a checked event (`kilo.usage.checks.check_event`), with its
member found by `MemberResolver`.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session

from kilo.catalog import CATALOG_DIR
from kilo.errors import ValidationError
from kilo.models import Provider
from kilo.usage.checks import check_event

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


@cache
def _canonical_models() -> dict[str, str]:
    """OpenRouter permaslug (canonical_slug) -> model id, from the shipped catalogue."""
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


def read_records(path: Path) -> tuple[str, Iterator[tuple[int, dict]]]:
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
class MemberResolver:
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


def provider_slugs(session: Session) -> dict[str, str]:
    rows = session.execute(select(Provider.slug, Provider.name)).all()
    out = {slug.lower(): slug for slug, _ in rows}
    out.update({name.lower(): slug for slug, name in rows})
    return out


def convert_record(
    fmt: str,
    record: dict,
    line_no: int,
    resolver: MemberResolver,
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
        event = check_event(
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
        event = check_event(
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
