"""Engine, sessions and migrations.

`DATABASE_URL` selects the database (default `sqlite:///data/kilo.db`). The URL is
resolved inside `get_engine()` and engines are cached per URL, because AppTest runs
many scripts in one process and tests switch databases.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = f"sqlite:///{ROOT / 'data' / 'kilo.db'}"


def database_url() -> str:
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgres://")
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def get_engine(url: str | None = None) -> Engine:
    return _engine_for(url or database_url())


# The SQLite database holds password hashes and billing data: readable by the server's user
# only, whatever the umask. SQLite gives its -wal/-shm/-journal files the database's mode.
PRIVATE_MODE = 0o600
_SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def make_private(path: str | os.PathLike[str]) -> None:
    """Create the SQLite file `path` (mode 0600) if it is missing; take group and other
    access away from it and its side files if they exist already."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        pass
    else:
        os.close(fd)
        os.chmod(path, PRIVATE_MODE)  # the umask may have taken the owner's bits too
    for suffix in _SQLITE_SIDE_FILES:
        side = path.with_name(path.name + suffix)
        try:
            mode = side.stat().st_mode & 0o777
        except FileNotFoundError:
            continue
        if mode & 0o077:
            try:
                os.chmod(side, mode & 0o700)
            except PermissionError:  # another user's file: theirs to protect
                pass


def _sqlite_file(url: str) -> str | None:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


POOL_SIZE = 20  # connections an engine keeps open


@cache
def _engine_for(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = _sqlite_file(url)
        if path is not None:
            make_private(path)
        # The pool keeps as many connections as the server's threads use at once (the API's
        # thread pool: 28; a connection opened past the pool is closed after its one use,
        # and opening one runs the PRAGMAs below again).
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=POOL_SIZE,
            max_overflow=10,
        )
        _configure_sqlite(engine)
    else:
        # PostgreSQL: a new connection costs a backend process (~5-10 ms here).
        engine = create_engine(url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=10)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # noqa: ANN001
        # Take transaction control from the driver so writes can BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.execute("PRAGMA cache_size=-131072")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        # Writers take the write lock up front: a deferred transaction that reads
        # and then writes fails at once in WAL mode when another writer got there first.
        immediate = conn.get_execution_options().get("kilo_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@cache
def _autocommit_engine(url: str) -> Engine:
    engine = _engine_for(url)
    if engine.dialect.name != "postgresql":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


@contextmanager
def read_session(url: str | None = None, *, autocommit: bool = False) -> Iterator[Session]:
    """A session for reading. `autocommit`: on PostgreSQL each statement runs on its own,
    without the BEGIN and ROLLBACK round trips around them (the gateway's decisions, one
    statement or a few). Under PostgreSQL's READ COMMITTED each statement sees its own
    snapshot inside a transaction too, so reads lose nothing; never write through it.
    SQLite ignores it (its BEGIN costs no round trip, and keeps the reads on one snapshot)."""
    engine = _autocommit_engine(url or database_url()) if autocommit else get_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        yield session


@contextmanager
def write_session(url: str | None = None) -> Iterator[Session]:
    """One transaction: commits when the block ends, rolls back entirely on any error."""
    engine = get_engine(url).execution_options(kilo_write=True)
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# Advisory-lock key space of per-organization locks (audit's chain lock uses 7_000_000 + id).
ORG_LOCK_BASE = 7_100_000


def lock_organization(session: Session, org_id: int) -> None:
    """Serialise the writes of one organization that check what they change.

    Take it before reading anything the write checks (last owner, free seats, balance,
    an invitation's state), so that two requests cannot both pass a check that only one
    of them may pass. PostgreSQL: a transaction-level advisory lock, released at commit
    or rollback and re-entrant within the transaction. SQLite: a no-op, because writes
    run in `write_session`, whose BEGIN IMMEDIATE already holds the database's write lock.
    Take it before `audit.record` (which takes the audit chain's lock) to keep one order.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.exec(text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=ORG_LOCK_BASE + org_id))


def _alembic_config():  # an alembic.config.Config (imported late: alembic is slow to import)
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    return cfg


# Advisory-lock key of the migrations (PostgreSQL): "kilomigr".
MIGRATION_LOCK = 0x6B696C6F6D696772


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """One migrating process at a time per database. Several processes migrate at start-up
    (the dashboard's server, a separate API process, the CLI, replicas on PostgreSQL); each
    waits for the one migrating and then finds the schema at head. PostgreSQL: a session
    advisory lock on a connection of its own. A SQLite file: an exclusive `flock` on a lock
    file beside it (private like the database)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:k)").bindparams(k=MIGRATION_LOCK))
            try:
                yield
            finally:
                connection.execute(
                    text("SELECT pg_advisory_unlock(:k)").bindparams(k=MIGRATION_LOCK)
                )
                connection.commit()
        return
    path = _sqlite_file(str(engine.url))
    if path is None:  # in memory: one process
        yield
        return
    import fcntl

    lock_path = Path(path).with_name(Path(path).name + "-migrate-lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, PRIVATE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def migrate(url: str | None = None) -> None:
    """Bring the schema to the newest Alembic revision (run at start-up); safe to run from
    several processes at once (`_migration_lock`)."""
    from alembic import command

    engine = get_engine(url)
    cfg = _alembic_config()
    cfg.attributes["engine"] = engine
    with _migration_lock(engine):
        command.upgrade(cfg, "head")


@cache
def head_revisions() -> tuple[str, ...]:
    """The newest revision(s) of the migration scripts shipped with this code."""
    from alembic.script import ScriptDirectory

    return tuple(sorted(ScriptDirectory.from_config(_alembic_config()).get_heads()))


def current_revisions(url: str | None = None) -> tuple[str, ...]:
    """The revision(s) the database is at (empty for a database never migrated).
    Raises SQLAlchemy's OperationalError when the database cannot be reached."""
    from alembic.runtime.migration import MigrationContext

    with get_engine(url).connect() as connection:
        return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))
