"""Page speed the user feels: time-to-ready of every tab in headless Chromium.

    .venv/bin/python -m bench.page_speed              # 3 measurements of each, a fresh demo
    .venv/bin/python -m bench.page_speed --repeat 5

Starts `streamlit run server.py` on a fresh SQLite file seeded with the demo (the first run
seeds it: the bench waits for the sign-in form before measuring anything), drives headless
Debian Chromium (/usr/bin/chromium, KILO_CHROMIUM to change) at 1440 x 900 through
Playwright, signs in as `owner` and prints, for each measurement, the median and the
maximum of --repeat runs next to its target.

Measured:

- the sign-in form, from its URL in a new browser context (no cookie, no cache: a first
  visit);
- each tab (Organization, Usage, Model Access, Custom Modes, Audit Logs, Invoices), from a
  click on its sidebar link (coming from another tab) and from its URL (a new page load in
  the signed-in context: the session cookie, static files in the browser's cache);
- interactions: the Usage period (Current billing period <-> Last 7 days), the Model Access
  provider search, the Audit Logs search (each alternately set and cleared).

"Ready" is defined precisely as the first moment, polled on every animation frame after
the click, the Enter key or the navigation was issued, when all of these hold:

1. no script runs: Streamlit's root element (`[data-testid=stApp]`) says
   `data-test-script-state=notRunning`; for an interaction, moreover, a run finished since
   the action (a MutationObserver installed before the page's own scripts counts the
   transitions into `notRunning`; a run too quick to show `running` can escape it, so
   opening a tab relies on its title instead: no two tabs share one, and a new page load
   starts without any);
2. the expected content is visible in the main area: the tab's title (an h1: the
   organization's name on Organization), the sign-in form's "Sign in" button, or, for an
   interaction, the tab's title;
3. no element of an earlier run is left stale and no skeleton placeholder is shown;
4. every visible chart has drawn its marks and every visible table has a sized canvas.

Beside each, "drawing" is the median time from the end of the run to ready: the browser
drawing what the run sent (charts, tables), which no server change shortens.

Time is wall-clock from just before the action to that moment (Playwright's round trips
included, a few milliseconds). Targets on the 2-core machine: a tab <= 1.0 s from the
sidebar, <= 1.5 s from its URL; the sign-in form <= 1.5 s; an interaction <= 0.7 s. The
machine running it is shared: the bench prints the load average before and after.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gateway_bench import free_port, start_server  # noqa: E402

CHROMIUM = os.environ.get("KILO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TABS = [  # sidebar title, URL path, h1 (None: the organization's name, read after sign-in)
    ("Organization", "organization", None),
    ("Usage", "usage", "Usage"),
    ("Model Access", "model_access", "Model Access"),
    ("Custom Modes", "custom_modes", "Custom Modes"),
    ("Audit Logs", "audit_logs", "Audit Logs"),
    ("Invoices", "invoices", "Invoices & billing"),
]
SIGN_IN = "Sign-in form (URL, first visit)"
TARGET_SIDEBAR, TARGET_URL, TARGET_SIGN_IN, TARGET_INTERACTION = 1.0, 1.5, 1.5, 0.7
TIMEOUT = 120_000  # the first run seeds the demo
ACTION_TIMEOUT = 30_000

# Counts finished runs (transitions into notRunning) from the page's first byte.
WATCH = """(() => {
  if (window.__kiloRuns) return;
  const runs = (window.__kiloRuns = { finished: 0, firstRun: null });
  const attr = 'data-test-script-state';
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.attributeName !== attr) continue;
      if (runs.firstRun === null && r.target.getAttribute(attr) === 'running') {
        runs.firstRun = performance.now();  // ms since the navigation started
      }
      if (r.oldValue !== 'notRunning' && r.target.getAttribute(attr) === 'notRunning') {
        runs.finished += 1;
        runs.lastIdle = performance.now();
      }
    }
  }).observe(document, {
    subtree: true, attributes: true, attributeFilter: [attr], attributeOldValue: true,
  });
})();"""

READY = """([before, heading, button]) => {
  const runs = window.__kiloRuns;
  if (before >= 0 && (!runs || runs.finished <= before)) return false;
  if (!document.querySelector('[data-testid=stApp][data-test-script-state=notRunning]')) {
    return false;
  }
  const main = document.querySelector('[data-testid=stMain]');
  if (!main) return false;
  const visible = (el) => el.getClientRects().length > 0;
  if (heading !== null && ![...main.querySelectorAll('h1')].some(
      (h) => visible(h) && h.textContent.trim() === heading)) return false;
  if (button !== null && ![...main.querySelectorAll('button')].some(
      (b) => visible(b) && b.textContent.trim() === button)) return false;
  if (main.querySelector('[data-stale=true], [data-testid=stSkeleton]')) return false;
  const drawn = [...main.querySelectorAll(
      '[data-testid=stVegaLiteChart], [data-testid=stDataFrame]')]
    .filter(visible)
    .every((el) => el.dataset.testid === 'stVegaLiteChart'
      ? !!el.querySelector('svg g[class*="mark-"]')
      : [...el.querySelectorAll('canvas')].some((c) => c.width > 0 && c.height > 0));
  if (drawn) window.__kiloReadyAt = performance.now();
  return drawn;
}"""


def runs(page) -> int:  # noqa: ANN001
    return page.evaluate("() => window.__kiloRuns ? window.__kiloRuns.finished : 0")


def wait_ready(  # noqa: ANN001
    page, before: int, heading: str | None, button: str | None = None, timeout: float = TIMEOUT
) -> None:
    page.wait_for_function(READY, arg=[before, heading, button], polling="raf", timeout=timeout)


# Per measurement: seconds from the end of the last run to ready (the browser drawing what
# the run sent), when the run's end was seen after the action.
DRAWING: dict[str, list[float]] = {}


def note_drawing(page, label: str | None, start: float) -> None:  # noqa: ANN001
    idle, ready = page.evaluate("() => [window.__kiloRuns.lastIdle, window.__kiloReadyAt]")
    if label and idle is not None and ready is not None and idle >= start:
        DRAWING.setdefault(label, []).append((ready - idle) / 1000)


def timed(  # noqa: ANN001
    action,
    page,
    heading: str | None,
    button: str | None = None,
    *,
    count: bool = True,
    label: str | None = None,
) -> float:
    """Seconds from `action` to ready; infinity when not ready within ACTION_TIMEOUT (reported as
    a failure, the bench goes on)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]")
    before = runs(page) if count else -1
    start = page.evaluate("() => performance.now()")
    t = time.perf_counter()
    action()
    try:
        wait_ready(page, before, heading, button, ACTION_TIMEOUT)
    except PlaywrightTimeout:
        return math.inf
    elapsed = time.perf_counter() - t
    note_drawing(page, label, start)
    return elapsed


