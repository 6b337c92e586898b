"""Fixtures for every service test."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_stripe_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Billing runs in demo mode unless a test configures Stripe itself: STRIPE_* variables
    of the shell running the tests must not send purchases or seat changes to Stripe."""
    for name in [n for n in os.environ if n.startswith("STRIPE_")]:
        monkeypatch.delenv(name)
