"""Deterministic demo organization: members, 90 days of usage, billing and audit history.

The same seed and the same `today` give the same database. Demo accounts: `owner`,
`admin` and `member`, password `kilo-demo`.

At start-up an empty database (no organization at all) gets the demo unless it is switched
off (`KILO_DEMO=0`, or `[app] demo = false` in secrets); a database that holds any
organization never gets it.
"""

from __future__ import annotations

import importlib
import os
import random
import unicodedata
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import bcrypt
from sqlmodel import Session, func, select

from kilo import audit, billing, catalog, usage
from kilo.errors import Conflict, ValidationError
from kilo.members import actor_for
from kilo.models import (
    CatalogModel,
    Invoice,
    LedgerEntry,
    Member,
    Organization,
    Payment,
    SeatChange,
    UsageDaily,
)

DEMO_PASSWORD = "kilo-demo"
DEMO_ORG = "Acme Robotics"
DAYS = 90

DEMO_ACCOUNTS = [
    ("owner", "Olivia Bennett", "owner"),
    ("admin", "Arjun Mehta", "admin"),
    ("member", "Mia Schneider", "member"),
]
OTHER_PEOPLE = [
    ("Daniel Okafor", "owner"),
    ("Sofia Rossi", "admin"),
    ("Lucas Martin", "admin"),
    ("Hannah Kim", "member"),
    ("Mateo García", "member"),
    ("Emma Johansson", "member"),
    ("Noah Williams", "member"),
    ("Aisha Rahman", "member"),
    ("Yuki Tanaka", "member"),
    ("Liam O'Connor", "member"),
    ("Chloé Dubois", "member"),
    ("Ethan Brown", "member"),
    ("Priya Nair", "member"),
    ("Jonas Weber", "member"),
    ("Isabella Costa", "member"),
    ("Mohammed Al-Sayed", "member"),
    ("Zoe Clarke", "member"),
    ("Lukas Novak", "member"),
    ("Grace Liu", "member"),
    ("Samuel Adeyemi", "member"),
    ("Elena Popescu", "member"),
    ("Oliver Smith", "member"),
    ("Camila Torres", "member"),
    ("Felix Wagner", "member"),
    ("Ava Thompson", "member"),
    ("Ravi Kumar", "member"),
    ("Nora Lindqvist", "member"),
    ("Benjamin Cohen", "member"),
    ("Lea Fischer", "member"),
    ("Tomás Silva", "member"),
    ("Julia Kowalski", "member"),
]

# (model id, relative popularity, mean latency ms, error rate)
DEMO_MODELS = [
    ("anthropic/claude-sonnet-4.5", 30, 2400, 0.010),
    ("anthropic/claude-opus-4.5", 6, 5200, 0.015),
    ("anthropic/claude-haiku-4.5", 9, 900, 0.008),
    ("openai/gpt-5.4", 12, 3100, 0.012),
    ("openai/gpt-5.4-mini", 8, 1100, 0.010),
    ("google/gemini-2.5-pro", 7, 2900, 0.020),
    ("google/gemini-2.5-flash", 8, 800, 0.015),
    ("google/gemini-3-flash-preview", 5, 950, 0.025),
    ("deepseek/deepseek-v3.2", 5, 3500, 0.030),
    ("qwen/qwen3-coder", 6, 1800, 0.020),
    ("mistralai/codestral-2508", 4, 700, 0.010),
    ("mistralai/devstral-medium", 3, 1500, 0.015),
    ("moonshotai/kimi-k2.5", 3, 2600, 0.030),
    ("z-ai/glm-4.6", 3, 2200, 0.025),
    ("x-ai/grok-4.3", 3, 1300, 0.020),
    ("meta-llama/llama-4-maverick", 2, 1000, 0.020),
    ("minimax/minimax-m2", 2, 2000, 0.030),
]
MODES = [("code", 55), ("architect", 12), ("ask", 15), ("debug", 12), ("orchestrator", 6)]


_OFF = {"0", "false", "no", "off"}
_ON = {"1", "true", "yes", "on"}


