"""The demo organization's usage: 90 days of requests by every member, stored through the
same path as imported usage (`kilo.usage.insert_events`) so every rollup is filled."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from sqlmodel import Session, select

from kilo.models import CatalogModel, Member, Organization
from kilo.usage import insert_events

DAYS = 90

# (model id, relative popularity, mean latency ms, error rate)
DEMO_MODELS = [
    ("anthropic/claude-sonnet-4.5", 30, 2400, 0.010),
    ("anthropic/claude-opus-4.5", 6, 5200, 0.015),
    ("anthropic/claude-haiku-4.5", 9, 900, 0.008),
    ("openai/gpt-5.4", 12, 3100, 0.012),
    ("openai/gpt-5.4-mini", 8, 1100, 0.010),
    ("google/gemini-2.5-pro", 7, 2900, 0.020),
    ("google/gemini-2.5-flash", 8, 800, 0.015),
    ("google/gemini-3-flash-preview", 5, 950, 0.025),
    ("deepseek/deepseek-v3.2", 5, 3500, 0.030),
    ("qwen/qwen3-coder", 6, 1800, 0.020),
    ("mistralai/codestral-2508", 4, 700, 0.010),
    ("mistralai/devstral-medium", 3, 1500, 0.015),
    ("moonshotai/kimi-k2.5", 3, 2600, 0.030),
    ("z-ai/glm-4.6", 3, 2200, 0.025),
    ("x-ai/grok-4.3", 3, 1300, 0.020),
    ("meta-llama/llama-4-maverick", 2, 1000, 0.020),
    ("minimax/minimax-m2", 2, 2000, 0.030),
]
MODES = [("code", 55), ("architect", 12), ("ask", 15), ("debug", 12), ("orchestrator", 6)]


def seed_usage(
    session: Session,
    org: Organization,
    members: list[Member],
    rng: random.Random,
    start: date,
    today: date,
) -> None:
    models = {
        m.id: m
        for m in session.exec(
            select(CatalogModel).where(CatalogModel.id.in_([d[0] for d in DEMO_MODELS]))
        ).all()
    }
    picks = [d for d in DEMO_MODELS if d[0] in models]
    weights = [d[1] for d in picks]
    mode_names, mode_weights = zip(*MODES, strict=True)
    now = datetime.now(UTC)
    events: list[dict] = []
    for m in members:
        intensity = rng.uniform(0.3, 1.6)
        favourite = rng.choice(picks)
        for d in range(DAYS + 1):
            day = start + timedelta(days=d)
            day_start = datetime.combine(day, time(0), tzinfo=UTC)
            if day_start < m.joined_at - timedelta(days=1):
                continue
            base = 28 if day.weekday() < 5 else 3
            n = max(0, int(rng.gauss(base * intensity, base * 0.3)))
            for _ in range(n):
                hour = min(23, max(0, int(rng.gauss(13.5, 2.8))))
                at = day_start + timedelta(
                    hours=hour, minutes=rng.randint(0, 59), seconds=rng.randint(0, 59)
                )
                if at > now:
                    continue
                model_id, _, latency, err = (
                    favourite if rng.random() < 0.3 else rng.choices(picks, weights)[0]
                )
                cm = models[model_id]
                inp = int(rng.lognormvariate(8.6, 0.8))
                out = int(rng.lognormvariate(6.3, 0.7))
                cache_read = int(inp * rng.uniform(0, 0.6)) if rng.random() < 0.5 else 0
                ok = rng.random() >= err
                cost = Decimal(inp) * (cm.prompt_price_mtok or 0) + Decimal(out) * (
                    cm.completion_price_mtok or 0
                )
                events.append(
                    {
                        "at": at,
                        "member_id": m.id,
                        "model_id": model_id,
                        "provider": rng.choice(cm.providers[:2]) if cm.providers else "unknown",
                        "mode": rng.choices(mode_names, mode_weights)[0],
                        "input_tokens": inp,
                        "output_tokens": out if ok else 0,
                        "cache_read_tokens": cache_read,
                        "cache_write_tokens": 0,
                        "cost_micros": int(cost.quantize(Decimal(1), ROUND_HALF_EVEN)) if ok else 0,
                        "latency_ms": max(80, int(rng.gauss(latency, latency * 0.35))),
                        "status": "success" if ok else "error",
                    }
                )
    events.sort(key=lambda e: e["at"])
    insert_events(session, org_id=org.id, events=events)
