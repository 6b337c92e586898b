"""What an analyst sees at 1440 px (issue 20), in headless Chromium on the demo database:
day axes with one label per day, full model ids on charts and filter chips, the Usage and
Model Access tables, the Audit Logs' day chart and columns. Each view is screenshotted into
tests/e2e/artifacts (README's docs/screenshots/analyst-*.png come from there).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page

from tests.e2e.app_utils import (
    ARTIFACTS,
    app_run,
    assert_healthy,
    rendered,
    settle_shot,
    sign_in,
    wait_idle,
)

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("analyst")]

VIEWPORT = {"width": 1440, "height": 2300}  # tall: the main area scrolls inside itself
DAY_LABEL = re.compile(r"^\d\d [A-Z][a-z]{2}( \d{4})?$")
SONNET = "anthropic/claude-sonnet-4.5"
GEMINI = "google/gemini-3-flash-preview"


@pytest.fixture(scope="module")
def page(server: str, browser: Browser) -> Iterator[Page]:
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    sign_in(page, server, "owner")
    yield page
    ctx.close()


def open_url(page: Page, url: str, testids: list[str]) -> None:
    page.goto(url, wait_until="networkidle")
    rendered(page, testids)
    assert_healthy(page)


def open_inner_tab(page: Page, name: str, *, reruns: bool = True) -> None:
    """Click a tab of `st.tabs`. The Usage tab builds only the open tab: the click reruns
    the page (`reruns`), and the test waits for that run."""
    tab = page.get_by_role("tab", name=name, exact=True)
    if not reruns:
        tab.click()
        wait_idle(page)
        return
    with app_run(page):
        tab.click()


def chart(page: Page, n: int = 0) -> Locator:
    return page.locator("[data-testid=stVegaLiteChart]:visible").nth(n)


def svg_texts(chart: Locator) -> list[str]:
    chart.locator("svg g[class*='mark-']").first.wait_for()
    return [t.strip() for t in chart.locator("svg text").all_text_contents()]


def element_shot(page: Page, what: Locator, name: str) -> Path:
    """A screenshot of one part of the page (small files for the README)."""
    settle_shot(page, f"analyst-page-{name}")  # waits for charts and tables to draw
    path = ARTIFACTS / f"analyst-{name}.png"
    what.screenshot(path=str(path))
    return path


def test_usage_daily_trend_has_one_label_per_day_and_full_ids(page: Page, server: str):
    open_url(page, f"{server}/usage?period=billing", ["stMetricValue", "stVegaLiteChart"])
    open_inner_tab(page, "Time")
    page.wait_for_url(re.compile(r"[?&]tab=time\b"))  # the open tab is in the share link
    trend = chart(page, 0)
    labels = [t for t in svg_texts(trend) if DAY_LABEL.match(t)]
    assert labels and len(labels) == len(set(labels)), labels  # never a date twice
    assert not [t for t in svg_texts(trend) if re.search(r"\d(AM|PM)|\d\d:\d\d", t)]
    assert SONNET in svg_texts(trend)  # the legend shows the full id
    month = chart(page, 2)
    assert SONNET in svg_texts(month)
    element_shot(page, page.locator("[data-testid=stMainBlockContainer]"), "usage-time")


def test_usage_charts_show_full_model_ids_and_a_tall_mode_chart(page: Page, server: str):
    open_url(page, f"{server}/usage?period=30d", ["stMetricValue", "stVegaLiteChart"])
    latency = chart(page, 3)
    assert SONNET in svg_texts(latency)  # not "anthropic/claude…"
    element_shot(page, page.locator("[data-testid=stMainBlockContainer]"), "usage-models")
    open_inner_tab(page, "Modes & forecast")
    modes = chart(page, 0)
    assert modes.bounding_box()["height"] >= 150  # not squashed to 40 px
    element_shot(page, modes, "usage-spend-by-mode")


def test_usage_filter_chips_and_the_per_user_table_fit(page: Page, server: str):
    chosen = {
        SONNET: "models",
        GEMINI: "models",
        "amazon-bedrock": "providers",
        "anthropic": "providers",
    }
    query = "&".join(
        f"{dim}={','.join(v for v, d in chosen.items() if d == dim)}"
        for dim in ("models", "providers")
    )
    open_url(page, f"{server}/usage?period=7d&{query}", ["stMetricValue"])
    for value in chosen:
        chip = page.locator(f"[data-tag][aria-label='{value}']")
        cut = chip.evaluate(
            "(el) => [el, ...el.querySelectorAll('*')].some((e) => e.scrollWidth > e.clientWidth)"
        )
        assert not cut, f"the {value} chip is cut"
    for chips in page.locator("[data-testid=stMultiSelectTagsContainer]").all():
        assert chips.evaluate("(el) => el.scrollWidth <= el.clientWidth"), "chips need scrolling"
    element_shot(page, page.locator("[data-testid=stMainBlockContainer]"), "usage-filters")
    open_url(page, f"{server}/usage?period=30d", ["stMetricValue"])
    open_inner_tab(page, "Members")
    table = page.locator("[data-testid=stDataFrame]:visible").first
    table.scroll_into_view_if_needed()
    element_shot(page, table, "usage-per-user")


def test_member_drill_down_has_one_label_per_day(page: Page, server: str):
    # The Members tab from a shared link (the tab is in the URL).
    open_url(page, f"{server}/usage?period=7d&tab=members", ["stMetricValue", "stDataFrame"])
    page.get_by_role("heading", name="Drill down into a member").wait_for()
    charts = page.locator("[data-testid=stVegaLiteChart]:visible")
    drill_down = charts.nth(charts.count() - 1)  # the last chart of the Members tab
    drill_down.scroll_into_view_if_needed()
    labels = [t for t in svg_texts(drill_down) if DAY_LABEL.match(t)]
    assert len(labels) == 7 and len(set(labels)) == 7, labels  # one label for each day
    element_shot(page, drill_down, "usage-member-drill-down")


def test_model_access_models_table(page: Page, server: str):
    open_url(page, f"{server}/model_access", ["stDataFrame"])
    open_inner_tab(page, "Models", reruns=False)  # Model Access draws every tab
    table = page.locator("[data-testid=stDataFrame]:visible").first
    element_shot(page, table, "model-access-models")
    for key, value in (("min", "5"), ("max", "1")):
        box = page.locator(f".st-key-model_access_m_price_{key} input")
        box.fill(value)
        box.press("Enter")
        wait_idle(page)
    page.get_by_text("is above the maximum").first.wait_for()
    element_shot(
        page, page.locator("[data-testid=stMainBlockContainer]"), "model-access-price-range"
    )


def test_audit_logs_day_chart_and_columns(page: Page, server: str):
    open_url(page, f"{server}/audit_logs", ["stMetricValue", "stVegaLiteChart", "stDataFrame"])
    per_day = chart(page, 0)
    labels = [t for t in svg_texts(per_day) if DAY_LABEL.match(t)]
    assert labels and len(labels) == len(set(labels)), labels
    assert not [t for t in svg_texts(per_day) if re.search(r"\d(AM|PM)|\d\d:\d\d", t)]
    element_shot(page, page.locator("[data-testid=stMainBlockContainer]"), "audit-logs")
