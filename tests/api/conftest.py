"""HTTP tests against a real `streamlit run server.py` (dashboard and /api/ in one process)
on a free port, with its own SQLite database. The tests prepare organizations, keys and
tokens through the `kilo` services on the same database file, then call the API over HTTP."""

from __future__ import annotations

import http.client
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlmodel import select

from kilo import apikeys, billing, db
from kilo.members import actor_for
from kilo.models import CatalogModel, Member, Provider
from kilo.permissions import Actor
from tests.e2e.conftest import dashboard
from tests.factories import create_member, create_org

WHSEC = "whsec_api_test_secret"
SONNET = "anthropic/claude-sonnet-4.5"  # served by anthropic (does not train)
TRAINED = "acme/open-model"  # served only by a provider that trains on prompts


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str:
        return self.json()["error"]["code"]


@dataclass
class Server:
    url: str
    db_url: str

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: bytes | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            return Reply(
                response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            )
        finally:
            conn.close()


@pytest.fixture(scope="session")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the HTTP tests: no demo, a webhook secret and no Stripe API key."""
    workdir: Path = tmp_path_factory.mktemp("api")
    with dashboard(
        workdir, KILO_DEMO="0", STRIPE_WEBHOOK_SECRET=WHSEC, STRIPE_SECRET_KEY=""
    ) as url:
        server = Server(url=url, db_url=f"sqlite:///{workdir / 'kilo.db'}")
        health = server.call("GET", "/api/health")  # migrated by the server's start-up
        assert (health.status, health.json()["status"]) == (200, "ok"), health.body[:200]
        with db.write_session(server.db_url) as session:
            _catalogue(session)
        yield server
    db.get_engine(server.db_url).dispose()


def _catalogue(session) -> None:  # noqa: ANN001
    """A tiny model catalogue: the operator's data, shared by every organization."""
    if session.get(Provider, "anthropic") is not None:
        return
    session.add(Provider(slug="anthropic", name="Anthropic", training=False))
    session.add(Provider(slug="trainy", name="Trainy", training=True))
    session.add(CatalogModel(id=SONNET, name="Claude Sonnet 4.5", providers=["anthropic"]))
    session.add(CatalogModel(id=TRAINED, name="Open Model", providers=["trainy"]))


@dataclass
class Org:
    """An organization with an owner, an admin and a member, its API tokens and the
    member's API key."""

    org_id: int
    owner: Actor
    admin: Actor
    member: Actor
    gateway_token: str
    read_token: str
    key: str
    key_id: int


def make_org(server: Server, *, credits_micros: int = 100_000_000) -> Org:
    with db.write_session(server.db_url) as session:
        org = create_org(session)
        suffix = secrets.token_hex(4)
        actors = {
            role: actor_for(create_member(session, org, role, email=f"{role}-{suffix}@example.com"))
            for role in ("owner", "admin", "member")
        }
        _, gateway_token = apikeys.create_token(
            session, actor=actors["admin"], name="LiteLLM", scope="gateway"
        )
        _, read_token = apikeys.create_token(
            session, actor=actors["owner"], name="Finance", scope="read"
        )
        key, secret = apikeys.create_api_key(session, actor=actors["member"], name="laptop")
        if credits_micros:
            billing.add_ledger_entry(
                session,
                actor=actors["owner"],
                kind="promo",
                amount_micros=credits_micros,
                description="Test credits",
            )
        return Org(
            org.id,
            actors["owner"],
            actors["admin"],
            actors["member"],
            gateway_token,
            read_token,
            secret,
            key.id,
        )


def member_email(server: Server, member_id: int) -> str:
    with db.read_session(server.db_url) as session:
        return session.exec(select(Member.email).where(Member.id == member_id)).one()


@pytest.fixture
def org(api_server: Server) -> Org:
    return make_org(api_server)
