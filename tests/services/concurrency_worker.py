"""Worker process for the concurrency tests: ingest usage, read analytics, or race service calls.

python -m tests.services.concurrency_worker ingest URL ORG_ID MEMBER_ID PREFIX N
python -m tests.services.concurrency_worker read URL ORG_ID MEMBER_ID SECONDS
python -m tests.services.concurrency_worker race

`race` imports the services, prints "ready", then runs one service call per JSON line read
from stdin (each in its own transaction on the call's database URL, as a page does) and
answers each with one JSON line, so the test can release several workers' calls at the
same moment. The op "connect" only opens the connection, so that a race starts warm. The op
"alerts_run" is a whole alerts run (`kilo.alerts.run_once`), which opens its own
transactions.
"""

import json
import os
import sys
import time
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import text

from kilo import alerts, billing, budgets, invitations, members, organization, usage
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


def _call(session, call: dict) -> None:  # noqa: ANN001
    actor = Actor(**call["actor"]) if "actor" in call else None
    match call["op"]:
        case "change_role":
            members.change_role(
                session, actor=actor, member_id=call["member_id"], role=call["role"]
            )
        case "remove_member":
            members.remove_member(session, actor=actor, member_id=call["member_id"])
        case "invite":
            invitations.invite_member(session, actor=actor, email=call["email"])
        case "revoke":
            invitations.revoke_invitation(session, actor=actor, invitation_id=call["invitation_id"])
        case "accept":
            invitations.accept_invitation(
                session, token=call["token"], name=call["name"], password=call["password"]
            )
        case "change_seats":
            billing.change_seats(session, actor=actor, seats=call["seats"], config=None)
        case "buy_credits":  # demo mode: issues a paid top-up invoice at once
            billing.start_credit_purchase(
                session, actor=actor, amount_cents=call["amount_cents"], config=None
            )
        case "set_budget":
            budgets.set_budget(
                session,
                actor=actor,
                scope=call["scope"],
                scope_id=call.get("scope_id"),
                amount_micros=call["amount_micros"],
                hard=call["hard"],
            )
        case "connect":
            session.exec(text("SELECT 1"))
        case op:
            raise ValueError(f"unknown op {op}")


def race() -> None:
    print("ready", flush=True)
    for line in sys.stdin:
        call = json.loads(line)
        try:
            if call["op"] == "alerts_run":
                answer = {"ok": True, "counts": alerts.run_once(url=call["url"])}
            else:
                with write_session(call["url"]) as session:
                    _call(session, call)
                answer = {"ok": True}
        except Exception as exc:  # noqa: BLE001 - the test judges every outcome
            answer = {"ok": False, "error": type(exc).__name__, "message": str(exc)}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "race":
        race()
        sys.stdout.flush()
        os._exit(0)  # skip the interpreter's teardown (seconds with pandas on a busy machine)
    kind, url, org_id, member_id, *rest = sys.argv[1:]
    if kind == "ingest":
        ingest(url, int(org_id), int(member_id), rest[0], int(rest[1]))
    else:
        read(url, int(org_id), int(member_id), float(rest[0]))
