"""Teams and budgets in headless Chromium on the real server (app.py on every run): the
Organization tab's budgets with their bars, setting a hard team budget, and the Usage tab's
Teams view; screenshots of both."""

import pytest

from tests.e2e.app_utils import (
    assert_healthy,
    open_tab,
    rendered,
    set_team_budget,
    settle_shot,
    sign_in,
)

pytestmark = pytest.mark.e2e


def test_owner_sets_a_team_budget_and_sees_the_teams_view(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    sign_in(page, server, "owner")
    page.get_by_role("heading", name="Acme Robotics").wait_for(timeout=90_000)
    rendered(page, ["stMetricValue", "stDataFrame", "stProgress"])
    set_team_budget(page, "Robotics", "1234.56", hard=True)
    page.get_by_text("$1,234.56 a month · hard").wait_for(timeout=60_000)
    assert_healthy(page)
    page.get_by_role("heading", name="Budgets").scroll_into_view_if_needed()
    settle_shot(page, "organization_budgets")

    page.set_viewport_size({"width": 1440, "height": 2300})  # the whole Teams view
    open_tab(page, "Usage", "Usage", ["stMetricValue", "stVegaLiteChart"])
    page.get_by_role("tab", name="Teams").click()  # built when opened: the click reruns
    page.get_by_role("heading", name="Spend by team").wait_for(timeout=60_000)
    assert_healthy(page)
    settle_shot(page, "usage_teams")
    page.close()
