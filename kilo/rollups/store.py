"""Writing usage: raw events and every rollup of the registry, in one transaction.

`insert_events` refuses a batch that would take an organization-wide sum past
`MAX_ORG_TOTAL`, then `store_events` writes it and folds it into every rollup of
`kilo.rollups.registry.ROLLUPS`, in the caller's transaction:

- the events are turned into columns once (numpy), grouped per rollup with pandas
  (vectorised; measured faster here than SQLite's GROUP BY over the same rows), and each
  rollup gets `INSERT .. ON CONFLICT DO UPDATE` adding the batch's sums to stored rows.
  Sums merge exactly, so every rollup equals the sums over raw events;
- a `recompute` rollup (month x member) is recomputed in SQL from its source (day x
  member) for the months the batch touched (its `active_days` counts days, which do not
  add up across batches);
- a `day_mask` rollup (month x member x one dimension) keeps its active days as a bit
  mask of the month's days instead, OR-ed on upsert (recomputing it would read the finest
  rollup).

Raw events go to `usageevent` with one `executemany` in key order (SQLite) or `COPY`
(PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, func, select
from sqlmodel import Session

from kilo.errors import ValidationError
from kilo.models import LATENCY_BOUNDS_MS, UsageDailyDim
from kilo.rollups import direct
from kilo.rollups.registry import HISTOGRAM, MEASURES, ONE_DIMS, ROLLUPS, Rollup
from kilo.rollups.sql import CHUNK, EVENT_COLUMNS, next_ids, recompute_months, upsert

# The whole-number columns of an event: input_tokens .. latency_ms.
_INT_FIELDS = EVENT_COLUMNS[EVENT_COLUMNS.index("input_tokens") : EVENT_COLUMNS.index("status")]
# The most any organization-wide sum (requests, tokens of each kind, cost in micro-dollars
# = $1 trillion, latency) may reach. Every rollup cell and every query sums a subset of one
# organization's events, so none can pass it; input + output tokens (the heatmap's sum)
# stay below 2**63 - 1 too. `insert_events` refuses a batch that would pass it. (The
# per-request maxima of `kilo.usage.checks` keep single events far below it.)
MAX_ORG_TOTAL = 10**18


def _event_frame(events: list[dict]) -> pd.DataFrame:
    """The events as typed columns plus the rollup keys and per-event measures."""
    n = len(events)

    def ints(name: str) -> np.ndarray:
        return np.fromiter((e.get(name) or 0 for e in events), np.int64, n)

    frame = pd.DataFrame(
        {
            "member_id": np.fromiter((e["member_id"] for e in events), np.int64, n),
            # Categoricals: pandas groups on their integer codes.
            "model_id": pd.Categorical([e["model_id"] for e in events]),
            "provider": pd.Categorical([e["provider"] for e in events]),
            "mode": pd.Categorical([e.get("mode") or "code" for e in events]),
            **{name: ints(name) for name in _INT_FIELDS},
            "status": pd.Categorical([e.get("status") or "success" for e in events]),
            "external_id": pd.Series([e.get("external_id") or None for e in events], dtype=object),
        }
    )
    at = pd.DatetimeIndex(pd.to_datetime([e["at"] for e in events], utc=True))
    frame["at_us"] = at.tz_convert(None).to_numpy().astype("datetime64[us]")
    frame["day"] = frame["at_us"].to_numpy().astype("datetime64[D]")
    frame["hour"] = at.hour.to_numpy().astype(np.int64)
    frame["weekday"] = at.dayofweek.to_numpy().astype(np.int64)
    frame["requests"] = 1
    frame["errors"] = (frame["status"] != "success").to_numpy().astype(np.int64)
    frame["latency_ms_sum"] = frame["latency_ms"]
    buckets = np.searchsorted(np.asarray(LATENCY_BOUNDS_MS), frame["latency_ms"], side="left")
    for i, name in enumerate(HISTOGRAM):
        frame[name] = (buckets == i).astype(np.int64)
    return frame


def _days(values: np.ndarray, *, sqlite: bool) -> list:
    """Days as the database takes them: ISO text for SQLite, `date` objects otherwise."""
    days = values.astype("datetime64[D]")
    return np.datetime_as_string(days).tolist() if sqlite else days.astype(object).tolist()


def _pylist(values: pd.Series) -> list:
    """A column as plain Python values. Categoricals go through their codes: pandas'
    own `tolist` of a categorical of strings is ~9x slower here."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = values.cat.categories.to_numpy(dtype=object)
        return categories[values.cat.codes.to_numpy()].tolist()
    return values.tolist()


