"""Concurrent processes on one database. Runs on SQLite (WAL) and, with
KILO_TEST_DATABASE_URL, on PostgreSQL.

Two processes ingest usage while a third reads the dashboard's queries: nothing is lost,
nothing fails, rollups equal raw events. Then service calls that check before they write
(last owner, free seats, an invitation's state, a scope's one budget) are released in
several processes at the same moment, round after round: the organization's lock lets
exactly one of two clashing calls through, or puts them one after the other. On PostgreSQL these fail without `kilo.db.lock_organization`; on SQLite
they show that BEGIN IMMEDIATE already serialises the writers.
"""

import json
import queue
import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from kilo import invitations, members
from kilo.db import read_session, write_session
from kilo.members import actor_for
from kilo.models import Invitation, Invoice, Member, Organization, UsageDaily, UsageEvent
from tests.factories import create_member, create_org

ROOT = Path(__file__).resolve().parents[2]
N = 60
ROUNDS = 5
TIMEOUT = 120  # seconds for a worker to start or to answer one call
PASSWORD = "a-long-enough-passphrase-42"


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


# ---- races on the organization's checks ---------------------------------------------


class Racers:
    """Worker processes, each running one service call per round, all released at once.

    Workers import the services and say "ready"; a round writes one JSON call to each
    worker's stdin back to back (microseconds apart), so the calls really overlap. One
    pool serves the module's tests (starting eight Python processes takes seconds).
    """

    def __init__(self, n: int) -> None:
        self.procs = [_worker_race() for _ in range(n)]
        self.lines: list[queue.Queue] = [queue.Queue() for _ in self.procs]
        self.stderr: list[list[str]] = [[] for _ in self.procs]
        for p, q, err in zip(self.procs, self.lines, self.stderr, strict=True):
            threading.Thread(target=_pump, args=(p.stdout, q.put), daemon=True).start()
            threading.Thread(target=_pump, args=(p.stderr, err.append), daemon=True).start()
        for q in self.lines:
            assert self._next(q) == "ready"

    def _next(self, q: queue.Queue) -> str:
        try:
            line = q.get(timeout=TIMEOUT)
        except queue.Empty:
            pytest.fail(f"a worker did not answer within {TIMEOUT} s")
        if line is None:
            pytest.fail("a worker exited: " + "".join(filter(None, sum(self.stderr, [])))[-3000:])
        return line.strip()

    def run(self, url: str, calls: list[dict]) -> list[dict]:
        """Each call on its own worker, against the database at `url`; their answers."""
        for p, call in zip(self.procs, calls, strict=False):
            p.stdin.write(json.dumps(call | {"url": url}) + "\n")
            p.stdin.flush()
        return [json.loads(self._next(q)) for q, _ in zip(self.lines, calls, strict=False)]

    def close(self) -> None:
        for p in self.procs:
            p.stdin.close()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _pump(stream, put) -> None:  # noqa: ANN001
    for line in stream:
        put(line)
    put(None)


@pytest.fixture(scope="module")
def pool():
    racers = Racers(8)
    yield racers
    racers.close()


@pytest.fixture
def race(pool, db_url):
    """Run calls at once on `db_url` (each worker connected to it beforehand)."""
    answers = pool.run(db_url, [{"op": "connect"}] * len(pool.procs))
    assert all(a["ok"] for a in answers), answers
    return lambda calls: pool.run(db_url, calls)


def _worker_race() -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.services.concurrency_worker", "race"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _actor(member: Member) -> dict:
    return asdict(actor_for(member))


def _owners(url: str, org_id: int) -> int:
    with read_session(url) as s:
        return s.exec(
            select(func.count())
            .select_from(Member)
            .where(
                Member.org_id == org_id, Member.role == "owner", col(Member.removed_at).is_(None)
            )
        ).one()


def _outcomes(answers: list[dict]) -> list[str]:
    return sorted("ok" if a["ok"] else f"{a['error']}: {a['message']}" for a in answers)


@pytest.mark.parametrize("op", ["change_role", "remove_member"])
def test_two_owners_demoting_or_removing_each_other_at_once_leave_one(db_url, race, op):
    for _ in range(ROUNDS):
        with write_session(db_url) as s:
            org = create_org(s)
            a, b = create_member(s, org, "owner"), create_member(s, org, "owner")
            create_member(s, org, "admin")
            calls = [
                {"op": op, "actor": _actor(a), "member_id": b.id, "role": "admin"},
                {"op": op, "actor": _actor(b), "member_id": a.id, "role": "admin"},
            ]
        outcomes = _outcomes(race(calls))
        assert outcomes[0].startswith("Conflict: ") and "last owner" in outcomes[0], outcomes
        assert outcomes[1] == "ok", outcomes
        assert _owners(db_url, org.id) == 1


