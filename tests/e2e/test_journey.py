"""The whole product as its users meet it: one journey in headless Chromium.

As the owner: every tab (screenshot each), invite a member, accept as them in a second
browser context and sign in, change a role, disable a model, create a custom mode, buy demo
credits, download an invoice PDF, find each of those actions in the audit log. Then as a
plain member: no admin tabs in the sidebar, and their URLs refuse instead of showing data.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

from playwright.sync_api import expect

from tests.e2e.conftest import shot, sign_in, wait_idle

VIEWPORT = {"width": 1400, "height": 1600}  # tall: the main area scrolls inside itself
INVITEE = "journey.tester@acme.example"
MODEL = "ibm-granite/granite-4.1-8b"
MODE_SLUG = "journey-reviewer"
TABS = [  # (sidebar link, page heading, screenshot name, what shows the tab has rendered)
    ("Organization", "Acme Robotics", "organization", ["stMetricValue", "stDataFrame"]),
    ("Usage", "Usage", "usage", ["stMetricValue", "stVegaLiteChart"]),
    ("Model Access", "Model Access", "model_access", ["stDataFrame"]),
    ("Custom Modes", "Custom Modes", "custom_modes", ["text=Built-in modes"]),
    ("Audit Logs", "Audit Logs", "audit_logs", ["stMetricValue", "stVegaLiteChart", "stDataFrame"]),
    ("Invoices", "Invoices & billing", "invoices", ["stMetricValue", "stDataFrame"]),
]
HEADINGS = {t[0]: t[1] for t in TABS}
JOURNEY_ACTIONS = [
    "organization.member.invite",
    "organization.member.accept_invitation",
    "organization.member.change_role",
    "organization.model_access.change",
    "organization.mode.create",
    "billing.credits.purchase",
]
REFUSAL = "You do not have access to this page"


def assert_healthy(page) -> None:  # noqa: ANN001
    exc = page.locator("[data-testid=stException]")
    assert exc.count() == 0, f"{page.url}: {exc.all_inner_texts()}"
    errors = page.locator("[data-testid=stAlertContentError]")
    assert errors.count() == 0, f"{page.url}: {errors.all_inner_texts()}"


def rendered(page, testids: list[str]) -> None:  # noqa: ANN001
    wait_idle(page)
    for testid in testids:
        what = testid if testid.startswith("text=") else f"[data-testid={testid}]"
        page.locator(what).first.wait_for(timeout=90_000)
    wait_idle(page)


def open_tab(page, title: str, testids: list[str]) -> None:  # noqa: ANN001
    page.locator("[data-testid=stSidebar]").get_by_role("link", name=title, exact=True).click()
    page.get_by_role("heading", name=HEADINGS[title], exact=True).first.wait_for(timeout=90_000)
    rendered(page, testids)


def choose(page, widget, text: str) -> None:  # noqa: ANN001
    """Pick `text` in a Streamlit selectbox/multiselect: click, type, click the option."""
    widget.locator("input").first.click()
    page.keyboard.type(text)
    page.get_by_role("option").filter(has_text=text).first.click()
    wait_idle(page)
    if widget.locator("[data-testid=stMultiSelect]").count():
        widget.get_by_text(text).first.wait_for(timeout=60_000)  # the choice took
        page.keyboard.press("Escape")
        wait_idle(page)
    else:  # a selectbox shows its choice as the input's value
        box = widget.locator("input").first
        for _ in range(120):
            if text in (box.input_value() or "") or text in widget.inner_text():
                break
            page.wait_for_timeout(500)
        else:
            raise AssertionError(f"{text!r} was not chosen: {box.input_value()!r}")


def dialog(page):  # noqa: ANN001, ANN201
    d = page.get_by_role("dialog")
    d.wait_for(timeout=60_000)
    return d


def toast_or_text(page, text: str) -> None:  # noqa: ANN001
    page.get_by_text(text).first.wait_for(timeout=60_000)


def settle_shot(page, name: str) -> None:  # noqa: ANN001
    page.wait_for_timeout(1500)  # let canvases (data grid, Vega) paint
    assert shot(page, name).stat().st_size > 10_000


def test_owner_and_member_journey(server, browser):
    started = datetime.now(UTC).replace(microsecond=0)
    ctx = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = ctx.new_page()
    sign_in(page, server, "owner")
    page.get_by_role("heading", name="Acme Robotics").wait_for(timeout=90_000)

    # ---- every tab renders, no errors; a screenshot each ----------------------------------
    for title, _, name, testids in TABS:
        open_tab(page, title, testids)
        assert_healthy(page)
        settle_shot(page, name)

    # ---- invite a member; accept in a second context; sign in as them ---------------------
    open_tab(page, "Organization", ["stMetricValue", "stDataFrame"])
    page.locator(".st-key-org_invite_open button").click()
    d = dialog(page)
    d.get_by_label("Email").fill(INVITEE)
    d.get_by_role("button", name="Create invitation").click()
    code = page.locator("[data-testid=stCode]").filter(has_text="accept_invite?token=")
    code.wait_for(timeout=60_000)
    link = code.inner_text().strip()
    assert link.startswith(server) and "token=" in link, link

    guest_ctx = browser.new_context(viewport=VIEWPORT)
    guest = guest_ctx.new_page()
    guest.goto(link, wait_until="networkidle")
    guest.get_by_text(INVITEE).first.wait_for(timeout=90_000)
    wait_idle(guest)
    guest.get_by_label("Your name").fill("Journey Tester")
    pw = guest.locator("input[type=password]")
    pw.nth(0).fill("journey-pass-1")
    pw.nth(1).fill("journey-pass-1")
    guest.get_by_role("button", name="Join").click()
    guest.get_by_text("Welcome!").wait_for(timeout=60_000)
    assert_healthy(guest)
    guest_ctx.close()

    newcomer_ctx = browser.new_context(viewport=VIEWPORT)
    newcomer = newcomer_ctx.new_page()
    sign_in(newcomer, server, INVITEE, "journey-pass-1")
    sidebar = newcomer.locator("[data-testid=stSidebar]")
    sidebar.get_by_text(INVITEE).wait_for()
    sidebar.get_by_text("Role: member").wait_for()
    newcomer_ctx.close()

    # ---- change the newcomer's role to admin ----------------------------------------------
    page.reload(wait_until="networkidle")
    rendered(page, ["stMetricValue", "stDataFrame"])
    choose(page, page.locator(".st-key-org_member_pick"), INVITEE)
    page.locator(".st-key-org_member_edit button").click()
    d = dialog(page)
    choose(page, d.locator(".st-key-org_edit_role"), "admin")
    d.locator(".st-key-org_edit_save button").click()
    toast_or_text(page, f"Saved {INVITEE}")
    d.wait_for(state="detached", timeout=60_000)
    assert_healthy(page)

    # ---- disable a model ------------------------------------------------------------------
    open_tab(page, "Model Access", ["stDataFrame"])
    page.get_by_role("tab", name="Models").click()
    picker = page.locator(".st-key-model_access_m_pick")
    picker.wait_for()
    choose(page, picker, MODEL)
    page.locator(".st-key-model_access_m_disable button").click()
    d = dialog(page)
    d.get_by_text("Disable models (1)").wait_for()
    d.locator(".st-key-model_access_confirm_apply button").click()
    d.wait_for(state="detached", timeout=60_000)
    assert_healthy(page)

    # ---- create a custom mode -------------------------------------------------------------
    open_tab(page, "Custom Modes", ["text=Built-in modes"])
    page.locator(".st-key-custom_modes_new button").click()
    d = dialog(page)
    d.locator(".st-key-custom_modes_form_new_slug input").fill(MODE_SLUG)
    d.locator(".st-key-custom_modes_form_new_name input").fill("Journey Reviewer")
    d.locator(".st-key-custom_modes_form_new_role textarea").fill(
        "You review pull requests for clarity and tests."
    )
    d.locator(".st-key-custom_modes_form_new_desc input").fill("Reviews changes")
    d.locator(".st-key-custom_modes_form_new_desc input").press("Tab")
    wait_idle(page)
    d.locator(".st-key-custom_modes_form_save button").click()
    d.wait_for(state="detached", timeout=60_000)
    page.get_by_text(MODE_SLUG).first.wait_for(timeout=60_000)
    assert_healthy(page)

    # ---- buy credits (demo) and download an invoice PDF -----------------------------------
    open_tab(page, "Invoices", ["stMetricValue", "stDataFrame"])
    page.locator(".st-key-inv_buy_50 button").click()
    d = dialog(page)
    d.locator(".st-key-inv_buy_confirm button").click()
    d.wait_for(state="detached", timeout=60_000)
    toast_or_text(page, "Added $50.00 of credits (demo)")
    rendered(page, ["stDataFrame"])
    pick = page.locator(".st-key-inv_pdf_pick")
    # The new invoice is picked (not the choice the browser held before the purchase).
    expect(pick.locator("input").first).to_have_value(
        re.compile(r"Credit top-up · \$50\.00 · paid"), timeout=30_000
    )
    with page.expect_download(timeout=60_000) as dl:
        page.locator(".st-key-inv_pdf_download button").click()
    pdf = dl.value
    with open(pdf.path(), "rb") as f:
        assert f.read(5) == b"%PDF-"
    assert pdf.suggested_filename.endswith(".pdf")
    assert_healthy(page)

    # ---- the audit log holds each of those actions ----------------------------------------
    open_tab(page, "Audit Logs", ["stMetricValue", "stDataFrame"])
    actions = page.locator(".st-key-audit_logs_actions")
    for action in JOURNEY_ACTIONS:
        choose(page, actions, action)
    for action in JOURNEY_ACTIONS:
        actions.get_by_text(action, exact=True).wait_for()
    rendered(page, ["stMetricValue", "stDataFrame"])
    total = int(page.locator("[data-testid=stMetricValue]").first.inner_text().replace(",", ""))
    assert total >= len(JOURNEY_ACTIONS)
    with page.expect_download(timeout=60_000) as dl:
        page.locator(".st-key-audit_logs_export_csv button").click()
    with open(dl.value.path(), encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(io.StringIO(f.read())))
    assert {r["action"] for r in rows} <= set(JOURNEY_ACTIONS), "the filter let others through"
    found = {}
    for r in rows:
        when = datetime.fromisoformat(r["time_utc"])
        if when >= started:
            found.setdefault(r["action"], r)
    assert set(found) == set(JOURNEY_ACTIONS), sorted(found)
    assert_healthy(page)
    ctx.close()

    # ---- dark theme -----------------------------------------------------------------------
    dark = browser.new_context(viewport=VIEWPORT, color_scheme="dark")
    dpage = dark.new_page()
    sign_in(dpage, server, "owner")
    for title, _, name, testids in TABS[:2]:
        open_tab(dpage, title, testids)
        assert_healthy(dpage)
        settle_shot(dpage, f"{name}_dark")
    dark.close()

    # ---- a plain member: no admin tabs, and their URLs refuse -----------------------------
    mctx = browser.new_context(viewport=VIEWPORT)
    mpage = mctx.new_page()
    sign_in(mpage, server, "member")
    sidebar = mpage.locator("[data-testid=stSidebar]")
    sidebar.get_by_role("link", name="Usage").wait_for()
    links = sidebar.get_by_role("link").all_inner_texts()
    assert not any("Audit Logs" in t or "Invoices" in t for t in links), links
    for path in ("audit_logs", "invoices"):
        mpage.goto(f"{server}/{path}", wait_until="networkidle")
        mpage.get_by_text(REFUSAL).first.wait_for(timeout=90_000)
        wait_idle(mpage)
        assert mpage.locator("[data-testid=stDataFrame]").count() == 0
        assert mpage.locator("[data-testid=stMetricValue]").count() == 0
        assert mpage.locator("[data-testid=stVegaLiteChart]").count() == 0
    mctx.close()
