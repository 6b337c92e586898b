"""Fixtures: a fresh database per test, on SQLite or (KILO_TEST_DATABASE_URL) PostgreSQL.

Databases are cloned from templates made once per run: an empty migrated one and a
seeded demo one. SQLite templates are files; PostgreSQL ones are template databases.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from kilo import db

# No per-example deadline: CI machines are shared and a first example pays for imports,
# so deadlines only make property tests flaky. Speed is measured by bench/, not tests.
settings.register_profile("kilo", deadline=None)
settings.load_profile("kilo")

PG_URL = os.environ.get("KILO_TEST_DATABASE_URL")
# Unique per process: several test runs may share one PostgreSQL server.
WORKER = f"{os.environ.get('PYTEST_XDIST_WORKER', 'gw0')}_{os.getpid()}"
_counter = itertools.count()


def _pg_admin():
    return create_engine(make_url(PG_URL).set(database="postgres"), isolation_level="AUTOCOMMIT")


def _pg_url(name: str) -> str:
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def _pg_recreate(name: str, template: str | None = None) -> str:
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(
            text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        )
    admin.dispose()
    return _pg_url(name)


def _build(url: str, demo: bool) -> None:
    db.migrate(url)
    if demo:
        from kilo import demo as demo_module

        with db.write_session(url) as session:
            demo_module.seed(session)
    db.get_engine(url).dispose()


@pytest.fixture(scope="session")
def templates(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> dict[str, str]:
    if PG_URL:
        request.addfinalizer(_drop_templates)
        out = {}
        for kind in ("empty", "demo"):
            name = f"kilo_tpl_{kind}_{WORKER}"
            url = _pg_recreate(name)
            _build(url, kind == "demo")
            out[kind] = name
        return out
    base = tmp_path_factory.mktemp("templates")
    out = {}
    for kind in ("empty", "demo"):
        path = base / f"{kind}.db"
        _build(f"sqlite:///{path}", kind == "demo")
        out[kind] = str(path)
    return out


def _drop_templates() -> None:
    admin = _pg_admin()
    with admin.connect() as conn:
        for kind in ("empty", "demo"):
            conn.execute(text(f'DROP DATABASE IF EXISTS "kilo_tpl_{kind}_{WORKER}" WITH (FORCE)'))
    admin.dispose()


def _fresh(
    kind: str, templates: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    if PG_URL:
        name = f"kilo_t_{WORKER}_{next(_counter)}"
        url = _pg_recreate(name, templates[kind])
    else:
        path = tmp_path / f"{kind}.db"
        shutil.copy(templates[kind], path)
        url = f"sqlite:///{path}"
    monkeypatch.setenv("DATABASE_URL", url)
    yield url
    db.get_engine(url).dispose()
    if PG_URL:
        admin = _pg_admin()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def db_url(templates, tmp_path, monkeypatch) -> Iterator[str]:
    """A fresh, migrated, empty database; DATABASE_URL points at it."""
    yield from _fresh("empty", templates, tmp_path, monkeypatch)


@pytest.fixture
def demo_url(templates, tmp_path, monkeypatch) -> Iterator[str]:
    """A fresh copy of the seeded demo database; DATABASE_URL points at it."""
    yield from _fresh("demo", templates, tmp_path, monkeypatch)


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    """A session on the empty database, with writers' locking (commit it yourself)."""
    engine = db.get_engine(db_url).execution_options(kilo_write=True)
    with Session(engine, expire_on_commit=False) as s:
        yield s


# ---- invoice settings ------------------------------------------------------------------

SELLER = {
    "KILO_SELLER_NAME": "Kilo Cloud Services Ltd",
    "KILO_SELLER_ADDRESS": "2 Harbour Road | Dublin D02 AB12",
    "KILO_SELLER_COUNTRY": "IE",
    "KILO_SELLER_TAX_ID": "IE9876543W",
    "KILO_SELLER_CONTACT": "invoices@kilo.example",
}


@pytest.fixture(autouse=True)
def _no_invoice_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No seller and no tax rate unless a test sets them: the shell's must not leak in."""
    for name in [*SELLER, "KILO_TAX_RATE"]:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def seller_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A complete seller (in Ireland) in the environment."""
    for name, value in SELLER.items():
        monkeypatch.setenv(name, value)
    return SELLER
