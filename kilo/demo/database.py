"""What the database holds: any organization, only demo ones; and emptying it."""

from __future__ import annotations

from sqlmodel import Session, SQLModel, func, select

from kilo.models import Organization


def is_seeded(session: Session) -> bool:
    """Whether the database holds any organization (the demo or a real one)."""
    return session.exec(select(func.count()).select_from(Organization)).one() > 0


def only_demo_organizations(session: Session) -> bool:
    """True when the database holds organizations and every one of them is a demo."""
    flags = session.exec(select(Organization.is_demo)).all()
    return bool(flags) and all(flags)


def clear_database(session: Session) -> None:
    """Delete every row of every table. The schema, its migration version and the id
    counters of `idsequence` stay (ids are never reused; usage inserts need its rows)."""
    for table in reversed(SQLModel.metadata.sorted_tables):
        if table.name not in ("alembic_version", "idsequence"):
            session.execute(table.delete())
