"""Streamlit helpers shared by the pages: the signed-in actor, actions, formatting.

Pages stay thin: read widgets, call `kilo` services through cached loaders or `run_action`,
and draw. Services raise `KiloError` with a message meant for the user; `run_action`
shows it and nothing is changed (the transaction rolls back).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import streamlit as st
from sqlmodel import Session

from kilo import markdown, money
from kilo.db import read_session, write_session
from kilo.errors import KiloError
from kilo.permissions import Actor, allowed
from ui import auth

log = logging.getLogger("kilo.ui")
T = TypeVar("T")
CACHE_TTL = 60  # seconds; writes clear the cache at once


def current_actor() -> Actor:
    """The signed-in member as an Actor, read fresh from the database on every run.

    Pages call this themselves (not only app.py), so a member removed or demoted while their
    tab is open loses access on that tab's next run, whichever script runs.
    """
    actor = auth.current_actor()
    if actor is None:
        st.error("Your session has ended. Reload the page to sign in again.")
        st.stop()
    show_toasts()  # every signed-in page's run starts here: the queued success messages
    return actor


def guard(action: str, message: str | None = None) -> Actor:
    """Refuse the whole page when the actor's role does not allow `action`."""
    actor = current_actor()
    if not allowed(actor, action):
        st.error(
            message or "You do not have access to this page. Ask an owner or admin.",
            icon=":material/block:",
        )
        st.stop()
    return actor


def read(fn: Callable[..., T], /, **kwargs: Any) -> T:
    """Run a read-only service call in its own session."""
    with read_session() as session:
        return fn(session, **kwargs)


def md_escape(text: object) -> str:
    """User or error text shown through Markdown (st.markdown, captions, messages, toasts,
    titles, labels) exactly as written: no formatting, LaTeX, HTML, link or image.
    """
    return markdown.escape(text)


def md_code(text: object) -> str:
    """User text as an inline code span that no backtick inside can break out of."""
    return markdown.code(text)


def run_action(fn: Callable[[Session], T], *, success: str | None = None) -> T | None:
    """Run a change in one transaction; show its error (nothing changed) or a success toast.

    Clears cached loaders so every page reflects the change. The toast is queued and shown
    by the page's next run (`show_toasts`): callers rerun after a successful change.
    """
    try:
        with write_session() as session:
            result = fn(session)
    except KiloError as exc:
        st.error(md_escape(exc), icon=":material/error:")
        return None
    except Exception:  # a bug, not the user's fault: log it, never show a traceback
        log.exception("action failed")
        st.error(
            "Something went wrong and nothing was changed. The error was logged.",
            icon=":material/error:",
        )
        return None
    st.cache_data.clear()
    if success:  # often names what the user typed: escaped
        queue_toast(success)
    return result


def queue_toast(message: str) -> None:
    """A success message for the page's next run (escaped: it often names user text)."""
    st.session_state.setdefault(_TOASTS, []).append(md_escape(message))


# Success messages waiting for a run that completes. Not st.toast() inside run_action: every
# caller follows a change with st.rerun() (often from a dialog), and a toast sent by a run
# that ends in st.rerun() can vanish unseen. It does reach the browser, but as an element of
# the interrupted run; when the rerun finishes before the browser has mounted that element (a
# quick rerun, a busy browser), the browser drops it with the rest of the old run's elements
# and the toast never shows. The browser test's "Saved <member>" check after the member
# dialog's Save missed it about once in 20 runs, and 10 times in 14 with the browser's CPU
# slowed 6x. Sent by the page's next run, which completes, the toast is always shown.
_TOASTS = "_ui_pending_toasts"


def show_toasts() -> None:
    """Show the queued success messages as toasts (called at the start of every page run)."""
    pending = st.session_state.get(_TOASTS)
    while pending:
        # st.toast may stop this run for a rerun before sending: remove the message after.
        st.toast(pending[0], icon=":material/check_circle:")
        pending.pop(0)


def viewer_timezone() -> ZoneInfo:
    name = None
    try:
        name = st.context.timezone
    except Exception:  # noqa: BLE001  (no browser context, e.g. AppTest)
        name = None
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(value: datetime | None) -> datetime | None:
    """A stored UTC datetime in the viewer's timezone (naive, for tables and charts)."""
    if value is None:
        return None
    return value.astimezone(viewer_timezone()).replace(tzinfo=None)


