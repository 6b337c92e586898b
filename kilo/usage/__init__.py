"""Usage: ingest of usage events, and the analytics the Usage tab reads.

Writing
    `record_usage` records one gateway request; `import_usage` ingests a CSV/JSONL file
    (our columns, or OpenRouter's activity export), validated whole before a row is stored
    (`kilo.usage.ingest`, `checks`, `formats`). Both store through `insert_events`
    (`kilo.rollups.store`): the events and every rollup of `kilo.rollups.registry`, in the
    same transaction. Rollups hold sums only (plus a latency histogram in the daily ones,
    and day masks that merge with OR), so they merge exactly and their totals equal the
    sums over raw events.

Reading
    Every analytics function takes a `UsageFilter` (period + members/models/providers/modes),
    checks `usage.view_own` / `usage.view_all` (`kilo.usage.scope`), picks the narrowest
    rollup that has every dimension the query filters or groups on, and aggregates in SQL
    (`kilo.rollups`). Raw events are read only by the weekday x hour heatmap when it is
    filtered by a member together with model, provider or mode (still aggregated in SQL).
    `analytics` holds the views, `members` the per-member ones, `teams` the per-team ones
    (each member's current team), `export` the CSV downloads, `periods` the period choices.
    `live` holds the live strip (this hour and today, from the hourly rollups), the request
    log (the newest raw events of a recent window, read by their key) and each member's
    spend today.

This package re-exports the public names gateways, pages and tests use as `kilo.usage.X`.
"""

from kilo.billing import get_credit_runway  # billing owns balance and runway
from kilo.rollups.monthly import month_plan, month_split
from kilo.rollups.query import DIMENSION_FIELDS, UsageFilter, total_cost_micros
from kilo.rollups.registry import (
    DIMENSIONS,
    HISTOGRAM,
    MEASURES,
    latency_bucket,
    month_end,
    month_start,
)
from kilo.rollups.store import MAX_ORG_TOTAL, insert_events
from kilo.usage.analytics import (
    count_active_by_role,
    count_active_members,
    get_breakdown,
    get_forecast,
    get_heatmap,
    get_model_performance,
    get_monthly,
    get_overview,
    get_totals,
    list_filter_options,
    percentile_from_histogram,
    spend_concentration,
)
from kilo.usage.checks import MAX_COST_USD, MAX_LATENCY_MS, MAX_TOKENS, parse_cost_micros
from kilo.usage.export import export_csv, export_member_csv
from kilo.usage.ingest import ImportResult, import_usage, record_usage
from kilo.usage.live import (
    DEFAULT_LOG_ROWS,
    LOG_WINDOWS,
    MAX_LOG_ROWS,
    RequestLogFilter,
    check_log_filter,
    get_live_totals,
    list_recent_requests,
    list_spent_today,
)
from kilo.usage.members import last_request_hours, list_member_usage
from kilo.usage.periods import (
    ACTIVE_DAYS,
    PERIODS,
    active_window,
    previous_period,
    resolve_period,
)
from kilo.usage.scope import analytics_enabled, is_analytics_enabled, sees_every_member
from kilo.usage.teams import export_team_csv, get_team_trend, get_team_usage

__all__ = [
    "ACTIVE_DAYS",
    "DEFAULT_LOG_ROWS",
    "DIMENSIONS",
    "DIMENSION_FIELDS",
    "HISTOGRAM",
    "LOG_WINDOWS",
    "MAX_LOG_ROWS",
    "MAX_COST_USD",
    "MAX_LATENCY_MS",
    "MAX_ORG_TOTAL",
    "MAX_TOKENS",
    "MEASURES",
    "PERIODS",
    "ImportResult",
    "RequestLogFilter",
    "UsageFilter",
    "active_window",
    "analytics_enabled",
    "check_log_filter",
    "count_active_by_role",
    "count_active_members",
    "export_csv",
    "export_member_csv",
    "get_breakdown",
    "get_credit_runway",
    "export_team_csv",
    "get_forecast",
    "get_heatmap",
    "get_live_totals",
    "get_model_performance",
    "get_monthly",
    "get_overview",
    "get_team_trend",
    "get_team_usage",
    "get_totals",
    "import_usage",
    "insert_events",
    "is_analytics_enabled",
    "last_request_hours",
    "latency_bucket",
    "list_filter_options",
    "list_member_usage",
    "list_recent_requests",
    "list_spent_today",
    "month_end",
    "month_plan",
    "month_split",
    "month_start",
    "parse_cost_micros",
    "percentile_from_histogram",
    "previous_period",
    "record_usage",
    "resolve_period",
    "sees_every_member",
    "spend_concentration",
    "total_cost_micros",
]
