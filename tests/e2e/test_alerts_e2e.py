"""Alerts in headless Chromium on the real server (with its background alerts runner): an
owner sets a team budget, adds a signed webhook (a real HTTP receiver in this process), sends
a test alert, sees it delivered in the history; screenshot of the Alerts section."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.e2e.app_utils import (
    assert_healthy,
    choose,
    rendered,
    set_team_budget,
    settle_shot,
    sign_in,
    toast,
    wait_idle,
)
from tests.e2e.conftest import dashboard
from tests.webhook_receiver import WebhookReceiver, receiver_verifies

pytestmark = pytest.mark.e2e
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    workdir = tmp_path_factory.mktemp("alerts_e2e")
    with dashboard(workdir) as url:
        yield url, workdir / "kilo.db"


def test_owner_adds_a_webhook_sends_a_test_alert_and_sees_it_delivered(site, browser):
    url, db_path = site
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    sign_in(page, url, "owner")
    page.get_by_role("heading", name="Acme Robotics").wait_for(timeout=90_000)
    rendered(page, ["stMetricValue", "stDataFrame", "stProgress"])

    set_team_budget(page, "Robotics", "250")

    with WebhookReceiver() as hook:
        page.get_by_role("heading", name="Alerts").scroll_into_view_if_needed()
        page.get_by_text("Add a channel").click()
        page.locator(".st-key-org_alert_kind").get_by_text("Signed JSON webhook").click()
        wait_idle(page)
        page.locator(".st-key-org_alert_name input").fill("Ops hook")
        page.locator(".st-key-org_alert_name input").press("Enter")
        page.locator(".st-key-org_alert_target input").fill(hook.url("/kilo"))
        page.locator(".st-key-org_alert_target input").press("Enter")
        wait_idle(page)
        page.locator(".st-key-org_alert_add button").click()
        toast(page, "Added the channel Ops hook")
        secret_block = page.locator("[data-testid=stCode]").filter(has_text="whsec_").first
        secret_block.wait_for(timeout=60_000)
        secret = secret_block.inner_text().strip()
        assert secret.startswith("whsec_")

        choose(page, page.locator(".st-key-org_alert_channel_pick"), "Ops hook")
        page.locator(".st-key-org_alert_test button").click()
        toast(page, "Test alert sent to Ops hook")
        received = [r for r in hook.wait_for(1) if r.json()["rule"] == "test"]
        assert len(received) == 1
        assert receiver_verifies(secret, received[0].headers["X-Kilo-Signature"], received[0].body)
    assert_healthy(page)

    engine = create_engine(f"sqlite:///{db_path}")
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.rule, d.status FROM alert a JOIN alertdelivery d ON d.alert_id = a.id "
                "WHERE a.rule = 'test'"
            )
        ).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("test", "sent")]

    page.get_by_text("Alert history").scroll_into_view_if_needed()
    settle_shot(page, "organization_alerts_page")  # waits until the tables have drawn
    DOCS.mkdir(parents=True, exist_ok=True)
    page.locator(".st-key-org_alerts").screenshot(path=str(DOCS / "organization_alerts.png"))
    page.close()