FIRST_RUNS: dict[str, list[float]] = {}  # URL loads: seconds until the first run started


def goto_timed(  # noqa: ANN001
    page, url: str, heading: str | None, button: str | None = None, label: str | None = None
) -> float:
    t = time.perf_counter()
    page.goto(url, wait_until="commit")
    wait_ready(page, -1, heading, button)
    elapsed = time.perf_counter() - t
    note_drawing(page, label, 0.0)
    first = page.evaluate("() => window.__kiloRuns.firstRun")
    if first is not None:
        FIRST_RUNS.setdefault(url, []).append(first / 1000)
    return elapsed


def new_context(browser):  # noqa: ANN001, ANN201
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    ctx.add_init_script(WATCH)
    return ctx


def sign_in(page, base: str) -> None:  # noqa: ANN001
    goto_timed(page, base, None, "Sign in")
    page.get_by_label("Username").fill("owner")
    page.locator("input[type=password]").fill("kilo-demo")
    before = runs(page)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for(timeout=TIMEOUT)
    wait_ready(page, before, None)
    page.wait_for_function(
        "() => document.cookie.split('; ').some((c) => c.startsWith('kilo_session='))",
        timeout=TIMEOUT,
    )


def click_link(page, title: str):  # noqa: ANN001, ANN201
    link = page.locator("[data-testid=stSidebar]").get_by_role("link", name=title, exact=True)
    return link.click


def type_enter(page, label: str, text: str):  # noqa: ANN001, ANN201
    """Type into a text input (no run yet); the returned action presses Enter (a run)."""
    box = page.get_by_role("textbox", name=label, exact=True)
    box.fill(text)
    return lambda: box.press("Enter")


def pick_period(page, label: str):  # noqa: ANN001, ANN201
    """Open the Period selectbox (no run); the returned action clicks `label` (a run)."""
    page.get_by_label("Period", exact=False).first.click()
    return page.get_by_role("option", name=label, exact=True).click


def report(name: str, times: list[float], target: float) -> None:
    med, worst = statistics.median(times), max(times)
    flag = "ok" if worst <= target else ("median ok" if med <= target else "SLOW")
    drawing = DRAWING.get(name)
    drawn = f"{statistics.median(drawing):7.2f}s" if drawing else f"{'-':>8}"
    print(f"{name:40} {med:7.2f}s {worst:7.2f}s {target:7.1f}s {drawn}  {flag}", flush=True)


