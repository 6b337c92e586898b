"""Two processes ingest usage while a third reads the dashboard's queries: nothing is lost,
nothing fails, rollups equal raw events. Runs on SQLite (WAL) and, with
KILO_TEST_DATABASE_URL, on PostgreSQL."""

import subprocess
import sys
from pathlib import Path

from sqlmodel import func, select

from kilo.db import read_session, write_session
from kilo.models import UsageDaily, UsageEvent
from tests.factories import create_member, create_org

ROOT = Path(__file__).resolve().parents[2]
N = 60


def _worker(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.services.concurrency_worker", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_writers_and_a_reader_lose_nothing(db_url):
    with write_session(db_url) as s:
        org = create_org(s)
        a = create_member(s, org, "owner")
        b = create_member(s, org, "member")
        ids = (str(org.id), str(a.id), str(b.id))
    procs = [
        _worker("ingest", db_url, ids[0], ids[1], "w1", str(N)),
        _worker("ingest", db_url, ids[0], ids[2], "w2", str(N)),
        _worker("read", db_url, ids[0], ids[1], "6"),
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-2000:]
    assert "reads=" in outputs[2][0]
    with read_session(db_url) as s:
        raw = s.exec(
            select(
                func.count(), func.sum(UsageEvent.cost_micros), func.sum(UsageEvent.input_tokens)
            )
        ).one()
        rolled = s.exec(
            select(
                func.sum(UsageDaily.requests),
                func.sum(UsageDaily.cost_micros),
                func.sum(UsageDaily.input_tokens),
            )
        ).one()
    assert raw[0] == 2 * N
    assert tuple(int(x) for x in rolled) == tuple(int(x) for x in raw)
