"""Pages draw charts through `ui.chart`, which caches each chart's spec and skips Altair's
schema validation when drawing (see `ui._chart_spec`). Here every chart the Usage and Audit
Logs tabs draw on the demo is converted once more, with validation: an invalid spec fails
this test instead of going unnoticed."""

from __future__ import annotations

import pytest

import ui
from kilo import charts
from tests.pages.helpers import each_tab, open_page


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    names: list[str] = []
    draw = ui.chart

    def checked(build, /, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        build(*args, **kwargs).to_dict(validate=True)  # raises on an invalid spec
        names.append(build.__name__)
        return draw(build, *args, **kwargs)

    monkeypatch.setattr(ui, "chart", checked)
    return names


def test_every_chart_of_usage_and_audit_logs_is_a_valid_spec(demo_url, drawn):
    at = open_page("owner", "pages/usage.py", timeout=120)
    for label in each_tab(at):  # only the open tab is built: open each
        assert not at.exception, (label, at.exception)
    at = open_page("owner", "pages/audit_logs.py", timeout=120)
    assert not at.exception, at.exception
    builders = {n for n in dir(charts) if n.startswith(("usage_", "audit_"))}
    builders = {n for n in builders if callable(getattr(charts, n))}
    assert builders <= set(drawn), builders - set(drawn)
    assert len(at.get("vega_lite_chart")) >= 1  # Audit Logs' chart is drawn


def test_a_chart_spec_follows_its_data(demo_url):
    """The cache is keyed by the data: other data, another spec (never a stale chart)."""
    import pandas as pd

    one = pd.DataFrame({"model_id": ["a/x"], "requests": [1], "cost_micros": [10]})
    two = pd.DataFrame({"model_id": ["a/y"], "requests": [2], "cost_micros": [20]})
    spec_one = ui._chart_spec(
        "kilo.charts", "usage_ranked_bars", (one,), {"category": "model_id", "measure": "requests"}
    )
    spec_two = ui._chart_spec(
        "kilo.charts", "usage_ranked_bars", (two,), {"category": "model_id", "measure": "requests"}
    )
    data_one = next(iter(spec_one["datasets"].values()))  # Arrow IPC bytes
    data_two = next(iter(spec_two["datasets"].values()))
    assert b"a/x" in data_one and b"a/y" not in data_one
    assert b"a/y" in data_two and b"a/x" not in data_two