class Rows(list):
    """The measurements, each printed as soon as it is complete."""

    def append(self, row: tuple[str, list[float], float]) -> None:
        super().append(row)
        report(*row)


def measure(base: str, repeat: int) -> list[tuple[str, list[float], float]]:
    from playwright.sync_api import sync_playwright

    rows = Rows()
    print(f"\n{'':40} {'median':>8} {'max':>8} {'target':>8} {'drawing':>8}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # Warm-up: the first run seeds the demo and loads the catalogue; not measured.
        ctx = new_context(browser)
        page = ctx.new_page()
        sign_in(page, base)
        org_name = page.locator("[data-testid=stMain] h1").first.inner_text().strip()
        tabs = [(t, path, h or org_name) for t, path, h in TABS]
        for title, _, heading in tabs:  # every page's first run (imports, caches) once
            timed(click_link(page, title), page, heading, count=False)
        FIRST_RUNS.clear()

        times = []
        for _ in range(repeat):
            fresh = new_context(browser)
            times.append(goto_timed(fresh.new_page(), base, None, "Sign in", SIGN_IN))
            fresh.close()
        rows.append((SIGN_IN, times, TARGET_SIGN_IN))
        FIRST_RUNS["sign-in"] = FIRST_RUNS.pop(base, [])

        sidebar: dict[str, list[float]] = {t: [] for t, _, _ in tabs}
        direct: dict[str, list[float]] = {t: [] for t, _, _ in tabs}
        for _ in range(repeat):
            for title, _, heading in tabs:
                # From the previous tab (the last one's predecessor is Invoices).
                sidebar[title].append(
                    timed(
                        click_link(page, title),
                        page,
                        heading,
                        count=False,
                        label=f"{title} (sidebar)",
                    )
                )
            for title, path, heading in tabs:
                direct[title].append(
                    goto_timed(page, f"{base}/{path}", heading, label=f"{title} (URL)")
                )
        for title, _, _ in tabs:
            rows.append((f"{title} (sidebar)", sidebar[title], TARGET_SIDEBAR))
        for title, _, _ in tabs:
            rows.append((f"{title} (URL)", direct[title], TARGET_URL))

        # Interactions, each on its tab freshly opened from the sidebar.
        timed(click_link(page, "Usage"), page, "Usage", count=False)
        times = []
        for i in range(repeat * 2):
            label = "Last 7 days" if i % 2 == 0 else "Current billing period"
            name = "Usage: change the period"
            times.append(timed(pick_period(page, label), page, "Usage", label=name))
        rows.append((name, times, TARGET_INTERACTION))

        timed(click_link(page, "Model Access"), page, "Model Access", count=False)
        times = []
        for i in range(repeat * 2):
            action = type_enter(page, "Search providers", "anthropic" if i % 2 == 0 else "")
            name = "Model Access: search providers"
            times.append(timed(action, page, "Model Access", label=name))
        rows.append((name, times, TARGET_INTERACTION))

        timed(click_link(page, "Audit Logs"), page, "Audit Logs", count=False)
        times = []
        for i in range(repeat * 2):
            action = type_enter(page, "Search", "member" if i % 2 == 0 else "")
            name = "Audit Logs: search"
            times.append(timed(action, page, "Audit Logs", label=name))
        rows.append((name, times, TARGET_INTERACTION))
        browser.close()
    return rows


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="measurements of each (3)")
    parser.add_argument("--port", type=int, default=0, help="server port (a free one)")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing (apt-get install chromium)")
    work = Path(tempfile.mkdtemp(prefix="kilo-page-speed-"))
    port = args.port or free_port()
    base = f"http://127.0.0.1:{port}"
    print(f"load average before: {loadavg()} ({os.cpu_count()} cores); logs in {work}")
    proc = start_server(f"sqlite:///{work / 'kilo.db'}", port, work / "streamlit.log")
    try:
        urllib.request.urlopen(f"{base}/_stcore/health", timeout=30)
        rows = measure(base, args.repeat)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(
        "drawing: median seconds from the end of the run to ready (the browser drawing what the"
        " run sent)"
    )
    if any(math.inf in times for _, times, _ in rows):
        print("(inf: not ready within 30 s)")
    print("\nURL loads: the browser loading Streamlit's frontend until the first run starts")
    for name, times in FIRST_RUNS.items():
        short = name.removeprefix(base + "/")
        print(f"  {short:38} {statistics.median(times):7.2f}s {max(times):7.2f}s")
    print(f"\nload average after: {loadavg()}")


if __name__ == "__main__":
    main()
