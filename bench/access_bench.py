"""Model access benchmark: the gateway check and the Model Access tab's loaders.

Loads the shipped catalogue (356 models, 82 providers) into a fresh SQLite file, makes one
organization with N extra rules (default 200: exact model rules plus a few patterns), then
prints the median time of `is_model_allowed` (with and without a provider), of
`allowed_model_ids`, and of the tab's row loaders and a preview of a bulk change.

    .venv/bin/python bench/access_bench.py
    .venv/bin/python bench/access_bench.py --rules 2000 --url postgresql+psycopg://...

With --url the database must be empty (it is migrated here; nothing is dropped).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import select  # noqa: E402

from kilo import access, catalog, db  # noqa: E402
from kilo.access import AccessChange  # noqa: E402
from kilo.models import AccessRule, CatalogModel, Organization  # noqa: E402
from kilo.permissions import Actor  # noqa: E402


def median_ms(fn, repeat: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rules", type=int, default=200, help="exact model rules to add")
    parser.add_argument("--url", help="database URL (default: a temp SQLite file)")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url = args.url or f"sqlite:///{tmp.name}/access.db"
    db.migrate(url)
    with db.write_session(url) as s:
        t0 = time.perf_counter()
        catalog.import_snapshot(s)
        print(
            f"import_snapshot (356 models, 82 providers): {(time.perf_counter() - t0) * 1000:.0f} ms"
        )
        org = Organization(name="Bench", default_model="anthropic/claude-sonnet-4.5")
        s.add(org)
        s.flush()
        ids = [m.id for m in s.exec(select(CatalogModel).order_by(CatalogModel.id)).all()]
        for i, model_id in enumerate(ids[: args.rules]):
            if not model_id.startswith("anthropic/"):
                s.add(
                    AccessRule(
                        org_id=org.id, subject_type="model", subject=model_id, allowed=i % 2 == 0
                    )
                )
        for pattern in ("*:free", "openai/gpt-3*", "meta-llama/*"):
            s.add(AccessRule(org_id=org.id, subject_type="model", subject=pattern, allowed=False))
        s.add(AccessRule(org_id=org.id, subject_type="provider", subject="novita", allowed=False))
        org_id = org.id
    actor = Actor(id=None, org_id=org_id, role="system", name="bench", email="")
    with db.read_session(url) as s:
        rules = s.exec(select(AccessRule).where(AccessRule.org_id == org_id)).all()
        print(f"rules: {len(rules)}")
        figures = {
            "is_model_allowed(model)": lambda: access.is_model_allowed(
                s, org_id, "anthropic/claude-sonnet-4.5"
            ),
            "is_model_allowed(model, provider)": lambda: access.is_model_allowed(
                s, org_id, "deepseek/deepseek-v3.2", "deepinfra"
            ),
            "allowed_model_ids (all 356)": lambda: access.allowed_model_ids(s, org_id=org_id),
            "list_model_rows": lambda: access.list_model_rows(s, actor=actor),
            "list_provider_rows": lambda: access.list_provider_rows(s, actor=actor),
            "preview: disable 100 models": lambda: access.preview_access_change(
                s, actor=actor, change=AccessChange(disable_models=tuple(ids[200:300]))
            ),
        }
        for label, fn in figures.items():
            repeat = 200 if label.startswith("is_model") else 10
            ms = median_ms(lambda fn=fn: (fn(), s.expire_all()), repeat)
            print(f"{label:38s} median {ms:8.2f} ms  ({repeat} runs)")
    tmp.cleanup()


if __name__ == "__main__":
    main()
