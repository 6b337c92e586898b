"""The demo organization's people: three sign-in accounts and 31 colleagues, with the
audit history of their invitations."""

from __future__ import annotations

import random
import unicodedata
from datetime import UTC, date, datetime, time, timedelta

import bcrypt
from sqlmodel import Session

from kilo import audit
from kilo.members import actor_for
from kilo.models import Member, Organization

DEMO_PASSWORD = "kilo-demo"

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


def seed_members(
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


def seed_history(
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
