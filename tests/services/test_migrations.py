"""The Alembic migrations build exactly the schema kilo/models.py declares."""

from alembic import command
from alembic.config import Config

from kilo.db import ROOT, get_engine, migrate


def test_models_and_migrations_agree(db_url):
    migrate(db_url)  # idempotent: already at head
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["engine"] = get_engine(db_url)
    command.check(cfg)  # raises when autogenerate would find a difference
