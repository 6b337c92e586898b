"""Hourly model x provider x mode and provider x mode rollups; raw events indexed by member.

The weekday x hour heatmap under two or three of model/provider/mode reads the new hourly
rollups instead of raw events; raw events are read only for a member's heatmap together with
a dimension, through `ix_usage_org_member_at`, and the time index served no query any more.
Existing events are folded into the new rollups here, so databases made before this revision
show the same figures as new ones.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 10:35:46.138161
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MEASURES = (
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_micros",
    "latency_ms_sum",
)


def _measure_columns() -> list[sa.Column]:
    return [sa.Column(m, sa.BigInteger(), nullable=False) for m in MEASURES]


def upgrade() -> None:
    op.create_table(
        "usagehourlymodel",
        *_measure_columns(),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("model_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("mode", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organization.id"]),
        sa.PrimaryKeyConstraint(
            "org_id", "provider", "model_id", "day", "hour", "mode", name="pk_usage_hourly_model"
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "usagehourlyprovidermode",
        *_measure_columns(),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("mode", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organization.id"]),
        sa.PrimaryKeyConstraint(
            "org_id", "provider", "mode", "day", "hour", name="pk_usage_hourly_provider_mode"
        ),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("usageevent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_org_at"))
        batch_op.create_index("ix_usage_org_member_at", ["org_id", "member_id", "at"], unique=False)
    _backfill()


def _backfill() -> None:
    """Fold the events already stored into the two new rollups (UTC day, hour, weekday)."""
    if op.get_bind().dialect.name == "sqlite":
        # `at` is stored as UTC text 'YYYY-MM-DD HH:MM:SS[.ffffff]'
        day, hour = "substr(at, 1, 10)", "CAST(substr(at, 12, 2) AS INTEGER)"
        weekday = "(CAST(strftime('%w', at) AS INTEGER) + 6) % 7"
    else:
        utc = "(at AT TIME ZONE 'UTC')"
        day, hour = f"CAST({utc} AS DATE)", f"CAST(EXTRACT(HOUR FROM {utc}) AS INTEGER)"
        weekday = f"CAST(EXTRACT(ISODOW FROM {utc}) AS INTEGER) - 1"
    sums = (
        "count(*), sum(CASE WHEN status = 'success' THEN 0 ELSE 1 END), sum(input_tokens), "
        "sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens), "
        "sum(cost_micros), sum(latency_ms)"
    )
    measures = ", ".join(MEASURES)
    op.execute(
        f"INSERT INTO usagehourlymodel (org_id, provider, model_id, day, hour, mode, weekday, "  # noqa: S608 (constant SQL)
        f"{measures}) SELECT org_id, provider, model_id, {day}, {hour}, mode, {weekday}, {sums} "
        f"FROM usageevent GROUP BY org_id, provider, model_id, {day}, {hour}, mode, {weekday}"
    )
    rolled = ", ".join(f"sum({m})" for m in MEASURES)
    op.execute(
        f"INSERT INTO usagehourlyprovidermode (org_id, provider, mode, day, hour, weekday, "  # noqa: S608 (constant SQL)
        f"{measures}) SELECT org_id, provider, mode, day, hour, weekday, {rolled} "
        "FROM usagehourlymodel GROUP BY org_id, provider, mode, day, hour, weekday"
    )


def downgrade() -> None:
    with op.batch_alter_table("usageevent", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_org_member_at")
        batch_op.create_index(batch_op.f("ix_usage_org_at"), ["org_id", "at"], unique=False)
    op.drop_table("usagehourlyprovidermode")
    op.drop_table("usagehourlymodel")
