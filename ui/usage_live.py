"""The Usage tab's live parts: the strip that refreshes itself, and the request log.

The strip is a fragment that reruns on its own every `LIVE_REFRESH_SECONDS`: only it, not
the page. A fragment's own reruns skip `app.py` and the page script (its error handler
too), so it looks the signed-in member up again each time: from the next refresh, a member
removed meanwhile sees a notice instead of figures, and one demoted only their own. Both
parts read `kilo.usage.live`, which decides what the actor may see; nothing here is
cached, the reads are small.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime

import pandas as pd
import streamlit as st

import ui
from kilo import money, usage
from kilo.errors import KiloError
from kilo.permissions import Actor
from kilo.usage.checks import STATUSES
from ui import auth
from ui.url_state import LinkParams

log = logging.getLogger("kilo.ui")
LIVE_REFRESH_SECONDS = 5
DEFAULT_WINDOW = "24h"


def read_log_link(link: LinkParams) -> None:
    """Seed the log's window and status widgets from a shared link (first run)."""
    st.session_state["usage_log_window"] = link.choice(
        "log_window", usage.LOG_WINDOWS, DEFAULT_WINDOW
    )
    st.session_state["usage_log_status"] = link.items(
        "log_status", allowed=STATUSES, comma_separated=True
    )


def log_link_params() -> dict[str, str]:
    """The log's window (unless the default) and status, for the page's share link."""
    window = st.session_state.get("usage_log_window") or DEFAULT_WINDOW
    return {
        "log_window": "" if window == DEFAULT_WINDOW else window,
        "log_status": ",".join(st.session_state.get("usage_log_status", [])),
    }


@st.fragment(run_every=LIVE_REFRESH_SECONDS)
def live_strip() -> None:
    """Requests and spend of the current UTC hour and of the UTC day so far."""
    actor = auth.current_actor()
    if actor is None:
        st.warning("Your session has ended. Reload the page to sign in again.")
        return
    try:
        live = ui.read(usage.get_live_totals, actor=actor)
    except Exception:  # noqa: BLE001  (its own reruns skip app.py's error handler)
        log.exception("live strip failed")
        st.caption(
            f"The live figures could not be read just now; trying again in "
            f"{LIVE_REFRESH_SECONDS} s."
        )
        return
    hour, today = live["hour"], live["today"]
    since = f"{live['hour_start']:%H:%M} UTC"
    own = live["scope"] == "own"
    your = "Your " if own else ""
    with st.container(border=True, key="usage_live_strip"):
        cols = st.columns(4)
        cols[0].metric(
            f"{your}requests this hour".capitalize(),
            f"{hour['requests']:,}",
            help=f"Since {since}; {hour['errors']:,} of them failed.",
        )
        cols[1].metric(
            f"{your}spend this hour".capitalize(),
            ui.fmt_micros(hour["cost_micros"]),
            help=f"Since {since}.",
        )
        cols[2].metric(
            f"{your}requests today".capitalize(),
            f"{today['requests']:,}",
            help=f"Since 00:00 UTC on {live['day']:%d %b %Y}; {today['errors']:,} of them failed.",
        )
        cols[3].metric(
            f"{your}spend today".capitalize(),
            ui.fmt_micros(today["cost_micros"]),
            help=f"Since 00:00 UTC on {live['day']:%d %b %Y}.",
        )
        updated = ui.fmt_datetime(datetime.now(UTC), "%H:%M:%S")
        st.caption(
            ("Live, your own requests only" if own else "Live, the whole organization")
            + f": this hour since {since}, today since 00:00 UTC (the UTC day, as daily "
            f"spend limits count it). Refreshes every {LIVE_REFRESH_SECONDS} s; updated "
            f"{updated} (your time)."
        )


def request_log_tab(
    actor: Actor, f: usage.RequestLogFilter, *, everyone: bool, analytics_off: bool
) -> None:
    """The Requests tab: window and status choices, then the log under the page's
    member, model, provider and mode filters (`f`)."""
    st.subheader("Recent requests")
    c1, c2, c3 = st.columns([1.4, 2, 1], vertical_alignment="bottom")
    window = (
        c1.segmented_control(
            "Window",
            list(usage.LOG_WINDOWS),
            format_func=usage.LOG_WINDOWS.get,
            key="usage_log_window",
            persist_state="page",  # kept while another tab is open: it is in the link too
        )
        or DEFAULT_WINDOW
    )
    statuses = c2.multiselect(
        "Status",
        list(STATUSES),
        key="usage_log_status",
        placeholder="Any status",
        persist_state="page",
    )
    c3.button("Refresh", key="usage_log_refresh", icon=":material/refresh:")
    if analytics_off:
        st.caption(
            "Per-member usage analytics are turned off, so only your own requests are listed."
        )
    request_log(actor, replace(f, window=window, statuses=tuple(statuses)), everyone=everyone)


def request_log(actor: Actor, f: usage.RequestLogFilter, *, everyone: bool) -> None:
    """The newest requests of the window under the page's filters (newest first);
    `everyone`: the actor sees every member's requests (else only their own)."""
    try:
        rows = ui.read(usage.list_recent_requests, actor=actor, f=f)
    except KiloError as exc:
        st.error(ui.md_escape(exc), icon=":material/error:")
        return
    window = usage.LOG_WINDOWS[f.window].lower()
    if rows.empty:
        filtered = f.members or f.models or f.providers or f.modes or f.statuses
        st.info(
            f"No requests{' match these filters' if filtered else ''} in the {window}. "
            "Requests appear here as the gateway records them.",
            icon=":material/receipt_long:",
        )
        return
    zone = ui.viewer_timezone().key
    table = {"Time": [ui.local_time(at) for at in rows["at"]]}
    if everyone:
        table["Member"] = rows["member"]
    table |= {
        "Model": rows["model_id"],
        "Provider": rows["provider"],
        "Mode": rows["mode"],
        "Input tokens": rows["input_tokens"],
        "Output tokens": rows["output_tokens"],
        "Cache read tokens": rows["cache_read_tokens"],
        "Cost": [money.usd(int(c), 6) for c in rows["cost_micros"]],
        "Latency (s)": rows["latency_ms"] / 1000,
        "Status": rows["status"],
    }
    st.dataframe(
        pd.DataFrame(table),
        hide_index=True,
        width="stretch",
        column_config={
            "Time": st.column_config.DatetimeColumn(f"Time ({zone})", format="YYYY-MM-DD HH:mm:ss"),
            "Latency (s)": st.column_config.NumberColumn(format="%.3f"),
        },
    )
    more = len(rows) == f.limit
    st.caption(
        f"The {len(rows):,} most recent requests of the {window}"
        + (" (older ones are not listed)" if more else "")
        + ", newest first, under the filters above (the period does not apply); times in "
        + f"your time zone ({ui.md_escape(zone)})."
    )
