"""Every change made through a service writes its audit entry, with the right action name.

Walks the services on the demo database (members, seats, organization settings, model
access, modes, billing, usage import, catalogue import, sign-in/out), one transaction per
step, and checks the entries each step added. At the end the chain still verifies.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from kilo import (
    access,
    audit,
    billing,
    catalog,
    invitations,
    members,
    modes,
    organization,
    sessions,
    usage,
)
from kilo.db import ROOT, write_session
from kilo.members import actor_for
from kilo.models import AuditEntry, Invoice, Member, Organization
from kilo.permissions import Actor, system_actor


def _actor(username: str) -> Actor:
    with write_session() as s:
        return actor_for(s.exec(select(Member).where(Member.username == username)).one())


class Walk:
    """Runs a step in its own transaction and returns the audit entries it added."""

    def __init__(self, org_id: int) -> None:
        self.org_id = org_id
        self.seen: list[str] = []

    def _last_id(self) -> int:
        with write_session() as s:
            return (
                s.exec(
                    select(AuditEntry.id)
                    .where(AuditEntry.org_id == self.org_id)
                    .order_by(col(AuditEntry.id).desc())
                ).first()
                or 0
            )

    def step(self, fn, *expected: str):  # noqa: ANN001, ANN201
        before = self._last_id()
        with write_session() as s:
            result = fn(s)
        with write_session() as s:
            added = s.exec(
                select(AuditEntry)
                .where(AuditEntry.org_id == self.org_id, AuditEntry.id > before)
                .order_by(AuditEntry.id)
            ).all()
        assert [e.action for e in added] == list(expected), fn
        for e in added:
            assert e.message, f"{e.action} has no message"
            assert e.created_at.tzinfo is not None
        self.seen += [e.action for e in added]
        return result, added


@pytest.fixture
def walk(demo_url):
    """The walk; afterwards, no statement may have updated or deleted an audit entry."""
    rewrites: list[str] = []

    def spy(conn, cursor, statement, *args):  # noqa: ANN001, ANN002
        words = " ".join(statement.lower().split())
        if words.startswith(("update auditentry", "delete from auditentry")):
            rewrites.append(statement)

    event.listen(Engine, "before_cursor_execute", spy)
    try:
        yield Walk(_actor("owner").org_id)
    finally:
        event.remove(Engine, "before_cursor_execute", spy)
    assert rewrites == [], "the application must never update or delete audit entries"


def test_member_services_write_their_entries(walk):
    owner, admin = _actor("owner"), _actor("admin")
    (inv, token), added = walk.step(
        lambda s: invitations.invite_member(s, actor=admin, email="new.person@example.com"),
        "organization.member.invite",
    )
    assert added[0].actor_id == admin.id and added[0].target == "new.person@example.com"
    assert added[0].actor_name == admin.name and added[0].actor_email == admin.email
    new, added = walk.step(
        lambda s: invitations.accept_invitation(
            s, token=token, name="New Person", password="plenty-long-enough-1"
        ),
        "organization.member.accept_invitation",
    )
    assert added[0].actor_id == new.id
    (inv2, _), _ = walk.step(
        lambda s: invitations.invite_member(s, actor=owner, email="other@example.com"),
        "organization.member.invite",
    )
    walk.step(
        lambda s: invitations.revoke_invitation(s, actor=owner, invitation_id=inv2.id),
        "organization.member.revoke_invitation",
    )
    _, added = walk.step(
        lambda s: members.change_role(s, actor=owner, member_id=new.id, role="admin"),
        "organization.member.change_role",
    )
    assert added[0].details["changes"] == {"role": ["member", "admin"]}
    assert "member → admin" in added[0].message
    walk.step(
        lambda s: members.update_member(
            s,
            actor=owner,
            member_id=new.id,
            name="New P. Person",
            daily_spend_limit_micros=5_000_000,
        ),
        "organization.member.update",
    )
    walk.step(
        lambda s: members.remove_member(s, actor=admin, member_id=new.id),
        "organization.member.remove",
    )
    result, _ = walk.step(
        lambda s: sessions.sign_in(s, username="admin", password="kilo-demo"),
        "organization.user.login",
    )
    walk.step(lambda s: sessions.sign_out(s, token=result.token), "organization.user.logout")
    walk.step(
        lambda s: sessions.sign_in(s, username="admin", password="wrong"),
        "organization.user.login_failed",
    )
    # A refused change writes nothing (its transaction rolls back with the entry).
    before = walk._last_id()
    with pytest.raises(Exception, match="own role"), write_session() as s:
        members.change_role(s, actor=admin, member_id=admin.id, role="owner")
    assert walk._last_id() == before
    with write_session() as s:
        assert audit.verify_chain(s, org_id=walk.org_id).ok


def test_organization_settings_and_seats_write_their_entries(walk):
    owner, admin = _actor("owner"), _actor("admin")
    _, added = walk.step(
        lambda s: organization.rename_organization(s, actor=admin, name="Acme Robotics GmbH"),
        "organization.settings.change",
    )
    assert added[0].details == {
        "field": "name",
        "before": "Acme Robotics",
        "after": "Acme Robotics GmbH",
    }
    with write_session() as s:
        org = s.get(Organization, walk.org_id)
        analytics = org.usage_analytics_enabled
        current_default = org.default_model
        candidates = [
            m for m in access.allowed_model_ids(s, org_id=walk.org_id) if m != current_default
        ]
    walk.step(
        lambda s: organization.set_policies(s, actor=admin, usage_analytics_enabled=not analytics),
        "organization.settings.change",
    )
    _, added = walk.step(
        lambda s: organization.set_default_model(s, actor=admin, model_id=candidates[0]),
        "organization.settings.change",
    )
    assert added[0].target == "default_model" and added[0].details["after"] == candidates[0]
    with write_session() as s:
        seats = s.get(Organization, walk.org_id).seats
    _, added = walk.step(
        lambda s: billing.change_seats(s, actor=owner, seats=seats + 3, config=None),
        "organization.seats.change",
    )
    assert f"{seats} → {seats + 3}" in added[0].message


def test_model_access_and_modes_write_their_entries(walk):
    admin = _actor("admin")
    with write_session() as s:
        org = s.get(Organization, walk.org_id)
        auto_allow = org.auto_allow_new_models
        victim = next(
            m for m in access.allowed_model_ids(s, org_id=walk.org_id) if m != org.default_model
        )
    _, added = walk.step(
        lambda s: access.change_access(
            s, actor=admin, change=access.AccessChange(disable_models=(victim,))
        ),
        "organization.model_access.change",
    )
    assert victim in added[0].details["disabled_models"]
    walk.step(
        lambda s: access.set_new_model_policy(s, actor=admin, auto_allow=not auto_allow),
        "organization.model_access.change",
    )

    mode = modes.ModeConfig(
        slug="docs-writer",
        name="Docs Writer",
        role_definition="You write documentation.",
        groups=["read"],
    )
    walk.step(lambda s: modes.create_mode(s, actor=admin, mode=mode), "organization.mode.create")
    changed = modes.ModeConfig(
        slug="docs-writer",
        name="Docs Writer",
        role_definition="You write short documentation.",
        groups=["read", "edit"],
    )
    walk.step(
        lambda s: modes.update_mode(s, actor=admin, slug="docs-writer", mode=changed),
        "organization.mode.update",
    )
    walk.step(
        lambda s: modes.delete_mode(s, actor=admin, slug="docs-writer"), "organization.mode.delete"
    )
    doc = modes.dump_document(
        [
            modes.ModeConfig(
                slug="reviewer-two",
                name="Reviewer Two",
                role_definition="You review.",
                groups=["read"],
            )
        ]
    )
    _, added = walk.step(
        lambda s: modes.import_modes(s, actor=admin, text=doc), "organization.mode.create"
    )
    assert added[0].details.get("source") == "import"
    _, added = walk.step(
        lambda s: modes.duplicate_mode(s, actor=admin, slug="reviewer-two"),
        "organization.mode.create",
    )
    assert added[0].details.get("source") == "duplicate"
    _, added = walk.step(
        lambda s: modes.set_builtin_disabled(s, actor=admin, slug="ask", disabled=True),
        "organization.mode.update",
    )
    assert added[0].target == "ask"
    walk.step(
        lambda s: modes.set_builtin_disabled(s, actor=admin, slug="ask", disabled=False),
        "organization.mode.update",
    )
    # The demo adjusts the built-in Architect mode; resetting it is an update too.
    _, added = walk.step(
        lambda s: modes.reset_builtin(s, actor=admin, slug="architect"), "organization.mode.update"
    )
    assert added[0].details["change"] == "reset"


def test_billing_services_write_their_entries(walk):
    owner = _actor("owner")
    _, added = walk.step(
        lambda s: billing.start_credit_purchase(s, actor=owner, amount_cents=5_000, config=None),
        "billing.credits.purchase",
    )
    number = added[0].target
    with write_session() as s:
        invoice_id = s.exec(select(Invoice.id).where(Invoice.number == number)).one()
    walk.step(
        lambda s: billing.refund_purchase(
            s, actor=owner, invoice_id=invoice_id, amount_cents=1_000, config=None
        ),
        "billing.refund",
    )
    walk.step(
        lambda s: billing.add_ledger_entry(
            s,
            actor=owner,
            kind="adjustment",
            amount_micros=-2_000_000,
            description="Goodwill correction",
        ),
        "billing.adjustment",
    )
    walk.step(
        lambda s: billing.set_low_balance_alert(s, actor=owner, threshold_micros=25_000_000),
        "billing.alert.change",
    )
    walk.step(
        lambda s: billing.update_billing_details(
            s,
            actor=owner,
            company="Acme Robotics GmbH",
            address="Hauptstr. 1\n10115 Berlin",
            tax_id="DE123456789",
            email="billing@acme-robotics.example",
        ),
        "billing.details.change",
    )


def test_stripe_checkout_writes_its_entries(walk):
    from kilo.stripe_gateway import StripeConfig
    from tests.fake_stripe import FakeStripe

    owner = _actor("owner")
    with FakeStripe() as fake:
        config = StripeConfig("sk_test_fake", webhook_secret="whsec_x", api_base=fake.url)
        start, added = walk.step(
            lambda s: billing.start_credit_purchase(
                s, actor=owner, amount_cents=7_500, config=config
            ),
            "billing.customer.link",  # the first purchase creates the Stripe customer
            "billing.credits.checkout",
        )
        assert added[0].target.startswith("cus_") and added[1].target == start.session_id
        fake.complete_session(start.session_id)
        walk.step(
            lambda s: billing.complete_checkout(
                s, actor=owner, stripe_session_id=start.session_id, config=config
            ),
            "billing.credits.purchase",
        )
        # Coming back to the page again adds no credits and writes no second entry.
        walk.step(
            lambda s: billing.complete_checkout(
                s, actor=owner, stripe_session_id=start.session_id, config=config
            )
        )


def test_stripe_invoice_webhooks_write_their_entries(walk):
    """Events Stripe sends (real payloads, see tests/data/stripe/SOURCES.md)."""
    import copy
    import json

    from kilo import stripe_events

    real = Path(__file__).resolve().parent.parent / "data" / "stripe" / "stripe-invoice-paid.json"
    paid = json.loads(real.read_text())
    customer = paid["data"]["object"]["customer"]
    with write_session() as s:
        org = s.get(Organization, walk.org_id)
        org.stripe_customer_id = customer
        s.add(org)
    failed = copy.deepcopy(paid)
    failed["type"] = "invoice.payment_failed"
    failed["data"]["object"].update(id="in_failed_walk", number="WALK-0001", status="open",
                                    attempt_count=1)  # fmt: skip
    _, added = walk.step(lambda s: stripe_events.apply_event(s, failed),
                         "billing.invoice.payment_failed")  # fmt: skip
    assert added[0].actor_id is None  # written by the system (Stripe), not a member
    walk.step(lambda s: stripe_events.apply_event(s, paid), "billing.invoice.paid")
    walk.step(lambda s: stripe_events.apply_event(s, paid))  # a redelivery writes nothing
    # A seats subscription bought through Checkout is linked to the organization.
    sub_checkout = {
        "id": "evt_walk_sub",
        "type": "checkout.session.completed",
        "data": {"object": {"id": "cs_walk_sub", "object": "checkout.session",
                            "mode": "subscription", "customer": customer,
                            "client_reference_id": str(walk.org_id),
                            "subscription": "sub_walk_1"}},
    }  # fmt: skip
    _, added = walk.step(lambda s: stripe_events.apply_event(s, sub_checkout),
                         "billing.subscription.link")  # fmt: skip
    assert added[0].target == "sub_walk_1"


def test_imports_write_their_entries(walk, tmp_path):
    admin = _actor("admin")
    with write_session() as s:
        email = s.exec(select(Member.email).where(Member.username == "member")).one()
    path = tmp_path / "usage.csv"
    path.write_text(
        "timestamp,user_email,model,provider,input_tokens,output_tokens,cost_usd,latency_ms,"
        "status,id\n"
        f"2026-11-01T10:00:00Z,{email},anthropic/claude-sonnet-4.5,anthropic,1200,300,0.0081,"
        "900,success,audit-walk-1\n"
    )
    _, added = walk.step(
        lambda s: usage.import_usage(s, actor=admin, path=path), "organization.usage.import"
    )
    assert added[0].details["imported"] == 1 and added[0].target == "usage.csv"
    cat = ROOT / "data" / "catalog"
    _, added = walk.step(
        lambda s: catalog.import_catalog(
            s,
            actor=system_actor(walk.org_id),
            models_path=Path(cat / "models.json"),
            providers_path=cat / "providers.json",
            policies_path=cat / "provider-data-policies.json",
        ),
        "catalog.import",
    )
    assert added[0].target == "models.json"
