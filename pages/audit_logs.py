"""Audit Logs tab: who changed what, when. Filterable, exportable, tamper-evident.

Filters live in the URL (st.query_params) so a filtered view can be shared. Times are shown in
the viewer's timezone; the period is picked in that timezone too. Paging is keyset-based
(newest first), so it stays fast however long the log grows.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
import streamlit as st

import ui
from kilo import audit, charts
from kilo.audit import SYSTEM_ACTOR_ID, AuditFilter, Cursor
from kilo.errors import KiloError
from kilo.permissions import Actor
from ui.url_state import LinkParams

DEFAULT_DAYS = 90
EXPORT_LIMIT = 200_000
AUTO_VERIFY_LIMIT = 50_000  # larger logs are verified on request (the walk is linear)
PAGE_SIZES = (25, 50, 100, 200)
ANYONE = -1  # actor filter off (a selectbox shows None as "no choice", so not None)


# ---- cached loaders (plain data only) ------------------------------------------------------


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_options(actor: Actor) -> tuple[list[str], dict[int, str]]:
    actions = ui.read(audit.list_actions, actor=actor)
    actors = {o.id: o.label for o in ui.read(audit.list_actors, actor=actor)}
    return actions, actors


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_page(actor: Actor, f: AuditFilter, limit: int, cursor: str) -> tuple[pd.DataFrame, str]:
    page = ui.read(
        audit.list_entries,
        actor=actor,
        filters=f,
        limit=limit,
        cursor=Cursor.decode(cursor) if cursor else None,
    )
    rows = [
        {
            "Time": e.created_at,
            "Action": e.action,
            "Actor": f"{e.actor_name} <{e.actor_email}>" if e.actor_email else e.actor_name,
            "Target": e.target,
            "Details": e.message,
            "Data": audit.details_text(e.details),
            "Entry": e.id,
        }
        for e in page.entries
    ]
    # What happened first (time, action, message, who): visible at 1440 px without scrolling.
    columns = ["Time", "Action", "Details", "Actor", "Target", "Data", "Entry"]
    nxt = page.next_cursor.encode() if page.next_cursor else ""
    return pd.DataFrame(rows, columns=columns), nxt


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_total(actor: Actor, f: AuditFilter) -> int:
    return ui.read(audit.count_entries, actor=actor, filters=f)


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_per_day(actor: Actor, f: AuditFilter) -> pd.DataFrame:
    rows = ui.read(audit.events_per_day, actor=actor, filters=f)
    return pd.DataFrame(rows, columns=["day", "group", "events"])


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_chain_status(org_id: int, _actor: Actor) -> dict:
    # Keyed by organization only: the walk is linear, one result serves every viewer.
    report = ui.read(audit.get_chain_status, actor=_actor)
    return {
        "ok": report.ok,
        "checked": report.checked,
        "first_bad_id": report.first_bad_id,
        "problem": report.problem,
        "head_id": report.head_id,
        "head_hash": report.head_hash,
    }


# ---- filters <-> URL -----------------------------------------------------------------------


EARLIEST = datetime(2000, 1, 1)
ACTION_NAME = re.compile(r"[a-z][a-z0-9_.]*")


def _init_widgets(tz_today: date, actor_labels: dict[int, str], link: LinkParams) -> None:
    """Seed the filter widgets from the URL on the first run of this page."""
    # Streamlit forgets widget state when another page was shown: seed again then.
    if "audit_logs_from_date" in st.session_state:
        return
    default_start = datetime.combine(tz_today - timedelta(days=DEFAULT_DAYS - 1), time(0))
    default_end = datetime.combine(tz_today, time(23, 59))
    latest = datetime.combine(tz_today + timedelta(days=1), time(23, 59))  # a day of tz slack
    start = link.minute("from", lo=EARLIEST, hi=latest, default=default_start)
    end = link.minute("to", lo=EARLIEST, hi=latest, default=default_end)
    if start > end:
        link.note("from", "the period would end before it starts; using the last 90 days.")
        start, end = default_start, default_end
    st.session_state["audit_logs_actions"] = link.items(
        "action", max_chars=100, pattern=ACTION_NAME
    )
    actors = {"system" if i == SYSTEM_ACTOR_ID else str(i): i for i in actor_labels}
    st.session_state["audit_logs_actor"] = link.lookup(
        "actor", actors, ANYONE, "an actor in this organization's log"
    )
    st.session_state["audit_logs_from_date"] = start.date()
    st.session_state["audit_logs_from_time"] = start.time()
    st.session_state["audit_logs_to_date"] = end.date()
    st.session_state["audit_logs_to_time"] = end.time()
    st.session_state["audit_logs_search"] = link.text("q", max_chars=audit.MAX_SEARCH)


def _write_params(
    actions: list[str], actor_id: int | None, start: datetime, end: datetime, search: str
) -> None:
    params: dict[str, str | list[str]] = {
        "from": start.strftime("%Y-%m-%dT%H:%M"),
        "to": end.strftime("%Y-%m-%dT%H:%M"),
    }
    if actions:
        params["action"] = actions
    if actor_id != ANYONE:
        params["actor"] = "system" if actor_id == SYSTEM_ACTOR_ID else str(actor_id)
    if search:
        params["q"] = search
    if {k: st.query_params.get_all(k) for k in st.query_params} != {
        k: v if isinstance(v, list) else [v] for k, v in params.items()
    }:
        st.query_params.from_dict(params)


# ---- page ------------------------------------------------------------------------------------


actor = ui.guard("audit.view")
st.title("Audit Logs")
st.caption(
    "Every change made in the organization, with who made it and when. Entries cannot "
    "be edited or deleted, and each is chained to the one before it by a hash."
)

tz = ui.viewer_timezone()
action_options, actor_labels = load_options(actor)
link = LinkParams()
_init_widgets(datetime.now(tz).date(), actor_labels, link)
link.show()
selected_before = st.session_state.get("audit_logs_actions", [])
action_options = sorted(set(action_options) | set(selected_before))
if st.session_state.get("audit_logs_actor") not in (ANYONE, *actor_labels):
    st.session_state["audit_logs_actor"] = ANYONE

with st.container(border=True):
    c1, c2, c3 = st.columns([5, 3, 3])
    actions = c1.multiselect(
        "Actions", action_options, key="audit_logs_actions", placeholder="All actions"
    )
    actor_id = c2.selectbox(
        "Actor",
        [ANYONE, *actor_labels],
        key="audit_logs_actor",
        format_func=lambda i: "Anyone" if i == ANYONE else actor_labels[i],
    )
    search = c3.text_input(
        "Search", key="audit_logs_search", placeholder="Action, actor, target or details"
    )
    c1, c2, c3, c4 = st.columns(4)
    from_date = c1.date_input("From", key="audit_logs_from_date")
    from_time = c2.time_input("at", key="audit_logs_from_time", step=timedelta(minutes=15))
    to_date = c3.date_input("To", key="audit_logs_to_date")
    to_time = c4.time_input("until", key="audit_logs_to_time", step=timedelta(minutes=15))
    st.caption(f"Times are in your timezone ({tz.key}); the period includes both ends.")

start_local = datetime.combine(from_date, from_time)
end_local = datetime.combine(to_date, to_time)
_write_params(actions, actor_id, start_local, end_local, search.strip())
filters = AuditFilter(
    actions=tuple(actions),
    actor_id=None if actor_id == ANYONE else actor_id,
    start=start_local.replace(tzinfo=tz),
    end=end_local.replace(tzinfo=tz) + timedelta(minutes=1),  # the "until" minute is included
    search=search.strip(),
)

try:
    filters = filters.checked()
    total = load_total(actor, filters)
    per_day = load_per_day(actor, filters)
except KiloError as exc:
    st.error(ui.md_escape(exc), icon=":material/error:")
    st.stop()

# Paging: a stack of cursors; changing any filter goes back to the first page.
signature = (filters, st.session_state.get("audit_logs_page_size", 50))
if st.session_state.get("audit_logs_signature") != signature:
    st.session_state["audit_logs_signature"] = signature
    st.session_state["audit_logs_cursors"] = [""]
cursors: list[str] = st.session_state["audit_logs_cursors"]

m1, m2 = st.columns([1, 3])
m1.metric("Events in the period", f"{total:,}")
with m2:
    if per_day.empty:
        st.info("No events match these filters in this period.", icon=":material/info:")
    else:
        # The axis spans the period's UTC days (the chart counts per UTC day).
        first_day = filters.start.astimezone(UTC).date()
        last_day = (filters.end - timedelta(minutes=1)).astimezone(UTC).date()
        ui.chart(charts.audit_events_per_day, per_day, start=first_day, end=last_day)

st.subheader("Entries")
limit = st.session_state.get("audit_logs_page_size", 50)
try:
    table, next_cursor = load_page(actor, filters, limit, cursors[-1])
except KiloError as exc:
    st.error(ui.md_escape(exc), icon=":material/error:")
    st.stop()
table["Time"] = table["Time"].map(ui.local_time)
first = (len(cursors) - 1) * limit
if table.empty:
    st.caption("No entries to show.")
else:
    st.caption(f"Entries {first + 1:,}–{first + len(table):,} of {total:,}, newest first.")
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "Time": st.column_config.DatetimeColumn(
                f"Time ({tz.key})", format="YYYY-MM-DD HH:mm:ss", width=145
            ),
            # Wide enough for the longest action (organization.member.password_reset_link).
            "Action": st.column_config.TextColumn(width=280),
            "Details": st.column_config.TextColumn(width=340),
            "Actor": st.column_config.TextColumn(width=200),
            "Data": st.column_config.TextColumn("Structured details", width="medium"),
            "Entry": st.column_config.NumberColumn("Entry #", format="%d"),
        },
        key="audit_logs_table",
    )

p1, p2, p3 = st.columns([1, 1, 4])
if p1.button(
    "Newer", key="audit_logs_newer", icon=":material/chevron_left:", disabled=len(cursors) == 1
):
    cursors.pop()
    st.rerun()
if p2.button(
    "Older", key="audit_logs_older", icon=":material/chevron_right:", disabled=not next_cursor
):
    cursors.append(next_cursor)
    st.rerun()
p3.selectbox(
    "Entries per page",
    PAGE_SIZES,
    index=PAGE_SIZES.index(50),
    key="audit_logs_page_size",
    label_visibility="collapsed",
    format_func=lambda n: f"{n} per page",
)


# ---- export ------------------------------------------------------------------------------------

st.subheader("Export")
if total > EXPORT_LIMIT:
    st.warning(
        f"{total:,} entries match; downloads are limited to {EXPORT_LIMIT:,}. Narrow the "
        "period or filters, or run `python -m kilo export-audit` on the server.",
        icon=":material/warning:",
    )
else:
    st.caption(
        "The entries matching the filters, newest first, times in UTC. Cells that a "
        "spreadsheet would run as a formula start with an apostrophe."
    )


def _export(actor: Actor, filters: AuditFilter, fmt: str):  # noqa: ANN202
    """A callable for st.download_button: the export is built only when downloaded."""

    def make() -> bytes:
        return ui.read(
            audit.export_file, actor=actor, filters=filters, fmt=fmt, max_entries=EXPORT_LIMIT
        )

    return make


stamp = datetime.now(tz).strftime("%Y%m%d-%H%M")
e1, e2, _ = st.columns([1, 1, 2])
e1.download_button(
    "Download CSV",
    _export(actor, filters, "csv"),
    file_name=f"audit-{stamp}.csv",
    mime="text/csv",
    key="audit_logs_export_csv",
    icon=":material/download:",
    on_click="ignore",
    disabled=total == 0 or total > EXPORT_LIMIT,
)
e2.download_button(
    "Download JSON Lines",
    _export(actor, filters, "jsonl"),
    file_name=f"audit-{stamp}.jsonl",
    mime="application/jsonl",
    key="audit_logs_export_jsonl",
    icon=":material/download:",
    on_click="ignore",
    disabled=total == 0 or total > EXPORT_LIMIT,
)


# ---- tamper evidence ---------------------------------------------------------------------------

st.subheader("Tamper evidence")
log_size = load_total(actor, AuditFilter())
if log_size > AUTO_VERIFY_LIMIT and st.button("Verify the hash chain now", key="audit_logs_verify"):
    st.session_state["audit_logs_verify_requested"] = True  # keep showing it on reruns
if log_size <= AUTO_VERIFY_LIMIT or st.session_state.get("audit_logs_verify_requested"):
    status = load_chain_status(actor.org_id, actor)
    if status["ok"]:
        st.success(
            f"Hash chain intact: all {status['checked']:,} entries verified.",
            icon=":material/verified:",
        )
        if status["head_id"]:
            st.caption(
                "Chain head. Keep it outside the database (a ticket, an e-mail) and check it "
                f"later with `python -m kilo verify-audit --org {actor.org_id} --anchor "
                "ENTRY:HASH`: that also catches entries removed from the end."
            )
            st.code(f"{status['head_id']}:{status['head_hash']}", language=None)
    else:
        st.error(
            f"Hash chain broken at entry #{status['first_bad_id']}: "
            f"{ui.md_escape(status['problem'])}. "
            "Someone changed the database outside the application; keep a copy of the "
            "database and investigate.",
            icon=":material/gpp_bad:",
        )
else:
    st.caption(
        f"The log has {log_size:,} entries; verification reads all of them, so it runs "
        "on request (or with `python -m kilo verify-audit`)."
    )
