"""Worker process for the concurrency test: ingest usage or read analytics against one database.

python -m tests.services.concurrency_worker ingest URL ORG_ID MEMBER_ID PREFIX N
python -m tests.services.concurrency_worker read URL ORG_ID MEMBER_ID SECONDS
"""

import sys
import time
from datetime import date, timedelta
from decimal import Decimal

from kilo import organization, usage
from kilo.db import read_session, write_session
from kilo.permissions import Actor, system_actor


def ingest(url: str, org_id: int, member_id: int, prefix: str, n: int) -> None:
    actor = system_actor(org_id, name="gateway")
    for i in range(n):
        with write_session(url) as session:  # one transaction per request, like a gateway
            usage.record_usage(
                session,
                actor=actor,
                member_id=member_id,
                model_id="test/model",
                provider="test-provider",
                input_tokens=100 + i,
                output_tokens=10 + i,
                cost_usd=Decimal("0.000123") * (i + 1),
                latency_ms=50 + i,
                external_id=f"{prefix}-{i}",
            )


def read(url: str, org_id: int, member_id: int, seconds: float) -> None:
    actor = Actor(id=member_id, org_id=org_id, role="owner", name="Reader", email="r@example.com")
    f = usage.UsageFilter(
        start=date.today() - timedelta(days=2), end=date.today() + timedelta(days=1)
    )
    deadline = time.monotonic() + seconds
    reads = 0
    while time.monotonic() < deadline:
        with read_session(url) as session:
            usage.get_totals(session, actor=actor, f=f)
            organization.get_overview(session, actor=actor)
        reads += 1
    print(f"reads={reads}")


if __name__ == "__main__":
    kind, url, org_id, member_id, *rest = sys.argv[1:]
    if kind == "ingest":
        ingest(url, int(org_id), int(member_id), rest[0], int(rest[1]))
    else:
        read(url, int(org_id), int(member_id), float(rest[0]))
