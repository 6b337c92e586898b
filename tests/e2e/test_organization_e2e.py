"""The Organization tab in headless Chromium: signing in through the real page, and a success
toast that must show even on a slow browser."""

import pytest

from tests.e2e.app_utils import ARTIFACTS, choose, dialog, rendered, settle_shot, sign_in, toast

pytestmark = pytest.mark.e2e
COLLEAGUE = "hannah.kim@acme-robotics.example"  # a demo member


def test_owner_signs_in_and_sees_the_organization_tab(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    sign_in(page, server, "owner")
    page.get_by_role("heading", name="Acme Robotics").wait_for()
    rendered(page, ["stMetricValue", "stDataFrame"])
    # Not "organization": that is the journey's (taller) screenshot in the README.
    settle_shot(page, "organization_signed_in")
    labels = page.locator("[data-testid=stMetricLabel]").all_inner_texts()
    assert [label.strip() for label in labels][:2] == ["Credit balance", "Seats used"]
    assert page.locator("[data-testid=stAlert]").filter(has_text="went wrong").count() == 0
    assert page.locator("[data-testid=stException]").count() == 0
    page.close()


def test_the_member_table_fits_1440_px(server, browser):
    """Every column of the Members table shows at 1440 px, without scrolling sideways."""
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    sign_in(page, server, "owner")
    page.get_by_role("heading", name="Acme Robotics").wait_for(timeout=90_000)
    rendered(page, ["stMetricValue", "stDataFrame"])
    table = page.locator("[data-testid=stDataFrame]").first  # the Members table
    table.scroll_into_view_if_needed()
    settle_shot(page, "organization_members_1440")
    table.screenshot(path=str(ARTIFACTS / "organization-members-1440.png"))
    scroll_width, client_width = table.locator(".dvn-scroller").evaluate(
        "(el) => [el.scrollWidth, el.clientWidth]"
    )
    assert scroll_width <= client_width, (scroll_width, client_width)
    page.close()


def test_the_saved_toast_shows_on_a_slow_browser(server, browser):
    """The member dialog's Save ends in st.rerun(). A toast sent by the dialog's own run was
    dropped with that run's elements when the page's rerun finished before the browser had
    mounted it: with the browser's CPU slowed 6x, 10 of 14 saves showed no toast (and now
    and then the journey missed it on a busy machine). `ui.show_toasts` sends it from the
    rerun, which completes."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    sign_in(page, server, "owner")
    page.get_by_role("heading", name="Acme Robotics").wait_for(timeout=90_000)
    rendered(page, ["stMetricValue", "stDataFrame"])
    # 4x: slow enough to lose the old toast now and then, not so slow that a busy CI
    # machine (two test workers, other servers) times the page out.
    ctx.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": 4})
    choose(page, page.locator(".st-key-org_member_pick"), COLLEAGUE)  # stays picked
    for role in ("admin", "member", "admin"):
        page.locator(".st-key-org_member_edit button").click()
        d = dialog(page)
        choose(page, d.locator(".st-key-org_edit_role"), role)
        d.locator(".st-key-org_edit_save button").click()
        toast(page, f"Saved {COLLEAGUE}")
        d.wait_for(state="detached", timeout=60_000)
    ctx.close()
