"""One colour per model, provider and mode on every chart (kilo.chart_colors)."""

from __future__ import annotations

from datetime import date

import pandas as pd

from kilo import charts
from kilo.chart_colors import OTHER_COLOR, PALETTE, color_of, series_colors

MODELS = [
    "anthropic/claude-sonnet-4.5",
    "anthropic/claude-opus-4.5",
    "openai/gpt-5.4",
    "google/gemini-2.5-pro",
    "x-ai/grok-4.3",
]


def test_colours_depend_on_the_names_only_and_are_distinct():
    colors = series_colors(MODELS)
    assert series_colors(reversed(MODELS)) == colors  # order given does not matter
    assert series_colors(MODELS + MODELS) == colors
    assert len(set(colors.values())) == len(MODELS)
    assert set(colors.values()) <= set(PALETTE)
    assert OTHER_COLOR not in PALETTE
    many = series_colors(f"model-{i}" for i in range(len(PALETTE)))
    assert len(set(many.values())) == len(PALETTE)  # a full palette: no two alike


def test_other_is_always_the_same_grey():
    colors = series_colors([*MODELS, "Other (3)"])
    assert "Other (3)" not in colors
    for name in ("Other", "Other (3)", "Other (12)"):
        assert color_of(name, colors) == OTHER_COLOR


def _scale(spec: dict) -> dict[str, str]:
    scale = spec["encoding"]["color"]["scale"]
    return dict(zip(scale["domain"], scale["range"], strict=True))


def _usage(n: int) -> pd.DataFrame:
    names = [*MODELS, *(f"vendor/model-{i}" for i in range(n - len(MODELS)))]
    return pd.DataFrame(
        [
            {
                "day": date(2026, 12, 1 + d),
                "month": "2026-12",
                "model_id": name,
                "requests": 100 - i + d,
                "cost_micros": (i + 1) * 1_000_000 + d,  # cost ranks the other way round
                "input_tokens": 10,
                "output_tokens": 5,
            }
            for d in range(2)
            for i, name in enumerate(names)
        ]
    )


def test_every_chart_gives_a_model_the_same_colour():
    df = _usage(14)
    colors = series_colors(df["model_id"])
    trend = _scale(
        charts.usage_daily_trend(
            df.drop(columns="month"), measure="requests", colors=colors
        ).to_dict()
    )
    monthly = _scale(
        charts.usage_monthly(df.drop(columns="day"), measure="cost", colors=colors).to_dict()
    )
    totals = df.groupby("model_id", as_index=False).sum(numeric_only=True)
    ranked = _scale(
        charts.usage_ranked_bars(
            totals, category="model_id", measure="cost", colors=colors
        ).to_dict()
    )
    donut = _scale(charts.usage_share_donut(totals, category="model_id", colors=colors).to_dict())
    # The charts rank (and so keep) different models, yet agree on every colour they share.
    assert set(trend) != set(monthly)
    for scale in (trend, monthly, ranked, donut):
        for name, colour in scale.items():
            assert colour == (OTHER_COLOR if name.startswith("Other") else colors[name])
    assert trend["anthropic/claude-sonnet-4.5"] == ranked["anthropic/claude-sonnet-4.5"]


def test_legends_and_axes_show_full_model_ids():
    df = _usage(6)
    spec = charts.usage_daily_trend(df.drop(columns="month"), measure="cost").to_dict()
    assert spec["encoding"]["color"]["legend"]["labelLimit"] >= 300
    perf = pd.DataFrame(
        {
            "model_id": MODELS,
            "latency_p50_ms": [1000] * 5,
            "latency_p95_ms": [2000] * 5,
            "requests": [3] * 5,
        }
    )
    axis = charts.usage_latency(perf).to_dict()["encoding"]["y"]["axis"]
    assert axis["labelLimit"] >= 300  # "anthropic/claude-sonnet-4.5" in full
    assert {t["field"] for t in charts.usage_latency(perf).to_dict()["encoding"]["tooltip"]} >= {
        "model_id"
    }
