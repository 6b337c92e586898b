"""What the browser tests do with the app: sign in, wait for Streamlit's runs, pick options,
open dialogs and tabs, check a tab is healthy, take screenshots.

Waits are on the app's own state, never on the clock: Streamlit writes its run state on the
root element (`[data-testid=stApp]`, attribute `data-test-script-state`: `running`,
`rerunRequested`, `notRunning`), and the tests wait for it, or for the element, toast or
test id an action must produce. (The status widget is no signal: in this app it did not
appear at all while scripts ran, so waiting for it to go away waited for nothing.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TIMEOUT = 60_000
SLOW = 90_000  # the first render of a tab on a shared 2-core machine
APP = "[data-testid=stApp]"
IDLE = f"{APP}[data-test-script-state=notRunning]"

# Counts the app's finished runs (transitions into `notRunning`) from the moment it is
# installed; returns the count. Installed again after every page load (it lives in the page).
_WATCH_RUNS = """() => {
  if (!window.__kiloRuns) {
    const runs = (window.__kiloRuns = { finished: 0 });
    const attr = 'data-test-script-state';
    new MutationObserver((records) => {
      for (const r of records) {
        if (r.attributeName !== attr) continue;
        if (r.oldValue !== 'notRunning' && r.target.getAttribute(attr) === 'notRunning') {
          runs.finished += 1;
        }
      }
    }).observe(document, {
      subtree: true, attributes: true, attributeFilter: [attr], attributeOldValue: true,
    });
  }
  return window.__kiloRuns.finished;
}"""
_RUN_FINISHED = f"""(before) => window.__kiloRuns.finished > before
  && !!document.querySelector('{IDLE}')"""


def wait_idle(page: Page, timeout: float = TIMEOUT) -> None:
    """Wait until the app is not running a script (its root element says `notRunning`)."""
    page.locator(IDLE).wait_for(state="attached", timeout=timeout)


@contextmanager
def app_run(page: Page, timeout: float = TIMEOUT) -> Iterator[None]:
    """Wait until the run that the block's interaction starts has finished.

    Counting finished runs, not looking at the state once: right after a click the root
    element can still say `notRunning` (the run was requested, the page not yet redrawn).
    Only for interactions that do start a run. A dialog's button that ends in `st.rerun()`
    finishes two runs (the dialog's, then the page's): wait for what it produces instead.
    """
    wait_idle(page, timeout)
    before = page.evaluate(_WATCH_RUNS)
    yield
    page.wait_for_function(_RUN_FINISHED, arg=before, timeout=timeout)


def sign_in(page: Page, url: str, username: str, password: str = "kilo-demo") -> None:
    page.goto(url, wait_until="networkidle")
    signed_in = page.get_by_role("button", name="Sign out")
    login = page.get_by_role("button", name="Sign in")
    for _ in range(4):
        signed_in.or_(login).first.wait_for(timeout=SLOW)
        if signed_in.is_visible():
            return wait_for_session_cookie(page)
        wait_idle(page)
        page.get_by_label("Username").fill(username)
        page.locator("input[type=password]").fill(password)
        login.click()
        try:
            signed_in.wait_for(timeout=20_000)
            return wait_for_session_cookie(page)
        except Exception:  # noqa: BLE001
            continue
    signed_in.wait_for(timeout=5_000)
    wait_for_session_cookie(page)


def wait_for_session_cookie(page: Page, timeout: float = 10_000) -> None:
    """The session cookie reaches the browser through a component shortly after sign-in;
    a test that opens another URL (a new page load) needs it there first."""
    page.wait_for_function(
        "() => document.cookie.split('; ').some((c) => c.startsWith('kilo_session='))",
        timeout=timeout,
    )


def assert_healthy(page: Page) -> None:
    exc = page.locator("[data-testid=stException]")
    assert exc.count() == 0, f"{page.url}: {exc.all_inner_texts()}"
    errors = page.locator("[data-testid=stAlertContentError]")
    assert errors.count() == 0, f"{page.url}: {errors.all_inner_texts()}"


def rendered(page: Page, testids: list[str]) -> None:
    """Wait for each test id (or `text=...`) to show, then for the run to finish."""
    for testid in testids:
        what = testid if testid.startswith("text=") else f"[data-testid={testid}]"
        page.locator(what).first.wait_for(timeout=SLOW)
    wait_idle(page, SLOW)


def open_tab(page: Page, title: str, heading: str, testids: list[str]) -> None:
    """Click the tab's sidebar link; wait for its heading and for `testids`."""
    page.locator("[data-testid=stSidebar]").get_by_role("link", name=title, exact=True).click()
    page.get_by_role("heading", name=heading, exact=True).first.wait_for(timeout=SLOW)
    rendered(page, testids)


