"""All SQLModel tables of the dashboard, in one module to avoid circular imports.

Conventions: timestamps are timezone-aware UTC (`UtcDateTime` stores them as UTC and
hands them back aware on every backend); money is integer micro-dollars (`*_micros`,
usage and the credit ledger) or integer cents (`*_cents`, invoices and payments).
Sections are owned by the service module named in their banner; a schema change
is followed by `python migrations/new.py "..."` (see README, "Schema changes").
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator):
    """A DateTime column that only accepts aware datetimes and always returns UTC.

    SQLite keeps no zone, PostgreSQL `timestamptz` does; this makes both behave alike.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("Datetime values must have timezone information")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def ts_field(*, nullable: bool = False, index: bool = False, default_now: bool = False) -> Any:
    kwargs: dict[str, Any] = {}
    if default_now:
        kwargs["default_factory"] = utcnow
    elif nullable:
        kwargs["default"] = None
    return Field(sa_column=sa.Column(UtcDateTime(), nullable=nullable, index=index), **kwargs)


def json_field(default_factory: Any = list) -> Any:
    return Field(default_factory=default_factory, sa_column=sa.Column(sa.JSON, nullable=False))


# --------------------------------------------------------------------------------------
# Organization and members (kilo.organization, kilo.members)
# --------------------------------------------------------------------------------------


