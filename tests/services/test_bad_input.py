"""Property-based bad input: every service answers arbitrary input with success or a clear
KiloError, never another exception, and a refused call leaves the database exactly as it was."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, inspect, select, text
from sqlmodel import Session

from kilo import billing, catalog, invitations, members, modes, organization, usage
from kilo.db import get_engine, write_session
from kilo.errors import KiloError
from kilo.permissions import system_actor
from tests.factories import create_team

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
texts = st.text(max_size=300)
weird = st.one_of(
    texts,
    st.sampled_from(
        [
            "",
            " ",
            "a@b.c",
            "x" * 400,
            "\x00",
            "Ω@例え.jp",
            "=cmd|' /C calc'!A0",
            "<script>",
            "null",
            "../../etc",
        ]
    ),
)


@pytest.fixture
def team(db_url):
    with write_session(db_url) as s:
        return create_team(s)


def snapshot(url: str) -> dict[str, int]:
    engine = get_engine(url)
    with engine.connect() as conn:
        return {
            t: conn.execute(select(func.count()).select_from(text(f'"{t}"'))).scalar()
            for t in inspect(engine).get_table_names()
            if t != "alembic_version"
        }


def attempt(url: str, change: Callable[[Session], object]) -> None:
    """Run a change; if it is refused, nothing at all may have been written."""
    before = snapshot(url)
    try:
        with write_session(url) as s:
            change(s)
    except KiloError as exc:
        assert str(exc).strip(), "a refusal needs a message"
        assert snapshot(url) == before, f"partial write after: {exc}"


@SETTINGS
@given(email=weird, role=st.sampled_from(["owner", "admin", "member", "", "root"]))
def test_invite_any_email(db_url, team, email, role):
    attempt(
        db_url, lambda s: invitations.invite_member(s, actor=team["owner"], email=email, role=role)
    )


@SETTINGS
@given(name=weird)
def test_rename_any_name(db_url, team, name):
    attempt(db_url, lambda s: organization.rename_organization(s, actor=team["admin"], name=name))


@SETTINGS
@given(name=weird, limit=st.one_of(st.none(), st.integers(-(10**12), 10**15)))
def test_update_member_any_profile(db_url, team, name, limit):
    attempt(
        db_url,
        lambda s: members.update_member(
            s,
            actor=team["owner"],
            member_id=team["member"].id,
            name=name,
            daily_spend_limit_micros=limit,
        ),
    )


@SETTINGS
@given(seats=st.integers(-(10**6), 10**6))
def test_any_seat_count(db_url, team, seats):
    attempt(db_url, lambda s: billing.change_seats(s, actor=team["owner"], seats=seats))


@SETTINGS
@given(token=weird, name=weird, password=weird)
def test_accept_any_token(db_url, team, token, name, password):
    attempt(
        db_url,
        lambda s: invitations.accept_invitation(s, token=token, name=name, password=password),
    )


@SETTINGS
@given(
    amount=st.integers(-(10**13), 10**13),
    description=weird,
    kind=st.sampled_from(["adjustment", "promo", "purchase", "refund", ""]),
)
def test_any_ledger_entry(db_url, team, amount, description, kind):
    attempt(
        db_url,
        lambda s: billing.add_ledger_entry(
            s, actor=team["owner"], kind=kind, amount_micros=amount, description=description
        ),
    )


@SETTINGS
@given(company=weird, address=weird, tax_id=weird, email=weird)
def test_any_billing_details(db_url, team, company, address, tax_id, email):
    attempt(
        db_url,
        lambda s: billing.update_billing_details(
            s, actor=team["owner"], company=company, address=address, tax_id=tax_id, email=email
        ),
    )


@SETTINGS
@given(
    document=st.one_of(
        texts,
        st.builds(
            json.dumps,
            st.dictionaries(
                st.sampled_from(["customModes", "slug", "x"]),
                st.lists(
                    st.dictionaries(
                        st.sampled_from(["slug", "name", "roleDefinition", "groups"]),
                        st.one_of(texts, st.lists(texts, max_size=3)),
                    ),
                    max_size=3,
                ),
            ),
        ),
    )
)
def test_import_any_modes_document(db_url, team, document):
    attempt(db_url, lambda s: modes.import_modes(s, actor=team["admin"], text=document))


@SETTINGS
@given(
    content=st.one_of(
        st.binary(max_size=500),
        texts.map(str.encode),
        st.just(b"timestamp,user_email,model,provider\n2026-01-01,nobody@example.com,a/b,x\n"),
    )
)
def test_ingest_any_file(db_url, team, tmp_path_factory, content):
    path = tmp_path_factory.mktemp("ingest") / "usage.csv"
    path.write_bytes(content)
    attempt(db_url, lambda s: usage.import_usage(s, actor=team["admin"], path=path))


@SETTINGS
@given(
    content=st.one_of(
        texts,
        st.builds(
            json.dumps,
            st.dictionaries(
                st.just("data"),
                st.lists(
                    st.dictionaries(
                        st.sampled_from(["id", "name", "pricing"]), st.one_of(texts, st.integers())
                    ),
                    max_size=3,
                ),
            ),
        ),
    )
)
def test_catalog_import_any_file(db_url, team, tmp_path_factory, content):
    path = tmp_path_factory.mktemp("catalog") / "models.json"
    path.write_text(content)
    operator = system_actor(team["admin"].org_id)
    attempt(db_url, lambda s: catalog.import_catalog(s, actor=operator, models_path=path))


def test_nul_characters_are_refused_everywhere(db_url, team, tmp_path):
    """PostgreSQL cannot store NUL in text: every entry point refuses it with a message."""
    models = tmp_path / "models.json"
    models.write_text(
        json.dumps({"data": [{"id": "abc/b", "name": "B", "description": "d\u0000"}]})
    )
    providers = tmp_path / "providers.json"
    providers.write_text(json.dumps({"data": [{"slug": "abc", "name": "A"}]}))
    csv_file = tmp_path / "usage.csv"
    csv_file.write_text(
        "timestamp,user_email,model,provider,mode,input_tokens,output_tokens,cost_usd,"
        f"latency_ms,status\n2026-01-01T00:00:00Z,{team['owner'].email},a/b\x00,x,code,"
        "1,1,0.1,1,success\n"
    )
    changes = [
        lambda s: catalog.import_catalog(
            s,
            actor=system_actor(team["admin"].org_id),
            models_path=models,
            providers_path=providers,
        ),
        lambda s: usage.import_usage(s, actor=team["admin"], path=csv_file),
        lambda s: organization.rename_organization(s, actor=team["owner"], name="A\x00B"),
        lambda s: billing.add_ledger_entry(
            s, actor=team["owner"], kind="promo", amount_micros=1, description="x\x00"
        ),
    ]
    for change in changes:
        before = snapshot(db_url)
        with pytest.raises(KiloError):
            with write_session(db_url) as s:
                change(s)
        assert snapshot(db_url) == before


@SETTINGS
@given(
    kind=st.sampled_from(["email", "slack", "webhook", "", "sms"]),
    name=weird,
    target=st.one_of(
        weird,
        st.sampled_from(
            [
                "https://hooks.example.com/x",
                "http://[::1",
                "https://:99999/",
                "javascript:alert(1)",
                "https://a.b/" + "x" * 2100,
                "https://user@host/",
            ]
        ),
    ),
)
def test_any_alert_channel(db_url, team, kind, name, target):
    from kilo import alerts

    attempt(
        db_url,
        lambda s: alerts.create_channel(
            s, actor=team["admin"], kind=kind, name=name, target=target
        ),
    )


@SETTINGS
@given(
    thresholds=weird,
    runway=st.integers(-(10**6), 10**6),
    minimum=st.integers(-(10**16), 10**16),
)
def test_any_alert_rules(db_url, team, thresholds, runway, minimum):
    from kilo import alerts

    attempt(
        db_url,
        lambda s: alerts.update_settings(
            s,
            actor=team["admin"],
            budget_thresholds=alerts.parse_thresholds(thresholds),
            runway_days=runway,
            anomaly_enabled=True,
            anomaly_min_micros=minimum,
        ),
    )