def choose(page: Page, widget: Locator, text: str) -> None:
    """Pick `text` in a Streamlit selectbox/multiselect: click, type, click the option, and
    wait until the widget shows the choice and the app is idle. (Not `app_run`: inside a
    dialog the choice reruns only the dialog's fragment, which need not change the root
    element's run state, so counting finished runs could wait for a run that never shows.)"""
    wait_idle(page)
    widget.locator("input").first.click()
    page.keyboard.type(text)
    page.get_by_role("option").filter(has_text=text).first.click()
    if widget.locator("[data-testid=stMultiSelect]").count():
        widget.get_by_text(text).first.wait_for(timeout=TIMEOUT)  # the choice took
        page.keyboard.press("Escape")  # closes the option list; no run
    else:  # a selectbox shows its choice as the input's value
        expect(widget.locator("input").first).to_have_value(
            re.compile(re.escape(text)), timeout=TIMEOUT
        )
    wait_idle(page)


def dialog(page: Page) -> Locator:
    d = page.get_by_role("dialog")
    d.wait_for(timeout=TIMEOUT)
    return d


def toast(page: Page, text: str) -> None:
    """Wait for a toast saying `text` (a toast shows for 4 seconds)."""
    page.locator("[data-testid=stToast]").filter(has_text=text).first.wait_for(timeout=TIMEOUT)


def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# Charts are SVG (Vega) and tables a canvas (the data grid), drawn after their elements
# appear. Waited for: every visible chart holds its marks and every visible table a sized
# canvas (tables and charts on tabs not shown are not drawn), then two animation frames. What
# the page does not say is when the grid has finished painting its canvas: a short pause
# remains for that.
PAINT_MS = 500
_DRAWN = """() => [...document.querySelectorAll(
    '[data-testid=stVegaLiteChart], [data-testid=stDataFrame]')]
  .filter((el) => el.getClientRects().length > 0)
  .every((el) => el.dataset.testid === 'stVegaLiteChart'
    ? !!el.querySelector('svg g[class*="mark-"]')
    : [...el.querySelectorAll('canvas')].some((c) => c.width > 0 && c.height > 0))"""
_TWO_FRAMES = """() => new Promise((done) =>
    requestAnimationFrame(() => requestAnimationFrame(() => done(true))))"""


def settle_shot(page: Page, name: str) -> Path:
    """Screenshot `name` once charts and tables have drawn; it must not be blank."""
    wait_idle(page)
    page.wait_for_function(_DRAWN, timeout=TIMEOUT)
    page.evaluate(_TWO_FRAMES)
    page.wait_for_timeout(PAINT_MS)  # the grid's canvas paint has no signal: see above
    path = shot(page, name)
    assert path.stat().st_size > 10_000
    return path


def set_team_budget(page: Page, team: str, amount: str, *, hard: bool = False) -> None:
    """On the Organization tab: a monthly budget of `amount` dollars for `team` (a hard one
    with `hard`), through "Set or remove a budget"; waits for the confirmation."""
    page.get_by_role("heading", name="Budgets").scroll_into_view_if_needed()
    page.get_by_text("Set or remove a budget").click()
    page.locator(".st-key-org_budget_scope").get_by_text("A team").click()
    choose(page, page.locator(".st-key-org_budget_team"), team)
    page.locator(".st-key-org_budget_amount input").fill(amount)
    page.locator(".st-key-org_budget_amount input").press("Enter")
    if hard:
        page.locator(".st-key-org_budget_hard label").click()
    page.locator(".st-key-org_budget_save button").click()
    toast(page, "Budget saved")