def fmt_datetime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "—" if value is None else local_time(value).strftime(fmt)


def fmt_micros(micros: int | None, places: int = 2) -> str:
    """Micro-dollars as dollars, exact (`kilo.money.usd`), e.g. 1_234_560_000 -> $1,234.56."""
    return "—" if micros is None else money.usd(micros, places)


def fmt_cents(cents: int | None) -> str:
    return "—" if cents is None else money.usd_cents(cents)


def dollars_to_micros(text: str) -> int:
    """Parse a dollar amount typed by a user into micro-dollars, exactly (`kilo.money`)."""
    return money.parse_usd(text)


def public_base_url() -> str:
    """Where members reach the dashboard: KILO_PUBLIC_URL, else the URL this browser used."""
    import os
    from urllib.parse import urlsplit

    configured = os.environ.get("KILO_PUBLIC_URL")
    if configured:
        return configured.rstrip("/")
    try:
        parts = urlsplit(st.context.url or "")
    except Exception:  # noqa: BLE001
        parts = None
    if parts and parts.scheme and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return "http://localhost:8501"


# ---- dialogs that survive full reruns -----------------------------------------------
# A dialog opened only inside `if st.button(...)` vanishes on the next full rerun (and under
# AppTest, which has no fragment reruns). Keep which dialog is open in session state instead:
# buttons call open_dialog via on_click, the page calls the dialog named by opened_dialog(),
# and dialogs pass `on_dismiss=ui.close_dialog` and call close_dialog() after success.

_DIALOG = "_ui_open_dialog"


def open_dialog(name: str, payload: Any = None) -> None:
    st.session_state[_DIALOG] = (name, payload)


def close_dialog() -> None:
    st.session_state.pop(_DIALOG, None)


def opened_dialog() -> tuple[str | None, Any]:
    return st.session_state.get(_DIALOG, (None, None))


def fmt_count(n: int) -> str:
    """A large count short enough for a metric card: 14,790 · 112.6M · 3.2B."""
    for limit, suffix in ((1_000_000_000, "B"), (1_000_000, "M")):
        if abs(n) >= limit:
            return f"{n / limit:,.1f}{suffix}"
    return f"{n:,}"


def count_column(width: int | str | None = None) -> Any:
    """A table column of counts (tokens, requests) with thousands separators: 13,402,118."""
    return st.column_config.NumberColumn(format="localized", width=width)


def plural(n: int, noun: str, plural_form: str | None = None) -> str:
    """A count with its noun in the right number: "1 model", "2 models", "0 models"."""
    return f"{n:,} {noun if n == 1 else plural_form or noun + 's'}"


def chart(build: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
    """Draw `build(*args, **kwargs)` (a `kilo.charts` builder) full width, as `st.altair_chart`
    would, from a spec cached on the builder and its arguments (`_chart_spec`)."""
    spec = _chart_spec(build.__module__, build.__qualname__, args, kwargs)
    st.vega_lite_chart(spec=spec, width="stretch")


@st.cache_data(ttl=CACHE_TTL, show_spinner=False, max_entries=256)
def _chart_spec(module: str, name: str, args: tuple, kwargs: dict) -> dict:
    """The Vega-Lite spec `st.altair_chart` would send for the builder's chart (its data as
    DataFrames, which Streamlit sends as Arrow), without checking it against the Vega-Lite
    JSON schema.

    Building an Altair chart and converting it (`to_dict()`, which validates the whole spec)
    costs 30-80 ms a chart: over a second for the 15 charts of the Usage tab on every run.
    Cached on the builder's arguments (the data frames hashed by content), a rerun that does
    not change a chart's data reuses its spec; the spec depends on nothing else, so no
    actor's data can reach another's chart. Validation is skipped: the builders are fixed
    code and their tests (`tests/services/test_*chart*.py`,
    `tests/pages/test_chart_specs.py`) convert every chart with validation.
    """
    import importlib

    from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec

    chart = getattr(importlib.import_module(module), name)(*args, **kwargs)
    object.__setattr__(chart, "to_dict", partial(type(chart).to_dict, chart, validate=False))
    return _convert_altair_to_vega_lite_spec(chart)