def test_concurrent_invitations_never_take_more_seats_than_there_are(db_url, race):
    n, free = 8, 3
    for r in range(ROUNDS):
        with write_session(db_url) as s:
            org = create_org(s, seats=free + 1)
            owner = _actor(create_member(s, org, "owner"))
        calls = [
            {"op": "invite", "actor": owner, "email": f"r{r}w{i}@example.com"} for i in range(n)
        ]
        answers = race(calls)
        assert sum(a["ok"] for a in answers) == free, _outcomes(answers)
        assert all(a["ok"] or "seats are taken" in a["message"] for a in answers), answers
        with read_session(db_url) as s:
            assert members.seats_in_use(s, org_id=org.id) == free + 1


def test_lowering_seats_while_inviting_never_leaves_more_seats_in_use(db_url, race):
    invites = 4
    for r in range(ROUNDS):
        with write_session(db_url) as s:
            org = create_org(s, seats=10)
            owner = _actor(create_member(s, org, "owner"))
            create_member(s, org, "member")
        # Lower the seats to exactly the two in use while four invitations try to take one.
        calls = [{"op": "change_seats", "actor": owner, "seats": 2}] + [
            {"op": "invite", "actor": owner, "email": f"r{r}w{i}@example.com"}
            for i in range(invites)
        ]
        answers = race(calls)
        with read_session(db_url) as s:
            used = members.seats_in_use(s, org_id=org.id)
            seats = s.get(Organization, org.id).seats
        invited = sum(a["ok"] for a in answers[1:])
        assert used == 2 + invited
        assert used <= seats, _outcomes(answers)
        if answers[0]["ok"]:
            assert invited == 0, _outcomes(answers)
        else:
            assert "fewer than" in answers[0]["message"] and invited == invites, answers


@pytest.mark.parametrize("other", ["revoke", "accept"])
def test_an_invitation_is_accepted_once_or_revoked_never_both(db_url, race, other):
    for r in range(ROUNDS):
        with write_session(db_url) as s:
            org = create_org(s)
            owner = create_member(s, org, "owner")
            inv, token = invitations.invite_member(
                s, actor=actor_for(owner), email=f"new{r}@example.com"
            )
        accept = {"op": "accept", "token": token, "name": "New Member", "password": PASSWORD}
        second = (
            {"op": "revoke", "actor": _actor(owner), "invitation_id": inv.id}
            if other == "revoke"
            else accept
        )
        outcomes = _outcomes(race([accept, second]))
        assert outcomes[0].startswith("Conflict: ") and outcomes[1] == "ok", outcomes
        with read_session(db_url) as s:
            inv = s.get(Invitation, inv.id)
            joined = s.exec(
                select(func.count()).select_from(Member).where(Member.email == inv.email)
            ).one()
        assert (inv.accepted_at is None) != (inv.revoked_at is None)
        assert joined == (inv.accepted_at is not None)


def test_concurrent_issuers_number_invoices_without_gaps_or_duplicates(db_url, race):
    """Eight owners' purchases at once, round after round, issue invoices numbered 1..n in
    one series: the counter row is advanced under the organization's lock."""
    with write_session(db_url) as s:
        org = create_org(s)
        owner = _actor(create_member(s, org, "owner"))
    n = 8
    for r in range(ROUNDS):
        calls = [{"op": "buy_credits", "actor": owner, "amount_cents": 1_000 + i} for i in range(n)]
        answers = race(calls)
        assert all(a["ok"] for a in answers), _outcomes(answers)
        with read_session(db_url) as s:
            numbers = s.exec(select(Invoice.number).where(Invoice.org_id == org.id)).all()
        suffixes = sorted(int(x.rsplit("-", 1)[1]) for x in numbers)
        assert suffixes == list(range(1, n * (r + 1) + 1)), suffixes


