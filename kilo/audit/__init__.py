"""Audit log: hash-chained entries, filtered keyset paging, period totals, export, verification.

- `log`: `record()` (called by every service that changes something, in its transaction),
  the hash chain, the `AuditDaily` rollup and the chain checks (`verify_chain`, ...).
- `query`: filters, keyset paging, filter options, period totals and per-day counts.
- `export`: CSV and JSON Lines export through `kilo.csvsafe`.
- `actions`: `AUDIT_ACTIONS`, every action recorded anywhere, with a one-line description.

Reading (list, totals, chart data, export, chain status) needs the `audit.view` permission.
The names below are the package's public interface (`audit.record(...)` and so on).
"""

from kilo.audit.actions import AUDIT_ACTIONS, action_group
from kilo.audit.export import (
    EXPORT_BATCH,
    EXPORT_COLUMNS,
    ExportFormat,
    details_text,
    export_entries,
    export_file,
)
from kilo.audit.log import (
    ChainReport,
    DayMismatch,
    check_anchor,
    compare_daily_rollup,
    entry_hash,
    get_chain_status,
    rebuild_daily,
    record,
    verify_chain,
)
from kilo.audit.query import (
    MAX_PAGE_SIZE,
    MAX_SEARCH,
    MERGE_MAX_ACTIONS,
    PAGE_SIZE,
    SYSTEM_ACTOR_ID,
    ActorOption,
    AuditFilter,
    AuditPage,
    Cursor,
    count_entries,
    events_per_day,
    latest_entry,
    list_actions,
    list_actors,
    list_entries,
)

# The export's spreadsheet-safety helpers, under the names the audit module always gave them.
from kilo.csvsafe import FORMULA_PREFIXES, neutralise

__all__ = [
    "AUDIT_ACTIONS",
    "EXPORT_BATCH",
    "EXPORT_COLUMNS",
    "FORMULA_PREFIXES",
    "MAX_PAGE_SIZE",
    "MAX_SEARCH",
    "MERGE_MAX_ACTIONS",
    "PAGE_SIZE",
    "SYSTEM_ACTOR_ID",
    "ActorOption",
    "AuditFilter",
    "AuditPage",
    "ChainReport",
    "Cursor",
    "DayMismatch",
    "ExportFormat",
    "action_group",
    "check_anchor",
    "compare_daily_rollup",
    "count_entries",
    "details_text",
    "entry_hash",
    "events_per_day",
    "export_entries",
    "export_file",
    "get_chain_status",
    "latest_entry",
    "list_actions",
    "list_actors",
    "list_entries",
    "neutralise",
    "rebuild_daily",
    "record",
    "verify_chain",
]