def demo_enabled(settings: Mapping[str, Any] | None = None) -> bool:
    """Whether an empty database gets the demo organization at start-up.

    `[app] demo` in `settings` (a mapping such as st.secrets) wins, then the `KILO_DEMO`
    environment variable; on when neither is set. Values: true/false, 1/0, yes/no, on/off.
    """
    value: Any = None
    if settings is not None:
        try:
            value = (settings.get("app") or {}).get("demo")
        except Exception:  # noqa: BLE001  (st.secrets without a secrets.toml)
            value = None
    source = "[app] demo in secrets"
    if value is None:
        value, source = os.environ.get("KILO_DEMO"), "KILO_DEMO"
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _OFF:
        return False
    if word in _ON:
        return True
    raise ValidationError(f"{source} is “{value}”; set it to 1 (demo on) or 0 (demo off).")


def is_seeded(session: Session) -> bool:
    """Whether the database holds any organization (the demo or a real one)."""
    return session.exec(select(func.count()).select_from(Organization)).one() > 0


def seed_if_empty(session: Session, settings: Mapping[str, Any] | None = None) -> bool:
    """The start-up rule: an empty database gets the demo when the demo is enabled.

    Returns whether it seeded. A database holding any organization is left alone.
    """
    if not demo_enabled(settings) or is_seeded(session):
        return False
    seed(session)
    return True


def only_demo_organizations(session: Session) -> bool:
    """True when the database holds organizations and every one of them is a demo."""
    flags = session.exec(select(Organization.is_demo)).all()
    return bool(flags) and all(flags)


def clear_database(session: Session) -> None:
    """Delete every row of every table (the schema and its migration version stay)."""
    from sqlmodel import SQLModel

    for table in reversed(SQLModel.metadata.sorted_tables):
        if table.name != "alembic_version":
            session.execute(table.delete())


def seed(
    session: Session, *, reset: bool = False, today: date | None = None, seed_value: int = 42
) -> Organization:
    """Build the demo organization in the session's transaction."""
    if is_seeded(session) and not reset:
        raise Conflict(
            "The database already holds an organization; use --reset to replace it "
            "with the demo (this deletes everything in it)."
        )
    if reset:
        clear_database(session)
    rng = random.Random(seed_value)
    today = today or datetime.now(UTC).date()
    start = today - timedelta(days=DAYS)
    t0 = datetime.combine(start - timedelta(days=60), time(9, 0), tzinfo=UTC)

    catalog.import_snapshot(session)
    org = Organization(
        name=DEMO_ORG,
        created_at=t0,
        seats=25,
        is_demo=True,
        default_model="anthropic/claude-sonnet-4.5",
        low_balance_alert_micros=200_000_000,
        billing_company="Acme Robotics GmbH",
        billing_address="Invalidenstraße 117\n10115 Berlin\nGermany",
        billing_tax_id="DE812345678",
        billing_email="billing@acme-robotics.example",
    )
    session.add(org)
    session.flush()
    members = _seed_members(session, org, rng, t0, today)
    owner = members[0]
    _seed_history(session, org, members, rng, t0)
    _seed_usage(session, org, members, rng, start, today)
    _seed_billing(session, org, owner, rng, t0, today)
    for path in EXTRA_STEPS:
        module, _, function = path.partition(":")
        getattr(importlib.import_module(module), function)(session, org, owner, rng)
    return org


