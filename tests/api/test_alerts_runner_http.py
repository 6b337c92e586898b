"""The server's own alerts runner: `streamlit run server.py` starts it from its lifespan and it
evaluates and delivers without anyone opening the dashboard or running a command."""

from __future__ import annotations

from pathlib import Path

import pytest

from kilo import alerts, budgets, db
from kilo.members import actor_for
from kilo.models import utcnow
from kilo.rollups.store import insert_events
from tests.e2e.conftest import dashboard
from tests.factories import create_member, create_org, usage_event
from tests.webhook_receiver import WebhookReceiver, receiver_verifies


def test_the_server_evaluates_and_delivers_alerts_in_the_background(
    tmp_path_factory: pytest.TempPathFactory,
):
    workdir: Path = tmp_path_factory.mktemp("alerts_runner")
    url = f"sqlite:///{workdir / 'kilo.db'}"
    with (
        WebhookReceiver() as hook,
        dashboard(workdir, KILO_DEMO="0", KILO_ALERTS_INTERVAL="1"),
    ):
        db.migrate(url)  # the server migrates too; this one waits for nothing
        with db.write_session(url) as s:
            org = create_org(s)
            owner = actor_for(create_member(s, org, "owner"))
            _, secret = alerts.create_channel(
                s, actor=owner, kind="webhook", name="Ops", target=hook.url()
            )
            budgets.set_budget(
                s, actor=owner, scope="organization", amount_micros=1_000_000, hard=False
            )
            insert_events(
                s,
                org_id=org.id,
                events=[usage_event(owner.id, utcnow(), cost_micros=600_000)],
            )
        got = hook.wait_for(1, timeout=60)
    db.get_engine(url).dispose()
    assert [r.json()["threshold"] for r in got] == ["50% of 1000000"]
    assert receiver_verifies(secret, got[0].headers["X-Kilo-Signature"], got[0].body)