def _rows(org_id: int, frame: pd.DataFrame, cols: list[str], *, sqlite: bool) -> list[tuple]:
    """Rows as tuples of plain Python values (drivers reject numpy scalars)."""
    columns: list[list] = [[org_id] * len(frame)]
    for c in cols:
        values = frame[c]
        date_column = c in ("day", "month")
        columns.append(_days(values.to_numpy(), sqlite=sqlite) if date_column else _pylist(values))
    return list(zip(*columns, strict=True))


def _write_raw(session: Session, org_id: int, frame: pd.DataFrame, *, sqlite: bool) -> None:
    conn = session.connection()
    at = frame["at_us"].to_numpy()
    if sqlite:
        # In key order (member, time): each member's new events extend their range of the
        # clustered table in one run.
        order = np.lexsort((at, frame["member_id"].to_numpy()))
        frame, at = frame.take(order), at[order]
        # SQLAlchemy's SQLite DateTime text ('YYYY-MM-DD HH:MM:SS.ffffff', UTC), built in
        # numpy: per-event isoformat() costs more than the insert itself.
        text = np.datetime_as_string(at, unit="us").astype("U26")
        text.view(np.uint32).reshape(-1, 26)[:, 10] = ord(" ")
        at_values = text.tolist()
    else:
        at_values = pd.DatetimeIndex(at).tz_localize("UTC").to_pydatetime().tolist()
    columns = [[org_id] * len(frame), at_values]
    columns += [_pylist(frame[c]) for c in EVENT_COLUMNS[2:]]
    if sqlite:
        first = next_ids(session, "usageevent", len(frame))
        columns.append(range(first, first + len(frame)))
        names = (*EVENT_COLUMNS, "id")
        sql = (
            f"INSERT INTO usageevent ({', '.join(names)}) "  # noqa: S608
            f"VALUES ({', '.join('?' * len(names))})"
        )
        rows = list(zip(*columns, strict=True))
        for start in range(0, len(rows), CHUNK):
            conn.exec_driver_sql(sql, rows[start : start + CHUNK])
    else:  # PostgreSQL: COPY is several times faster than INSERT; ids from the sequence
        cursor = conn.connection.dbapi_connection.cursor()
        with cursor.copy(f"COPY usageevent ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
            for row in zip(*columns, strict=True):
                copy.write_row(row)


def batch_sums(frame: pd.DataFrame) -> dict[str, int]:
    """Exact sums of each measure over a batch: numpy's int64 sum where it cannot wrap
    (events x the largest value fits), Python integers otherwise."""
    sums = {}
    for measure in MEASURES:
        values = frame[measure].to_numpy()
        largest = int(np.abs(values).max()) if len(values) else 0
        fits = largest * len(values) < 2**63
        sums[measure] = int(values.sum()) if fits else sum(values.tolist())
    return sums


def store_events(
    session: Session,
    *,
    org_id: int,
    events: list[dict],
    check: Callable[[dict[str, int]], None] | None = None,
) -> int:
    """Insert validated events and fold them into every rollup, in the caller's transaction.

    `check`, if given, gets the batch's exact sums per measure before anything is written,
    and may refuse the batch by raising."""
    if not events:
        return 0
    sqlite = session.connection().dialect.name == "sqlite"
    if len(events) <= direct.SMALL_BATCH:  # a gateway's request or few: no pandas
        return direct.store_small(session, org_id=org_id, events=events, check=check)
    frame = _event_frame(events)
    if check is not None:
        check(batch_sums(frame))
    _write_raw(session, org_id, frame, sqlite=sqlite)
    for rollup in ROLLUPS:  # in registry order: a recomputed rollup after its source
        if rollup.fold == "sums" and rollup.one_dim:
            _fold_one_dim(session, org_id, frame, rollup, sqlite=sqlite)
        elif rollup.fold == "sums":
            _fold_sums(session, org_id, frame, rollup, sqlite=sqlite)
        elif rollup.fold == "day_mask":
            _fold_day_masks(session, org_id, frame, rollup, sqlite=sqlite)
        else:  # recompute
            first, last = frame["day"].min(), frame["day"].max()
            recompute_months(
                session,
                rollup,
                org_id=org_id,
                first=pd.Timestamp(first).date(),
                last=pd.Timestamp(last).date(),
            )
    return len(events)


def _fold_sums(
    session: Session, org_id: int, frame: pd.DataFrame, rollup: Rollup, *, sqlite: bool
) -> None:
    """The batch's sums per key of the rollup, added to the stored rows."""
    keys, cols = rollup.group_keys, list(rollup.measures)
    rolled = frame.groupby(list(keys), sort=True, observed=True)[cols].sum().reset_index()
    rows = _rows(org_id, rolled, [*keys, *cols], sqlite=sqlite)
    upsert(session, rollup.table, keys, tuple(cols), rows)


def _fold_one_dim(
    session: Session, org_id: int, frame: pd.DataFrame, rollup: Rollup, *, sqlite: bool
) -> None:
    """One dimension at a time: the rows of each of model/provider/mode as (`dim`, `value`)."""
    keys, cols = rollup.group_keys, list(rollup.measures)
    for dim in ONE_DIMS:
        group = [dim if k == "value" else k for k in keys if k != "dim"]
        rolled = frame.groupby(group, sort=True, observed=True)[cols].sum()
        rolled = rolled.reset_index().rename(columns={dim: "value"})
        rolled.insert(0, "dim", dim)
        rows = _rows(org_id, rolled, [*keys, *cols], sqlite=sqlite)
        upsert(session, rollup.table, keys, tuple(cols), rows)


def _fold_day_masks(
    session: Session, org_id: int, frame: pd.DataFrame, rollup: Rollup, *, sqlite: bool
) -> None:
    """Month x member x one dimension: sums, and the days of the month as a bit mask."""
    days = frame["day"].to_numpy().astype("datetime64[D]")
    months = days.astype("datetime64[M]").astype("datetime64[D]")
    keyed = pd.DataFrame(
        {
            "month": months,
            "member_id": frame["member_id"],
            # bit (day of month - 1): distinct per day, so a sum over distinct days is an OR
            "bit": np.left_shift(np.int64(1), (days - months).astype(np.int64)),
            **{m: frame[m] for m in MEASURES},
        }
    )
    keys = rollup.key  # dim, value, month, member_id
    group = [k for k in keys if k != "dim"]
    for dim in ONE_DIMS:
        keyed["value"] = frame[dim]
        rolled = keyed.groupby(group, sort=True, observed=True)[list(MEASURES)].sum()
        bits = keyed.drop_duplicates([*group, "bit"]).groupby(group, sort=True, observed=True)
        rolled["day_mask"] = bits["bit"].sum()
        rolled = rolled.reset_index()
        rolled.insert(0, "dim", dim)
        rows = _rows(org_id, rolled, [*keys, *MEASURES, "day_mask"], sqlite=sqlite)
        upsert(session, rollup.table, keys, MEASURES, rows, masks=("day_mask",))


def insert_events(session: Session, *, org_id: int, events: list[dict]) -> int:
    """Insert validated events and fold them into every rollup, in the caller's transaction.

    Each event is a dict with `at` (aware datetime), `member_id`, `model_id`, `provider`,
    and optionally `mode`, token counts, `cost_micros`, `latency_ms`, `status`,
    `external_id`. Callers (`record_usage`, `import_usage`) validate each event; this
    refuses (ValidationError, before writing anything) a batch that would take an
    organization-wide sum past `MAX_ORG_TOTAL`, so no sum can overflow. The rollups are
    grouped with pandas and upserted in SQL (`store_events`).
    """
    return store_events(
        session,
        org_id=org_id,
        events=events,
        check=lambda sums: _check_org_totals(session, org_id, sums),
    )


# The organization's sums, from the smallest rollup; built once (a gateway records every
# request through this check, and building the statement cost as much as running it).
_ORG_TOTALS = select(
    *[func.coalesce(func.sum(getattr(UsageDailyDim, m)), 0) for m in MEASURES]
).where(UsageDailyDim.org_id == bindparam("org_id"), UsageDailyDim.dim == "mode")


def _check_org_totals(session: Session, org_id: int, batch: dict[str, int]) -> None:
    """Refuse a batch (its exact sums per measure) that would take one of the
    organization's sums past MAX_ORG_TOTAL. The stored sums come from the smallest rollup
    (a few rows a day), so this costs one small query per batch. Concurrent batches may
    each pass the check: the ceiling is a ninth of what a 64-bit sum holds, so that margin
    is far more than any batches in flight can add."""
    stored = session.execute(_ORG_TOTALS, {"org_id": org_id}).one()
    for measure, total in zip(MEASURES, stored, strict=True):
        if int(total) + batch[measure] > MAX_ORG_TOTAL:
            what = {"cost_micros": "cost (micro-dollars)", "latency_ms_sum": "latency (ms)"}
            raise ValidationError(
                "Usage not recorded: the organization's total "
                f"{what.get(measure, measure.replace('_', ' '))} would pass "
                f"{MAX_ORG_TOTAL:,}, the most the dashboard adds up exactly. "
                "Nothing was stored."
            )