@pytest.mark.parametrize("scope", ["organization", "team", "member"])
def test_concurrent_budget_writes_keep_one_budget_and_audit_each_change(db_url, race, scope):
    """Eight owners and admins set the same scope's monthly budget at once (a team's budget,
    a member's limit, the organization's), round after round, each to its own amount: the
    first round creates exactly one budget and the other seven change it, later rounds
    change it eight times. The writes run one after the other under the organization's lock,
    so every change is audited once with the amount it replaced, and the audit entries chain:
    each starts from where the one before it ended, and the last ends at the stored budget.
    Without the lock (PostgreSQL) the first round's inserts clash on `uq_budget_scope` and
    fail, and later rounds' changes read the same old amount ("was $X" audited repeatedly)."""
    from kilo import teams
    from kilo.models import AuditEntry, Budget

    n = 8
    with write_session(db_url) as s:
        org = create_org(s)
        writers = [_actor(create_member(s, org, ("owner", "admin")[i % 2])) for i in range(n)]
        if scope == "team":
            scope_id = teams.create_team(
                s, actor=actor_for(s.get(Member, writers[0]["id"])), name="Platform"
            ).id
        elif scope == "member":
            scope_id = create_member(s, org, "member").id
        else:
            scope_id = None
    amounts: list[int] = []
    for r in range(ROUNDS):
        calls = [
            {
                "op": "set_budget",
                "actor": writers[i],
                "scope": scope,
                "scope_id": scope_id,
                "amount_micros": (100 * (r + 1) + i) * 1_000_000,
                "hard": i % 2 == 0,
            }
            for i in range(n)
        ]
        answers = race(calls)
        assert all(a["ok"] for a in answers), _outcomes(answers)
        amounts += [c["amount_micros"] for c in calls]
        with read_session(db_url) as s:
            [budget] = s.exec(select(Budget).where(Budget.org_id == org.id)).all()
            entries = s.exec(
                select(AuditEntry)
                .where(AuditEntry.org_id == org.id, AuditEntry.action == "organization.budget.set")
                .order_by(col(AuditEntry.id))
            ).all()
        assert (budget.scope, budget.scope_id) == (scope, scope_id or org.id)
        assert len(entries) == n * (r + 1)  # one per change: every amount differs
        chain = [e.details["changes"]["amount_micros"] for e in entries]
        assert chain[0][0] is None and all(e.details["budget_id"] == budget.id for e in entries)
        assert all(a[1] == b[0] for a, b in zip(chain, chain[1:], strict=False)), chain
        assert sorted(after for _, after in chain) == sorted(amounts)
        assert chain[-1][1] == budget.amount_micros


def test_concurrent_alert_runners_record_and_send_each_alert_once(db_url, race):
    """Eight alert runners at once (the server's background task, cron, other servers),
    round after round, each round with a new alert due: each alert is recorded once and its
    webhook delivery claimed and sent once."""
    from datetime import UTC, datetime, timedelta

    from kilo import alerts, budgets
    from kilo.models import Alert, AlertDelivery
    from kilo.permissions import system_actor
    from kilo.rollups.store import insert_events
    from tests.factories import usage_event
    from tests.webhook_receiver import WebhookReceiver

    with write_session(db_url) as s:
        org = create_org(s)
        system = system_actor(org.id)
        alerts.update_settings(
            s,
            actor=system,
            budget_thresholds=[100],
            runway_days=0,
            anomaly_enabled=False,
            anomaly_min_micros=0,
        )
    with WebhookReceiver() as hook:
        with write_session(db_url) as s:
            alerts.create_channel(s, actor=system, kind="slack", name="Ops", target=hook.url())
        for r in range(ROUNDS):
            with write_session(db_url) as s:  # a new member over their monthly limit
                member = create_member(s, org)
                budgets.set_budget(
                    s, actor=system, scope="member", scope_id=member.id, amount_micros=1, hard=False
                )
                at = datetime.now(UTC) - timedelta(seconds=1)
                insert_events(s, org_id=org.id, events=[usage_event(member.id, at, cost_micros=5)])
            answers = race([{"op": "alerts_run"}] * 8)
            assert all(a["ok"] for a in answers), _outcomes(answers)
            assert sum(a["counts"]["alerts"] for a in answers) == 1
            assert sum(a["counts"]["sent"] for a in answers) == 1
            assert len(hook.wait_for(r + 1)) == r + 1
        with read_session(db_url) as s:
            keys = s.exec(select(Alert.key).where(Alert.org_id == org.id)).all()
            sent = s.exec(select(AlertDelivery.status, AlertDelivery.attempts)).all()
        assert len(keys) == len(set(keys)) == ROUNDS
        assert sent == [("sent", 1)] * ROUNDS
        assert len(hook.received()) == ROUNDS