class Organization(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    created_at: datetime = ts_field(default_now=True)
    plan: str = Field(default="enterprise", max_length=40)
    seats: int = Field(default=10)
    default_model: str | None = Field(default=None, max_length=200)
    code_training_opt_out: bool = Field(default=True)
    usage_analytics_enabled: bool = Field(default=True)
    # New catalogue models: allowed automatically (True) or blocked until approved.
    auto_allow_new_models: bool = Field(default=True)
    low_balance_alert_micros: int = Field(default=0, sa_type=sa.BigInteger)
    is_demo: bool = Field(default=False)
    stripe_customer_id: str | None = Field(default=None, max_length=100)
    stripe_subscription_id: str | None = Field(default=None, max_length=100)
    seat_price_cents: int = Field(default=2900)
    billing_company: str = Field(default="", max_length=200)
    billing_address: str = Field(default="", max_length=500)
    billing_tax_id: str = Field(default="", max_length=60)
    billing_email: str = Field(default="", max_length=254)
    # ISO 3166-1 alpha-2 ("" not given): with an EU VAT id, decides the reverse charge.
    billing_country: str = Field(default="", max_length=2)


class Member(SQLModel, table=True):
    __table_args__ = (
        sa.UniqueConstraint("org_id", "email", name="uq_member_org_email"),
        sa.UniqueConstraint("username", name="uq_member_username"),
    )

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    username: str = Field(max_length=254)
    name: str = Field(max_length=100)
    email: str = Field(max_length=254)
    role: str = Field(max_length=10)  # owner | admin | member
    joined_at: datetime = ts_field(default_now=True)
    last_active_at: datetime | None = ts_field(nullable=True)
    removed_at: datetime | None = ts_field(nullable=True)
    password_hash: str = Field(max_length=200)
    daily_spend_limit_micros: int | None = Field(default=None, sa_type=sa.BigInteger)
    # At most one team (cost center); None = unassigned (kilo.teams).
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    # Owners and admins who opted in get the weekly summary e-mail (kilo.alerts.summary).
    weekly_summary: bool = Field(default=False)


class Team(SQLModel, table=True):
    """A cost center (kilo.teams). Names are unique per organization, ignoring case (checked
    by the service under the organization's lock; the constraint is the exact-name backstop)."""

    __table_args__ = (sa.UniqueConstraint("org_id", "name", name="uq_team_org_name"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    name: str = Field(max_length=60)
    created_at: datetime = ts_field(default_now=True)


class Budget(SQLModel, table=True):
    """A monthly budget (calendar month, UTC) of the organization, a team or a member
    (kilo.budgets). `scope_id` is the organization's, team's or member's id. A hard budget
    makes the gateway refuse requests once the month's spend reaches it; a soft one does not."""

    __table_args__ = (sa.UniqueConstraint("org_id", "scope", "scope_id", name="uq_budget_scope"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    scope: str = Field(max_length=12)  # organization | team | member
    scope_id: int
    amount_micros: int = Field(sa_type=sa.BigInteger)
    hard: bool = Field(default=False)
    updated_at: datetime = ts_field(default_now=True)


class Invitation(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    email: str = Field(max_length=254)
    role: str = Field(max_length=10)
    token_hash: str = Field(max_length=64, unique=True)
    invited_by_id: int | None = Field(default=None, foreign_key="member.id")
    created_at: datetime = ts_field(default_now=True)
    expires_at: datetime = ts_field()
    accepted_at: datetime | None = ts_field(nullable=True)
    accepted_member_id: int | None = Field(default=None, foreign_key="member.id")
    revoked_at: datetime | None = ts_field(nullable=True)


class AuthSession(SQLModel, table=True):
    """A dashboard sign-in (kilo.sessions). The browser's cookie carries the random id;
    only its SHA-256 is stored. Checked on every script run; revoked on sign-out."""

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = ts_field(default_now=True)
    last_seen_at: datetime = ts_field(default_now=True)
    expires_at: datetime = ts_field()
    revoked_at: datetime | None = ts_field(nullable=True)
    client: str = Field(default="", max_length=64)


class SignInAttempt(SQLModel, table=True):
    """One password sign-in attempt, for throttling (kilo.sessions). No password kept."""

    __table_args__ = (
        sa.Index("ix_signinattempt_username_at", "username", "at"),
        sa.Index("ix_signinattempt_client_at", "client", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=254)  # as typed, lower-cased (may be no member)
    client: str = Field(default="", max_length=64)
    at: datetime = ts_field(default_now=True)
    succeeded: bool = Field(default=False)


class PasswordReset(SQLModel, table=True):
    """A single-use, expiring password-reset link (kilo.passwords); only a hash stored."""

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_by_id: int | None = Field(default=None, foreign_key="member.id")
    created_at: datetime = ts_field(default_now=True)
    expires_at: datetime = ts_field()
    used_at: datetime | None = ts_field(nullable=True)
    revoked_at: datetime | None = ts_field(nullable=True)


class ApiKey(SQLModel, table=True):
    """A member's key for the gateway (kilo.gateway.keys): only the SHA-256 of the secret is
    stored; `prefix` (the secret's first characters) lets people recognise it."""

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=20)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = ts_field(default_now=True)
    last_used_at: datetime | None = ts_field(nullable=True)
    expires_at: datetime | None = ts_field(nullable=True)
    revoked_at: datetime | None = ts_field(nullable=True)


class GatewayToken(SQLModel, table=True):
    """An organization's token for the HTTP API (kilo.gateway.keys): scope `gateway` (the
    gateway's authorize and usage calls) or `read` (the usage read API). Hash only."""

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    name: str = Field(max_length=100)
    scope: str = Field(max_length=10)  # gateway | read
    prefix: str = Field(max_length=20)
    token_hash: str = Field(max_length=64, unique=True)
    created_by_id: int | None = Field(default=None, foreign_key="member.id")
    created_at: datetime = ts_field(default_now=True)
    last_used_at: datetime | None = ts_field(nullable=True)
    revoked_at: datetime | None = ts_field(nullable=True)


# --------------------------------------------------------------------------------------
# Audit log (kilo.audit)
# --------------------------------------------------------------------------------------


class AuditEntry(SQLModel, table=True):
    """One audit event. Never updated or deleted by the application (hash-chained per org).

    Indexes serve keyset paging newest-first on (created_at, id) with any combination of the
    action and actor filters, and the chain walk in id order.
    """

    __table_args__ = (
        sa.Index("ix_audit_org_chain", "org_id", "id"),
        sa.Index("ix_audit_org_time", "org_id", "created_at", "id"),
        sa.Index("ix_audit_org_action_time", "org_id", "action", "created_at", "id"),
        sa.Index("ix_audit_org_actor_time", "org_id", "actor_id", "created_at", "id"),
        sa.Index(
            "ix_audit_org_actor_action_time", "org_id", "actor_id", "action", "created_at", "id"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    created_at: datetime = ts_field(default_now=True)
    actor_id: int | None = Field(default=None)
    actor_name: str = Field(default="", max_length=100)
    actor_email: str = Field(default="", max_length=254)
    action: str = Field(max_length=80)
    target: str = Field(default="", max_length=300)
    message: str = Field(default="")
    details: dict = json_field(dict)
    prev_hash: str = Field(default="", max_length=64)
    hash: str = Field(default="", max_length=64)


class AuditDaily(SQLModel, table=True):
    """Rollup: entries per UTC day and action, kept by `audit.record` in the same transaction.

    Period totals and the per-day chart read it instead of counting raw entries.
    """

    __table_args__ = (sa.UniqueConstraint("org_id", "day", "action", name="uq_audit_daily"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    day: date
    action: str = Field(max_length=80)
    entries: int = Field(default=0)


# --------------------------------------------------------------------------------------
# Catalogue and access rules (kilo.catalog, kilo.access)
# --------------------------------------------------------------------------------------


class Provider(SQLModel, table=True):
    slug: str = Field(primary_key=True, max_length=100)
    name: str = Field(max_length=200)
    headquarters: str | None = Field(default=None, max_length=10)
    datacenters: list = json_field(list)
    # Data policy: None means unknown (shown as such, never guessed).
    training: bool | None = Field(default=None)
    retains_prompts: bool | None = Field(default=None)
    retention_days: int | None = Field(default=None)
    can_publish: bool | None = Field(default=None)
    privacy_policy_url: str | None = Field(default=None, max_length=500)


class CatalogModel(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=200)  # e.g. anthropic/claude-sonnet-4.5
    name: str = Field(max_length=300)
    author: str = Field(default="", max_length=100)
    description: str = Field(default="")
    created: datetime | None = ts_field(nullable=True)
    context_length: int | None = Field(default=None)
    input_modalities: list = json_field(list)
    output_modalities: list = json_field(list)
    # USD per million tokens, exact decimals (OpenRouter gives USD per token as strings).
    prompt_price_mtok: Decimal | None = Field(default=None, max_digits=18, decimal_places=6)
    completion_price_mtok: Decimal | None = Field(default=None, max_digits=18, decimal_places=6)
    providers: list = json_field(list)  # provider slugs serving this model
    imported_at: datetime = ts_field(default_now=True)


class AccessRule(SQLModel, table=True):
    """One allow/deny decision of an organization for a provider or a model (pattern)."""

    __table_args__ = (
        sa.UniqueConstraint("org_id", "subject_type", "subject", name="uq_access_rule"),
    )

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    subject_type: str = Field(max_length=10)  # provider | model
    subject: str = Field(max_length=200)  # slug, model id, or `author/*`
    allowed: bool = Field(default=True)
    created_at: datetime = ts_field(default_now=True)


# --------------------------------------------------------------------------------------
# Modes (kilo.modes)
# --------------------------------------------------------------------------------------


class Mode(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("org_id", "slug", name="uq_mode_org_slug"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    slug: str = Field(max_length=50)
    name: str = Field(max_length=100)
    role_definition: str = Field(default="")
    when_to_use: str = Field(default="")
    description: str = Field(default="")
    custom_instructions: str = Field(default="")
    groups: list = json_field(list)
    builtin: bool = Field(default=False)  # True: an override of a built-in mode
    disabled: bool = Field(default=False)
    created_at: datetime = ts_field(default_now=True)
    updated_at: datetime = ts_field(default_now=True)


# --------------------------------------------------------------------------------------
# Usage (kilo.usage)
# --------------------------------------------------------------------------------------


# Latency histogram: upper bounds (ms) of the buckets counted in the daily rollups
# (`lat_b0` .. `lat_b15`; the last bucket is open-ended). p50/p95 are read from these.
LATENCY_BOUNDS_MS: tuple[int, ...] = (
    250,
    500,
    750,
    1000,
    1500,
    2000,
    2500,
    3000,
    4000,
    5000,
    6500,
    8000,
    10000,
    15000,
    30000,
)
LATENCY_BUCKETS = len(LATENCY_BOUNDS_MS) + 1


def _big(default: int = 0) -> Any:
    return Field(default=default, sa_type=sa.BigInteger)


# Raw events and rollups are keyed by what they are read by, and on SQLite stored WITHOUT
# ROWID: rows are kept in key order, so a range of days (or one member's days) is read
# contiguously instead of one table lookup per index entry (3-4x faster reads at 10M events).
CLUSTERED = {"sqlite_with_rowid": False}


class IdSequence(SQLModel, table=True):
    """Last id handed out per table, for tables whose ids the application assigns."""

    name: str = Field(primary_key=True, max_length=50)
    last_id: int = Field(default=0, sa_type=sa.BigInteger)


class UsageEvent(SQLModel, table=True):
    """One gateway request. Keyed member first: a member's events of a period are contiguous
    (on SQLite the table is stored WITHOUT ROWID, in key order), which is how raw events are
    read (a member's heatmap under model/provider/mode filters), and one B-tree is kept up
    on ingest instead of a table plus an index."""

    __table_args__ = (
        sa.PrimaryKeyConstraint("org_id", "member_id", "at", "id", name="pk_usage_event"),
        # Partial: gateway events without an id cost no index upkeep.
        sa.Index(
            "uq_usage_external",
            "org_id",
            "external_id",
            unique=True,
            sqlite_where=sa.text("external_id IS NOT NULL"),
            postgresql_where=sa.text("external_id IS NOT NULL"),
        ),
        CLUSTERED,
    )

    # Unique per event: a sequence on PostgreSQL; on SQLite (no rowid to number them) taken
    # from `IdSequence` by the ingest, a batch at a time.
    id: int = Field(sa_type=sa.BigInteger().with_variant(sa.Integer, "sqlite"))
    org_id: int = Field(foreign_key="organization.id")
    at: datetime = ts_field()
    member_id: int = Field(foreign_key="member.id")
    model_id: str = Field(max_length=200)
    provider: str = Field(max_length=100)
    mode: str = Field(default="code", max_length=50)
    input_tokens: int = _big()
    output_tokens: int = _big()
    cache_read_tokens: int = _big()
    cache_write_tokens: int = _big()
    cost_micros: int = _big()
    latency_ms: int = Field(default=0)
    status: str = Field(default="success", max_length=10)  # success | error
    external_id: str | None = Field(default=None, max_length=100)


class _UsageMeasures(SQLModel):
    """Additive measures shared by every usage rollup (sums, so rollups merge exactly)."""

    requests: int = _big()
    errors: int = _big()
    input_tokens: int = _big()
    output_tokens: int = _big()
    cache_read_tokens: int = _big()
    cache_write_tokens: int = _big()
    cost_micros: int = _big()
    latency_ms_sum: int = _big()


class _LatencyHistogram(SQLModel):
    lat_b0: int = _big()
    lat_b1: int = _big()
    lat_b2: int = _big()
    lat_b3: int = _big()
    lat_b4: int = _big()
    lat_b5: int = _big()
    lat_b6: int = _big()
    lat_b7: int = _big()
    lat_b8: int = _big()
    lat_b9: int = _big()
    lat_b10: int = _big()
    lat_b11: int = _big()
    lat_b12: int = _big()
    lat_b13: int = _big()
    lat_b14: int = _big()
    lat_b15: int = _big()


class UsageDaily(_UsageMeasures, _LatencyHistogram, table=True):
    """Rollup: one row per day x member x model x provider x mode, kept on ingest."""

    __table_args__ = (
        # Member first: a member's rows are contiguous (their own Usage tab, drill-down).
        sa.PrimaryKeyConstraint(
            "org_id", "member_id", "day", "model_id", "provider", "mode", name="pk_usage_daily"
        ),
        sa.Index("ix_usage_daily_day", "org_id", "day"),
        CLUSTERED,
    )

    org_id: int = Field(foreign_key="organization.id")
    day: date
    member_id: int
    model_id: str = Field(max_length=200)
    provider: str = Field(max_length=100)
    mode: str = Field(max_length=50)


class UsageDailyModel(_UsageMeasures, _LatencyHistogram, table=True):
    """Rollup without the member: day x model x provider x mode (organization-wide views)."""

    __table_args__ = (
        sa.PrimaryKeyConstraint(
            "org_id", "day", "model_id", "provider", "mode", name="pk_usage_daily_model"
        ),
        CLUSTERED,
    )

    org_id: int = Field(foreign_key="organization.id")
    day: date
    model_id: str = Field(max_length=200)
    provider: str = Field(max_length=100)
    mode: str = Field(max_length=50)


class UsageDailyProviderMode(_UsageMeasures, table=True):
    """Rollup per day x provider x mode: views filtered or grouped by both read a few rows
    a day instead of every model's (daily by provider under a mode filter, 365 days at 10M
    events: 68 ms from the model rollup)."""

    __table_args__ = (
        sa.PrimaryKeyConstraint(
            "org_id", "day", "provider", "mode", name="pk_usage_daily_provider_mode"
        ),
        CLUSTERED,
    )

    org_id: int = Field(foreign_key="organization.id")
    day: date
    provider: str = Field(max_length=100)
    mode: str = Field(max_length=50)


class UsageDailyDim(_UsageMeasures, _LatencyHistogram, table=True):
    """Rollup per day x one dimension: `dim` is model_id, provider or mode and `value` its
    value. Serves every view that groups or filters by a single one of them (a few rows a
    day instead of one per model x provider x mode combination)."""

    __table_args__ = (
        sa.PrimaryKeyConstraint("org_id", "dim", "day", "value", name="pk_usage_daily_dim"),
        CLUSTERED,
    )

    org_id: int = Field(foreign_key="organization.id")
    dim: str = Field(max_length=10)
    day: date
    value: str = Field(max_length=200)


class UsageDailyMember(_UsageMeasures, table=True):
    """Rollup per day x member (per-user statistics, active users)."""

    __table_args__ = (
        sa.PrimaryKeyConstraint("org_id", "day", "member_id", name="pk_usage_daily_member"),
        sa.Index("ix_usage_daily_member_m", "org_id", "member_id", "day"),
        CLUSTERED,
    )

    org_id: int = Field(foreign_key="organization.id")
    day: date
    member_id: int


class UsageHourly(_UsageMeasures, table=True):
    """Rollup per UTC day x hour (weekday x hour heatmap), organization-wide."""

    __table_args__ = (
        sa.PrimaryKeyConstraint("org_id", "day", "hour", name="pk_usage_hourly"),
        CLUSTERED,
    )

    org_id: int = Field(foreign_key="organization.id")
    day: date
    hour: int  # 0..23 UTC
    weekday: int  # 0 = Monday


class UsageHourlyMember(_UsageMeasures, table=True):
    """Rollup per UTC day x hour x member (heatmap of one member or a member filter)."""

    __table_args__ = (
        sa.PrimaryKeyConstraint(
            "org_id", "member_id", "day", "hour", name="pk_usage_hourly_member"
        ),
        CLUSTERED,
    )

    org_id: int = Field(foreign_key="organization.id")
    member_id: int
    day: date
    hour: int
    weekday: int


class UsageHourlyDim(_UsageMeasures, table=True):
    """Rollup per UTC day x hour x one of model/provider/mode (`dim`, `value`): the
    weekday x hour heatmap filtered by one dimension, without reading raw events."""

    __table_args__ = (
        sa.PrimaryKeyConstraint(
            "org_id", "dim", "value", "day", "hour", name="pk_usage_hourly_dim"
        ),
        CLUSTERED,
    )

    org_id: int = Field(foreign_key="organization.id")
    dim: str = Field(max_length=10)
    value: str = Field(max_length=200)
    day: date
    hour: int
    weekday: int


class UsageHourlyProviderMode(_UsageMeasures, table=True):
    """Rollup per UTC day x hour x provider x mode: the heatmap filtered by provider and
    mode together (a few hundred thousand rows a year), which the model-keyed rollup below
    could only serve by reading every model of the provider."""

    __table_args__ = (
        sa.PrimaryKeyConstraint(
            "org_id", "provider", "mode", "day", "hour", name="pk_usage_hourly_provider_mode"
        ),
        CLUSTERED,
    )

    org_id: int = Field(foreign_key="organization.id")
    provider: str = Field(max_length=100)
    mode: str = Field(max_length=50)
    day: date
    hour: int
    weekday: int


class UsageHourlyModel(_UsageMeasures, table=True):
    """Rollup per UTC day x hour x model x provider x mode: the weekday x hour heatmap
    filtered by two or three of these at once. Keyed provider, model, day: a model filter
    seeks (provider, model) for each provider, so it reads that model's rows only; ~1.8M
    rows for 10M events over a year."""

    __table_args__ = (
        sa.PrimaryKeyConstraint(
            "org_id", "provider", "model_id", "day", "hour", "mode", name="pk_usage_hourly_model"
        ),
        CLUSTERED,
    )

    org_id: int = Field(foreign_key="organization.id")
    provider: str = Field(max_length=100)
    model_id: str = Field(max_length=200)
    day: date
    hour: int
    mode: str = Field(max_length=50)
    weekday: int


class UsageMonthlyMember(_UsageMeasures, table=True):
    """Rollup per calendar month x member, recomputed from `UsageDailyMember` for the months
    each batch touches: per-member statistics over long periods read 12 rows a member a
    year instead of 365. `month` is the month's first day."""

    __table_args__ = (
        sa.PrimaryKeyConstraint("org_id", "month", "member_id", name="pk_usage_monthly_member"),
        CLUSTERED,
    )

    org_id: int = Field(foreign_key="organization.id")
    month: date
    member_id: int
    active_days: int = Field(default=0)


class UsageMonthlyMemberDim(_UsageMeasures, table=True):
    """Rollup per calendar month x member x one of model/provider/mode (`dim`, `value`):
    per-member statistics under a one-dimension filter read a row a member a month instead
    of every day x model x provider x mode row. `day_mask` has bit d-1 set when the member
    had such a request on day d: active days are not additive, but masks merge with OR."""

    __table_args__ = (
        sa.PrimaryKeyConstraint(
            "org_id", "dim", "value", "month", "member_id", name="pk_usage_monthly_member_dim"
        ),
        CLUSTERED,
    )

    org_id: int = Field(foreign_key="organization.id")
    dim: str = Field(max_length=10)
    value: str = Field(max_length=200)
    month: date
    member_id: int
    day_mask: int = _big()


# --------------------------------------------------------------------------------------
# Billing (kilo.billing)
# --------------------------------------------------------------------------------------


class LedgerEntry(SQLModel, table=True):
    """Credit ledger. Usage cost is not copied here: balance = sum(ledger) - usage cost.

    `external_ref` is unique across all organizations: it is the idempotency key of the
    event that caused the entry (a Stripe Checkout Session, a refund, a manual entry).
    """

    __table_args__ = (sa.Index("ix_ledger_org_at", "org_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    at: datetime = ts_field(default_now=True)
    kind: str = Field(max_length=12)  # purchase | refund | adjustment | promo
    amount_micros: int = Field(sa_type=sa.BigInteger)
    description: str = Field(default="", max_length=500)
    external_ref: str = Field(max_length=200, unique=True)
    actor_id: int | None = Field(default=None)
    invoice_id: int | None = Field(default=None, foreign_key="invoice.id")


class Invoice(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    number: str = Field(max_length=40, unique=True)
    kind: str = Field(max_length=10)  # seats | top-up | other
    issued_at: datetime = ts_field(default_now=True)
    period_start: date
    period_end: date
    due_date: date | None = Field(default=None)
    status: str = Field(max_length=16)  # draft|open|paid|past_due|void|uncollectible|refunded
    currency: str = Field(default="usd", max_length=3)
    subtotal_cents: int = Field(default=0)
    tax_cents: int = Field(default=0)
    # The tax treatment decided at issue: the rate in percent (a Decimal as text, e.g. "19"
    # or "8.875"; None when the amount came from Stripe or predates rates) and the note
    # printed instead of a tax line (the EU reverse charge), else "".
    tax_rate: str | None = Field(default=None, max_length=12)
    tax_note: str = Field(default="", max_length=200)
    total_cents: int = Field(default=0)
    refunded_cents: int = Field(default=0)
    lines: list = json_field(list)  # [{description, quantity, unit_cents, amount_cents}]
    # The seller and the customer as printed, recorded when the invoice is issued
    # (`kilo.billing.parties`): {"seller": {...} or None (not configured then), "bill_to":
    # {...}}. None: a Stripe draft (not issued yet), or issued before revision 0011.
    parties: dict | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    stripe_invoice_id: str | None = Field(default=None, max_length=100, unique=True)
    paid_at: datetime | None = ts_field(nullable=True)


class Payment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    at: datetime = ts_field(default_now=True)
    invoice_id: int | None = Field(default=None, foreign_key="invoice.id")
    amount_cents: int  # negative for a refund
    currency: str = Field(default="usd", max_length=3)
    status: str = Field(max_length=16)  # succeeded | failed | refunded
    method: str = Field(default="card", max_length=40)
    description: str = Field(default="", max_length=500)
    external_ref: str = Field(max_length=200, unique=True)
    stripe_payment_intent: str | None = Field(default=None, max_length=100, index=True)
    stripe_charge_id: str | None = Field(default=None, max_length=100, index=True)
    failure_message: str = Field(default="", max_length=500)


class SeatChange(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    at: datetime = ts_field(default_now=True)
    from_seats: int
    to_seats: int
    actor_id: int | None = Field(default=None)
    # Signed: positive is charged on the next invoice, negative is credited.
    prorated_cents: int = Field(default=0)
    source: str = Field(default="demo", max_length=10)  # stripe | demo | local
    # The invoice of the prorated amount (demo and local changes; Stripe invoices its own).
    invoice_id: int | None = Field(default=None, foreign_key="invoice.id")


class InvoiceCounter(SQLModel, table=True):
    """The last number issued in one invoice series (e.g. "K1-2026"): numbers are taken from
    it under the organization's lock in the issuing transaction, so a series has no gaps."""

    org_id: int = Field(foreign_key="organization.id", primary_key=True)
    series: str = Field(primary_key=True, max_length=30)
    last_number: int = Field(default=0)


class CheckoutSession(SQLModel, table=True):
    """A credit purchase started through Stripe Checkout (or demo mode)."""

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    created_at: datetime = ts_field(default_now=True)
    stripe_session_id: str = Field(max_length=200, unique=True)
    amount_cents: int
    status: str = Field(default="open", max_length=12)  # open | complete | expired
    actor_id: int | None = Field(default=None)
    url: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    completed_at: datetime | None = ts_field(nullable=True)


# --------------------------------------------------------------------------------------
# Alerts (kilo.alerts)
# --------------------------------------------------------------------------------------


class AlertSettings(SQLModel, table=True):
    """An organization's alert rules (kilo.alerts.rules); no row means the defaults. The
    balance amount is `Organization.low_balance_alert_micros` (one setting, one mechanism)."""

    org_id: int = Field(foreign_key="organization.id", primary_key=True)
    budget_thresholds: list = json_field(default_factory=lambda: [50, 80, 100])
    runway_days: int = Field(default=0)  # 0: no runway alert
    anomaly_enabled: bool = Field(default=True)
    anomaly_min_micros: int = Field(default=10_000_000, sa_type=sa.BigInteger)
    updated_at: datetime = ts_field(default_now=True)


class AlertChannel(SQLModel, table=True):
    """Where an organization's alerts go: an e-mail address, a Slack-compatible incoming
    webhook, or a JSON webhook signed with `secret` (HMAC-SHA256; kept to sign, never shown
    again after creation, never logged)."""

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    kind: str = Field(max_length=10)  # email | slack | webhook
    name: str = Field(max_length=60)
    target: str = Field(max_length=2048)  # the address or the URL
    secret: str = Field(default="", max_length=100)
    created_at: datetime = ts_field(default_now=True)
    removed_at: datetime | None = ts_field(nullable=True)


class Alert(SQLModel, table=True):
    """One alert that fired. `key` is (rule, subject, threshold, period) in one string and is
    unique per organization: inserting it is the once-only step (insert-or-skip)."""

    __table_args__ = (sa.UniqueConstraint("org_id", "key", name="uq_alert_org_key"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    key: str = Field(max_length=300)
    rule: str = Field(max_length=30)
    subject: str = Field(max_length=100)
    threshold: str = Field(max_length=40)
    period: str = Field(max_length=40)
    title: str = Field(max_length=250)
    message: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    details: dict = json_field(default_factory=dict)
    created_at: datetime = ts_field(default_now=True, index=True)


class AlertDelivery(SQLModel, table=True):
    """One alert to one channel (or, for the weekly summary, one member's address).
    pending -> sending (claimed until `next_attempt_at`) -> sent | pending again with a later
    `next_attempt_at` | failed (gave up)."""

    __table_args__ = (sa.Index("ix_alertdelivery_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alert.id", index=True)
    channel_id: int | None = Field(default=None, foreign_key="alertchannel.id")
    kind: str = Field(max_length=10)  # email | slack | webhook
    target: str = Field(max_length=2048)
    status: str = Field(default="pending", max_length=10)
    attempts: int = Field(default=0)
    last_error: str = Field(default="", max_length=500)
    next_attempt_at: datetime = ts_field(default_now=True)
    sent_at: datetime | None = ts_field(nullable=True)
