"""The Usage tab's live strip in headless Chromium: it refreshes itself. AppTest cannot show
this (it has no fragment reruns): a request recorded while the page stays untouched must
appear in the strip within a few refreshes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from kilo import usage
from kilo.db import write_session
from kilo.models import Member
from kilo.permissions import system_actor
from tests.e2e.app_utils import assert_healthy, open_tab, sign_in
from tests.e2e.conftest import dashboard

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The dashboard and the URL of its database (to record a request behind its back)."""
    workdir: Path = tmp_path_factory.mktemp("e2e_live")
    with dashboard(workdir) as url:
        yield url, f"sqlite:///{workdir / 'kilo.db'}"


def _strip_value(page, label: str) -> str:
    strip = page.locator(".st-key-usage_live_strip [data-testid=stMetric]")
    return strip.filter(has_text=label).locator("[data-testid=stMetricValue]").inner_text()


def test_the_live_strip_shows_a_new_request_without_any_click(live_server, browser):
    url, db_url = live_server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    sign_in(page, url, "owner")
    open_tab(page, "Usage", "Usage", ["stMetricValue"])
    page.locator(".st-key-usage_live_strip").wait_for()
    before = int(_strip_value(page, "Requests today").replace(",", ""))
    with write_session(db_url) as s:
        member = s.exec(select(Member).where(Member.username == "member")).one()
        usage.record_usage(
            s,
            actor=system_actor(member.org_id, "Gateway"),
            member_id=member.id,
            model_id="anthropic/claude-sonnet-4.5",
            provider="anthropic",
            input_tokens=10,
            output_tokens=20,
            cost_usd="0.000100",
            latency_ms=800,
            at=datetime.now(UTC),
            external_id="e2e-live-1",
        )
    # No interaction: the fragment's own reruns (every 5 s) must bring the new figure.
    page.wait_for_function(
        """([before]) => {
            const strip = document.querySelector('.st-key-usage_live_strip');
            const metric = [...(strip ? strip.querySelectorAll('[data-testid=stMetric]') : [])]
                .find((m) => m.innerText.includes('Requests today'));
            const value = metric && metric.querySelector('[data-testid=stMetricValue]');
            return value && parseInt(value.innerText.replace(/,/g, ''), 10) === before + 1;
        }""",
        arg=[before],
        timeout=30_000,
    )
    assert_healthy(page)
    page.close()