def _seed_members(
    session: Session, org: Organization, rng: random.Random, t0: datetime, today: date
) -> list[Member]:
    pw = bcrypt.hashpw(DEMO_PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    people = [(u, n, r) for u, n, r in DEMO_ACCOUNTS] + [(None, n, r) for n, r in OTHER_PEOPLE]
    members = []
    for i, (username, name, role) in enumerate(people):
        plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
        slug = plain.lower().replace("'", "").replace(" ", ".") or f"user{i}"
        email = f"{slug}@acme-robotics.example"
        joined = t0 + timedelta(days=min(i * 4, 120), hours=rng.randint(0, 8))
        active_days_ago = rng.choice([0, 0, 0, 1, 1, 2, 3, 5, 9, 16])
        last_active = datetime.combine(
            today - timedelta(days=active_days_ago),
            time(rng.randint(8, 17), rng.randint(0, 59)),
            tzinfo=UTC,
        )
        m = Member(
            org_id=org.id,
            username=username or email,
            name=name,
            email=email,
            role=role,
            joined_at=joined,
            last_active_at=min(last_active, datetime.now(UTC)),
            password_hash=pw,
            daily_spend_limit_micros=rng.choice([None, None, 50_000_000, 100_000_000]),
        )
        session.add(m)
        members.append(m)
    session.flush()
    return members


def _seed_history(
    session: Session, org: Organization, members: list[Member], rng: random.Random, t0: datetime
) -> None:
    owner = actor_for(members[0])
    audit.record(
        session,
        actor=owner,
        action="organization.create",
        target=org.name,
        message=f"Created organization {org.name}",
        at=t0,
    )
    for m in members[1:]:
        audit.record(
            session,
            actor=owner,
            action="organization.member.invite",
            target=m.email,
            message=f"Invited {m.email} as {m.role}",
            at=m.joined_at - timedelta(hours=2),
            details={"email": m.email, "role": m.role},
        )
        audit.record(
            session,
            actor=actor_for(m),
            action="organization.member.accept_invitation",
            target=m.email,
            message=f"{m.name} <{m.email}> accepted the invitation and joined as {m.role}",
            at=m.joined_at,
            details={"member_id": m.id},
        )


def _seed_usage(
    session: Session,
    org: Organization,
    members: list[Member],
    rng: random.Random,
    start: date,
    today: date,
) -> None:
    models = {
        m.id: m
        for m in session.exec(
            select(CatalogModel).where(CatalogModel.id.in_([d[0] for d in DEMO_MODELS]))
        ).all()
    }
    picks = [d for d in DEMO_MODELS if d[0] in models]
    weights = [d[1] for d in picks]
    mode_names, mode_weights = zip(*MODES, strict=True)
    now = datetime.now(UTC)
    events: list[dict] = []
    for m in members:
        intensity = rng.uniform(0.3, 1.6)
        favourite = rng.choice(picks)
        for d in range(DAYS + 1):
            day = start + timedelta(days=d)
            day_start = datetime.combine(day, time(0), tzinfo=UTC)
            if day_start < m.joined_at - timedelta(days=1):
                continue
            base = 28 if day.weekday() < 5 else 3
            n = max(0, int(rng.gauss(base * intensity, base * 0.3)))
            for _ in range(n):
                hour = min(23, max(0, int(rng.gauss(13.5, 2.8))))
                at = day_start + timedelta(
                    hours=hour, minutes=rng.randint(0, 59), seconds=rng.randint(0, 59)
                )
                if at > now:
                    continue
                model_id, _, latency, err = (
                    favourite if rng.random() < 0.3 else rng.choices(picks, weights)[0]
                )
                cm = models[model_id]
                inp = int(rng.lognormvariate(8.6, 0.8))
                out = int(rng.lognormvariate(6.3, 0.7))
                cache_read = int(inp * rng.uniform(0, 0.6)) if rng.random() < 0.5 else 0
                ok = rng.random() >= err
                cost = Decimal(inp) * (cm.prompt_price_mtok or 0) + Decimal(out) * (
                    cm.completion_price_mtok or 0
                )
                events.append(
                    {
                        "at": at,
                        "member_id": m.id,
                        "model_id": model_id,
                        "provider": rng.choice(cm.providers[:2]) if cm.providers else "unknown",
                        "mode": rng.choices(mode_names, mode_weights)[0],
                        "input_tokens": inp,
                        "output_tokens": out if ok else 0,
                        "cache_read_tokens": cache_read,
                        "cache_write_tokens": 0,
                        "cost_micros": int(cost.quantize(Decimal(1), ROUND_HALF_EVEN)) if ok else 0,
                        "latency_ms": max(80, int(rng.gauss(latency, latency * 0.35))),
                        "status": "success" if ok else "error",
                    }
                )
    events.sort(key=lambda e: e["at"])
    usage.insert_events(session, org_id=org.id, events=events)


def _seed_billing(
    session: Session,
    org: Organization,
    owner: Member,
    rng: random.Random,
    t0: datetime,
    today: date,
) -> None:
    spent = int(
        session.exec(
            select(func.coalesce(func.sum(UsageDaily.cost_micros), 0)).where(
                UsageDaily.org_id == org.id
            )
        ).one()
    )  # PostgreSQL sums BIGINT as Decimal
    actor = actor_for(owner)
    # Credit purchases: enough to cover usage with a comfortable margin, in round amounts.
    target = int(spent) * 135 // 100 + 500_000_000
    purchase_days = [0, 40, 75, 110, 135]
    step = -(-target // len(purchase_days) // 100_000_000) * 100_000_000
    for i, offset in enumerate(purchase_days):
        at = t0 + timedelta(days=offset, hours=3)
        cents = step // 10_000
        ref = f"demo_cs_{i:03d}"
        billing.record_credit_purchase(
            session,
            org=org,
            actor=actor,
            subtotal_cents=cents,
            tax_cents=0,
            external_ref=ref,
            method="card •••• 4242",
            at=at,
            source="demo",
        )
    session.add(
        LedgerEntry(
            org_id=org.id,
            at=t0 + timedelta(hours=1),
            kind="promo",
            amount_micros=100_000_000,
            description="Welcome credits",
            external_ref="demo_promo_welcome",
        )
    )
    # Seat changes and monthly seat invoices.
    seats = 25
    for offset, new in [(30, 30), (95, 40)]:
        at = t0 + timedelta(days=offset, hours=5)
        session.add(
            SeatChange(
                org_id=org.id,
                at=at,
                from_seats=seats,
                to_seats=new,
                actor_id=owner.id,
                prorated_cents=(new - seats) * org.seat_price_cents // 2,
            )
        )
        audit.record(
            session,
            actor=actor,
            action="organization.seats.change",
            target="seats",
            message=f"Seats: {seats} → {new}",
            at=at,
            details={"before": seats, "after": new},
        )
        seats = new
    org.seats = seats
    month = date(t0.year, t0.month, 1)
    n = 1
    while month <= today:
        nxt = (month + timedelta(days=32)).replace(day=1)
        changes = session.exec(select(SeatChange).where(SeatChange.org_id == org.id)).all()
        count = 25
        for c in sorted(changes, key=lambda c: c.at):
            if c.at.date() < month:
                count = c.to_seats
        cents = count * org.seat_price_cents
        status = "paid" if nxt <= today else "open"
        at = datetime.combine(month, time(6), tzinfo=UTC)
        inv = Invoice(
            org_id=org.id,
            number=billing.next_invoice_number(session, org_id=org.id, at=at),
            kind="seats",
            issued_at=at,
            period_start=month,
            period_end=nxt - timedelta(days=1),
            status=status,
            subtotal_cents=cents,
            total_cents=cents,
            paid_at=at + timedelta(days=2) if status == "paid" else None,
            lines=[
                {
                    "description": "Kilo for Enterprise seat",
                    "quantity": count,
                    "unit_cents": org.seat_price_cents,
                    "amount_cents": cents,
                }
            ],
        )
        session.add(inv)
        session.flush()
        if status == "paid":
            session.add(
                Payment(
                    org_id=org.id,
                    at=inv.paid_at,
                    invoice_id=inv.id,
                    amount_cents=cents,
                    status="succeeded",
                    method="card •••• 4242",
                    description=f"Seats {month:%B %Y}",
                    external_ref=f"demo_seat_{n:03d}",
                )
            )
        month, n = nxt, n + 1
    session.add(org)
    session.flush()


# Demo data of other modules, as "module:function"; each is called as
# function(session, org, owner_member, rng) after members, usage and billing exist.
EXTRA_STEPS: list[str] = [
    "kilo.access:seed_demo",
    "kilo.modes:seed_demo",
    "kilo.billing.demo:seed_demo",
]
