"""Raw usage events keyed (org, member, time, id), clustered on SQLite.

Raw events are read only for a member's heatmap under model/provider/mode filters. Keyed
member first, a member's events of a period are contiguous (SQLite stores the table WITHOUT
ROWID, in key order) instead of one table lookup per index entry, and ingest keeps one
B-tree up instead of a table plus `ix_usage_org_member_at`. Without a rowid SQLite does not
number the events; `idsequence` holds the last id handed out (PostgreSQL keeps its sequence).

Existing events are copied over on SQLite (in key order) and keep their ids.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 13:09:46.245559
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import kilo.models

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    "id",
    "org_id",
    "at",
    "member_id",
    "model_id",
    "provider",
    "mode",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_micros",
    "latency_ms",
    "status",
    "external_id",
)
EXTERNAL_WHERE = sa.text("external_id IS NOT NULL")


def _event_columns() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("at", kilo.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("mode", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["organization.id"]),
    ]


def _rebuild_sqlite(primary_key: sa.PrimaryKeyConstraint, order: str, **kwargs) -> None:
    """SQLite cannot change a primary key in place: copy into a new table, swap names."""
    op.create_table("usageevent_new", *_event_columns(), primary_key, **kwargs)
    cols = ", ".join(COLUMNS)
    op.execute(
        f"INSERT INTO usageevent_new ({cols}) SELECT {cols} FROM usageevent ORDER BY {order}"  # noqa: S608
    )
    op.drop_table("usageevent")
    op.rename_table("usageevent_new", "usageevent")


def upgrade() -> None:
    op.create_table(
        "idsequence",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(
            sa.PrimaryKeyConstraint("org_id", "member_id", "at", "id", name="pk_usage_event"),
            "org_id, member_id, at, id",
            sqlite_with_rowid=False,
        )
        op.create_index(
            "uq_usage_external",
            "usageevent",
            ["org_id", "external_id"],
            unique=True,
            sqlite_where=EXTERNAL_WHERE,
        )
        op.execute(
            "INSERT INTO idsequence (name, last_id) "
            "SELECT 'usageevent', coalesce(max(id), 0) FROM usageevent"
        )
    else:
        op.drop_constraint("usageevent_pkey", "usageevent", type_="primary")
        op.create_primary_key("pk_usage_event", "usageevent", ["org_id", "member_id", "at", "id"])
        op.drop_index("ix_usage_org_member_at", table_name="usageevent")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(sa.PrimaryKeyConstraint("id"), "id")
        op.create_index(
            "uq_usage_external",
            "usageevent",
            ["org_id", "external_id"],
            unique=True,
            sqlite_where=EXTERNAL_WHERE,
        )
    else:
        op.drop_constraint("pk_usage_event", "usageevent", type_="primary")
        op.create_primary_key("usageevent_pkey", "usageevent", ["id"])
    op.create_index("ix_usage_org_member_at", "usageevent", ["org_id", "member_id", "at"])
    op.drop_table("idsequence")
