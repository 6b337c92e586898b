"""Sign in through the real page in headless Chromium and capture the Organization tab."""

from tests.e2e.conftest import shot, sign_in, wait_idle


def test_owner_signs_in_and_sees_the_organization_tab(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    sign_in(page, server, "owner")
    page.get_by_role("heading", name="Acme Robotics").wait_for()
    wait_idle(page)
    page.locator("[data-testid=stMetricValue]").first.wait_for()
    page.locator("[data-testid=stDataFrame]").first.wait_for()
    page.wait_for_timeout(1500)  # let the data grid paint its canvas
    assert shot(page, "organization").stat().st_size > 10_000
    labels = page.locator("[data-testid=stMetricLabel]").all_inner_texts()
    assert [label.strip() for label in labels][:2] == ["Credit balance", "Seats used"]
    assert page.locator("[data-testid=stAlert]").filter(has_text="went wrong").count() == 0
    assert page.locator("[data-testid=stException]").count() == 0
    page.close()
