"""One evaluation run, and the server's background runner.

`run_once` evaluates every organization's rules and weekly summaries (each organization in
its own transaction), then sends what is due. It is idempotent: run it as often as you like,
from as many processes as you like (`python -m kilo alerts run` from cron beside the server);
alerts fire once and deliveries are claimed before they are sent.

`start_background` starts one daemon thread per process that calls `run_once` every
KILO_ALERTS_INTERVAL seconds (default 60; 0 turns it off). The server starts it from its
lifespan; a failing run is logged and the next one tries again.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime

from sqlmodel import select

from kilo.alerts.deliver import deliver_due
from kilo.alerts.evaluate import evaluate_org
from kilo.alerts.summary import weekly_summaries
from kilo.db import read_session, write_session
from kilo.models import Organization, utcnow

log = logging.getLogger("kilo.alerts")

DEFAULT_INTERVAL = 60
MAX_INTERVAL = 86_400


def run_once(*, url: str | None = None, now: datetime | None = None) -> dict[str, int]:
    """Evaluate, then deliver; counts of new alerts, of delivery outcomes, and of the
    organizations whose evaluation failed (logged; the others go on)."""
    now = now or utcnow()
    with read_session(url) as session:
        org_ids = list(session.exec(select(Organization.id).order_by(Organization.id)).all())
    new = errors = 0
    for org_id in org_ids:
        try:
            with write_session(url) as session:
                new += len(evaluate_org(session, org_id=org_id, now=now))
                new += len(weekly_summaries(session, org_id=org_id, now=now))
        except Exception:  # one organization's failure must not stop the others' alerts
            log.exception("alerts: evaluating organization %s failed", org_id)
            errors += 1
    return {"alerts": new, **deliver_due(url=url, now=now), "errors": errors}


def interval_seconds() -> int:
    """KILO_ALERTS_INTERVAL: seconds between runs, 0 for none (ValueError when malformed)."""
    raw = os.environ.get("KILO_ALERTS_INTERVAL", "").strip()
    if not raw:
        return DEFAULT_INTERVAL
    value = int(raw)
    if not 0 <= value <= MAX_INTERVAL:
        raise ValueError(f"KILO_ALERTS_INTERVAL must be from 0 to {MAX_INTERVAL} seconds")
    return value


_lock = threading.Lock()
_thread: threading.Thread | None = None
_stop = threading.Event()
_interval = 0


def start_background() -> bool:
    """Start the background runner once in this process; whether it runs."""
    global _thread, _interval
    try:
        interval = interval_seconds()
    except ValueError as exc:
        log.error("alerts are not evaluated in the background: %s", exc)
        return False
    if interval == 0:
        log.info("alerts: background runner off (KILO_ALERTS_INTERVAL=0)")
        return False
    with _lock:
        if _thread is not None and _thread.is_alive():
            return True
        _stop.clear()
        _interval = interval
        _thread = threading.Thread(target=_loop, args=(interval,), name="kilo-alerts", daemon=True)
        _thread.start()
    log.info("alerts: background runner started, every %s s", interval)
    return True


def background_interval() -> int | None:
    """Seconds between the runs of this process's background runner; None when none runs
    (turned off, or a process that did not start one, e.g. `streamlit run app.py`)."""
    with _lock:
        return _interval if _thread is not None and _thread.is_alive() else None


def stop_background(timeout: float = 5.0) -> None:
    global _thread
    _stop.set()
    with _lock:
        thread, _thread = _thread, None
    if thread is not None:
        thread.join(timeout)


def _loop(interval: int) -> None:
    while not _stop.is_set():
        try:
            counts = run_once()
            if any(counts.values()):
                log.info("alerts run: %s", counts)
        except Exception:  # noqa: BLE001  (a bad run must not end the runner)
            log.exception("alerts run failed")
        _stop.wait(interval)
