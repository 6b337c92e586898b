"""Sessions in a real browser: sign-out really signs out, a copied cookie stops working,
and a foreign or forged cookie shows the sign-in form, never an error."""

import jwt
import pytest
from playwright.sync_api import expect

from tests.e2e.app_utils import shot, sign_in, wait_for_session_cookie, wait_idle

pytestmark = pytest.mark.e2e
COOKIE = "kilo_session"


def _sign_in_form(page) -> None:  # noqa: ANN001
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    # the signed-in frame is gone, not merely stale while the run finishes
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0, timeout=30_000)
    assert "encountered an error" not in page.content()


def _session_cookie(context) -> dict:  # noqa: ANN001
    wait_for_session_cookie(context.pages[0])
    return next(c for c in context.cookies() if c["name"] == COOKIE)


def test_sign_out_reload_new_tab_and_a_replayed_cookie_all_show_the_form(server, browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    sign_in(page, server, "owner")
    captured = _session_cookie(context)
    wait_idle(page)
    page.get_by_role("heading", name="Acme Robotics").wait_for(timeout=60_000)
    assert page.locator("[data-testid=stException]").count() == 0
    assert "encountered an error" not in page.content()
    # a reload and a new tab are still signed in (the cookie restores the session)
    page.reload(wait_until="networkidle")
    page.get_by_role("button", name="Sign out").wait_for(timeout=60_000)
    other = context.new_page()
    other.goto(server, wait_until="networkidle")
    other.get_by_role("button", name="Sign out").wait_for(timeout=60_000)
    other.close()

    page.get_by_role("button", name="Sign out").click()
    _sign_in_form(page)
    wait_idle(page)
    page.reload(wait_until="networkidle")
    _sign_in_form(page)
    tab = context.new_page()
    tab.goto(f"{server}/usage", wait_until="networkidle")
    _sign_in_form(tab)
    shot(tab, "signed_out_new_tab")
    context.close()

    # the cookie copied before sign-out, replayed in a fresh browser: no way in
    fresh = browser.new_context()
    fresh.add_cookies([{k: captured[k] for k in ("name", "value", "domain", "path")}])
    replay = fresh.new_page()
    replay.goto(server, wait_until="networkidle")
    _sign_in_form(replay)
    fresh.close()


@pytest.mark.parametrize(
    "value",
    [
        jwt.encode({"sid": "x" * 43, "exp": 4102444800}, "someone-elses-key-0123456789", "HS256"),
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzaWQiOiJ4In0.",  # alg: none
        "not a token at all",
    ],
    ids=["foreign-key", "alg-none", "garbage"],
)
def test_foreign_or_forged_cookie_shows_the_sign_in_form(server, browser, value):
    context = browser.new_context()
    host = server.split("//", 1)[1].split(":")[0]
    context.add_cookies([{"name": COOKIE, "value": value, "domain": host, "path": "/"}])
    page = context.new_page()
    page.goto(server, wait_until="networkidle")
    _sign_in_form(page)
    context.close()
