"""Invoice numbers in issue order without gaps (and existing numbers kept by the migration),
a prorated seat change's invoice and the period's invoice that shows it, the demo's
invoices numbered in date order, and the ledger's usage row of today dated now."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

from alembic import command
from alembic.config import Config
from sqlmodel import col, select

from kilo import billing, usage
from kilo.db import ROOT, get_engine, read_session, write_session
from kilo.members import actor_for
from kilo.models import Invoice, InvoiceCounter, Member, Organization, SeatChange
from tests.factories import create_team, create_top_up, usage_event

DEMO = None  # config=None: demo mode


def _numbers(session, org_id: int) -> list[str]:
    return list(
        session.exec(
            select(Invoice.number).where(Invoice.org_id == org_id).order_by(col(Invoice.id))
        ).all()
    )


def _seat_invoice(session, org: Organization, at: datetime, seats: int) -> Invoice:
    return billing.issue_invoice(
        session,
        org=org,
        kind="seats",
        at=at,
        status="open",
        period_start=at.date().replace(day=1),
        period_end=(at.replace(day=28) + timedelta(days=4)).replace(day=1).date()
        - timedelta(days=1),
        lines=[
            {
                "description": "Kilo for Enterprise seat",
                "quantity": seats,
                "unit_cents": org.seat_price_cents,
                "amount_cents": seats * org.seat_price_cents,
            }
        ],
    )


# ---- numbers ----------------------------------------------------------------------------


def test_numbers_follow_issue_order_per_series_without_gaps(session):
    owner = create_team(session)["owner"]
    org = session.get(Organization, owner.org_id)
    for _ in range(3):
        create_top_up(session, owner, 1_000)
    late_2026 = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    early_2027 = datetime(2027, 1, 1, 0, 30, tzinfo=UTC)
    _seat_invoice(session, org, early_2027, 3)
    _seat_invoice(session, org, late_2026, 3)  # issued later, into its year's series
    _seat_invoice(session, org, early_2027 + timedelta(days=1), 3)
    year = datetime.now(UTC).year
    assert _numbers(session, org.id) == [
        f"K{org.id}-{year}-00001",
        f"K{org.id}-{year}-00002",
        f"K{org.id}-{year}-00003",
        f"K{org.id}-2027-00001",
        f"K{org.id}-2026-{4 if year == 2026 else 1:05d}",
        f"K{org.id}-2027-00002",
    ]
    other = create_team(session)["owner"]  # another organization: its own series
    assert create_top_up(session, other, 1_000).number == f"K{other.org_id}-{year}-00001"


def test_a_rolled_back_issue_gives_its_number_back(db_url):
    with write_session(db_url) as s:
        owner = create_team(s)["owner"]
        first = create_top_up(s, owner, 1_000).number
    try:
        with write_session(db_url) as s:
            create_top_up(s, owner, 1_000)
            raise RuntimeError("the payment failed after the invoice was issued")
    except RuntimeError:
        pass
    with write_session(db_url) as s:
        second = create_top_up(s, owner, 1_000).number
    assert int(second.rsplit("-", 1)[1]) == int(first.rsplit("-", 1)[1]) + 1


def test_invoices_recorded_before_counters_keep_their_numbers(session):
    """An organization whose invoices predate the counter row (numbered by the old rule,
    with a gap) continues after the highest number, renumbering nothing."""
    owner = create_team(session)["owner"]
    org = session.get(Organization, owner.org_id)
    year = datetime.now(UTC).year
    for n in (1, 2, 7):
        session.add(
            Invoice(
                org_id=org.id,
                number=f"K{org.id}-{year}-{n:05d}",
                kind="top-up",
                period_start=datetime.now(UTC).date(),
                period_end=datetime.now(UTC).date(),
                status="paid",
            )
        )
    session.flush()
    assert create_top_up(session, owner, 1_000).number == f"K{org.id}-{year}-00008"
    assert _numbers(session, org.id)[:3] == [f"K{org.id}-{year}-{n:05d}" for n in (1, 2, 7)]


def test_migration_0009_starts_each_series_after_its_highest_number(db_url):
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["engine"] = get_engine(db_url)
    with write_session(db_url) as s:
        owner = create_team(s)["owner"]
        org_id = owner.org_id
    command.downgrade(cfg, "0008")
    with get_engine(db_url).begin() as conn:
        for number in ("K{o}-2025-00004", "K{o}-2026-00001", "K{o}-2026-00005", "ABC-0001"):
            conn.exec_driver_sql(
                "INSERT INTO invoice (org_id, number, kind, issued_at, period_start, period_end,"
                " status, currency, subtotal_cents, tax_cents, total_cents, refunded_cents, lines)"
                " VALUES (%s, %s, 'top-up', '2026-01-02 00:00:00', '2026-01-02', '2026-01-02',"
                " 'paid', 'usd', 0, 0, 0, 0, '[]')"
                if conn.dialect.name == "postgresql"
                else "INSERT INTO invoice (org_id, number, kind, issued_at, period_start,"
                " period_end, status, currency, subtotal_cents, tax_cents, total_cents,"
                " refunded_cents, lines) VALUES (?, ?, 'top-up', '2026-01-02 00:00:00',"
                " '2026-01-02', '2026-01-02', 'paid', 'usd', 0, 0, 0, 0, '[]')",
                (org_id, number.format(o=org_id)),
            )
    command.upgrade(cfg, "head")
    with write_session(db_url) as s:
        counters = {c.series: c.last_number for c in s.exec(select(InvoiceCounter)).all()}
        assert counters == {f"K{org_id}-2025": 4, f"K{org_id}-2026": 5}
        numbers = set(s.exec(select(Invoice.number)).all())
        assert {f"K{org_id}-2026-00001", f"K{org_id}-2026-00005", "ABC-0001"} <= numbers
        org = s.get(Organization, org_id)
        at = datetime(2026, 3, 1, tzinfo=UTC)
        assert _seat_invoice(s, org, at, 1).number == f"K{org_id}-2026-00006"


def test_the_list_is_sorted_by_issue_date(session):
    owner = create_team(session)["owner"]
    org = session.get(Organization, owner.org_id)
    _seat_invoice(session, org, datetime(2026, 12, 1, 6, tzinfo=UTC), 3)
    _seat_invoice(session, org, datetime(2026, 11, 1, 6, tzinfo=UTC), 3)  # backdated issue
    _seat_invoice(session, org, datetime(2026, 11, 18, 6, tzinfo=UTC), 3)
    rows = billing.list_invoices(session, actor=owner)
    assert [r.issued_at.date().isoformat() for r in rows] == [
        "2026-12-01",
        "2026-11-18",
        "2026-11-01",
    ]


# ---- Stripe's numbers ---------------------------------------------------------------------


def test_a_stripe_draft_takes_a_number_only_when_finalized(session):
    from kilo.billing.stripe_invoices import upsert_stripe_invoice

    owner = create_team(session)["owner"]
    org = session.get(Organization, owner.org_id)
    draft = {"id": "in_draft1", "status": "draft", "subtotal": 100, "total": 100}
    local, _ = upsert_stripe_invoice(session, org=org, inv=draft)
    assert local.number == "draft-in_draft1"
    assert (
        session.get(InvoiceCounter, (org.id, billing.invoice_series(org.id, local.issued_at)))
        is None
    )
    local, _ = upsert_stripe_invoice(
        session, org=org, inv=draft | {"status": "open", "number": "ACME-0042"}
    )
    assert local.number == "ACME-0042"  # Stripe's series
    unnumbered = {"id": "in_draft2", "status": "draft", "subtotal": 100, "total": 100}
    upsert_stripe_invoice(session, org=org, inv=unnumbered)
    local, _ = upsert_stripe_invoice(session, org=org, inv=unnumbered | {"status": "open"})
    assert local.number == f"{billing.invoice_series(org.id, local.issued_at)}-00001"
    reverse = {
        "id": "in_rc",
        "status": "paid",
        "number": "ACME-0043",
        "customer_tax_exempt": "reverse",
    }
    local, _ = upsert_stripe_invoice(
        session, org=org, inv=reverse | {"subtotal": 100, "total": 100}
    )
    assert local.tax_note == billing.REVERSE_CHARGE_NOTE


# ---- seat changes -----------------------------------------------------------------------


def test_a_prorated_seat_change_gets_its_invoice_and_the_periods_invoice_shows_it(
    session, seller_env, tmp_path
):
    team = create_team(session, seats=40, seat_price_cents=2_900)
    owner = team["owner"]
    org = session.get(Organization, owner.org_id)
    december = _seat_invoice(session, org, datetime(2026, 12, 1, 6, tzinfo=UTC), 40)
    now = datetime(2026, 12, 3, tzinfo=UTC)  # 29 of 31 days left
    change = billing.change_seats(session, actor=owner, seats=45, config=DEMO, now=now)
    assert change.prorated_cents == 13_565  # 5 x $29.00 x 29/31
    own = session.get(Invoice, change.invoice_id)
    assert (own.kind, own.status, own.subtotal_cents) == ("seats", "open", 13_565)
    assert own.issued_at == now and (own.period_start, own.period_end) == (
        now.date(),
        datetime(2026, 12, 31).date(),
    )
    assert int(own.number.rsplit("-", 1)[1]) == int(december.number.rsplit("-", 1)[1]) + 1
    assert own.lines[0]["description"] == (
        "5 seats added (40 → 45) from 2026-12-03, prorated to 2026-12-31"
    )
    rows = {r.number: r for r in billing.list_invoices(session, actor=owner)}
    assert rows[december.number].note == (f"45 seats from 2026-12-03 ($135.65 on {own.number})")
    assert rows[own.number].note == "Seats 40 → 45 from 2026-12-03"
    pdf = billing.invoice_pdf(session, actor=owner, invoice_id=december.id)
    path = tmp_path / "december.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert (
        f"Seat changes in this period: 45 seats from 2026-12-03 ($135.65 on {own.number})."
        in " ".join(text.split())
    )
    # Fewer seats: a credit, also invoiced at once.
    change = billing.change_seats(session, actor=owner, seats=44, config=DEMO, now=now)
    credit = session.get(Invoice, change.invoice_id)
    assert credit.total_cents == change.prorated_cents < 0
    assert "1 seat removed (45 → 44)" in credit.lines[0]["description"]


def test_a_seat_change_with_nothing_prorated_issues_no_invoice(session):
    team = create_team(session, seats=20)
    org = session.get(Organization, team["owner"].org_id)
    # The month's last microsecond: nothing left to prorate, so nothing to invoice.
    change = billing.change_seats(
        session,
        actor=team["owner"],
        seats=21,
        config=DEMO,
        now=datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    )
    assert change.prorated_cents == 0 and change.invoice_id is None
    assert _numbers(session, org.id) == []


# ---- the demo and the ledger -------------------------------------------------------------


def test_demo_invoices_are_numbered_in_issue_order_without_gaps(demo_url):
    with read_session() as s:
        invoices = s.exec(select(Invoice).order_by(col(Invoice.issued_at), col(Invoice.id))).all()
        changes = s.exec(select(SeatChange)).all()
    numbers = [int(i.number.rsplit("-", 1)[1]) for i in invoices if i.number.startswith("K")]
    by_series: dict[str, list[int]] = {}
    for i in invoices:
        by_series.setdefault(i.number.rsplit("-", 1)[0], []).append(int(i.number.rsplit("-", 1)[1]))
    for series, ns in by_series.items():
        assert ns == list(range(1, len(ns) + 1)), series
    assert len(numbers) == len(invoices)
    assert {i.status for i in invoices} >= {"paid", "open", "void", "refunded"}
    assert all(c.invoice_id is not None for c in changes) and len(changes) == 2


def test_todays_usage_in_the_ledger_is_dated_now_not_tonight(session):
    team = create_team(session)
    owner = team["owner"]
    now = datetime.now(UTC).replace(microsecond=0)
    past = (now.replace(day=1) - timedelta(days=20)).replace(hour=12)
    usage.insert_events(
        session,
        org_id=owner.org_id,
        events=[
            usage_event(owner.id, now - timedelta(seconds=1), cost_micros=1_000_000),
            usage_event(owner.id, past, cost_micros=2_000_000),
        ],
    )
    rows = billing.list_ledger(session, actor=owner, now=now)
    this_month, last_month = [r for r in rows if r.kind == "usage"]
    assert this_month.at == now and this_month.description.endswith("(to date)")
    month_end = now.replace(day=1, hour=0, minute=0, second=0) - timedelta(seconds=1)
    assert last_month.at == month_end and last_month.amount_micros == -2_000_000


def test_demo_owner_sees_every_number_once(demo_url):
    with read_session() as s:
        owner = actor_for(s.exec(select(Member).where(Member.username == "owner")).one())
        rows = billing.list_invoices(s, actor=owner)
    assert len({r.number for r in rows}) == len(rows)
    assert [r.issued_at for r in rows] == sorted((r.issued_at for r in rows), reverse=True)
