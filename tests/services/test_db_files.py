"""The SQLite database (password hashes, billing data) is readable by the server's user only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from kilo import db


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask():
    """The usual umask (group and others may read what is created); restored afterwards."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_new_database_and_its_wal_files_are_0600(tmp_path, open_umask):
    path = tmp_path / "data" / "kilo.db"
    url = f"sqlite:///{path}"
    db.migrate(url)
    with db.write_session(url) as session:  # writing in WAL mode creates -wal and -shm
        session.execute(text("CREATE TABLE probe (x INTEGER)"))
        session.execute(text("INSERT INTO probe VALUES (1)"))
    files = [path, path.with_name("kilo.db-wal"), path.with_name("kilo.db-shm")]
    assert all(f.exists() for f in files)
    assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}


def test_an_existing_world_readable_database_is_made_private(tmp_path, open_umask):
    path = tmp_path / "old.db"
    path.touch(mode=0o644)
    wal = tmp_path / "old.db-wal"
    wal.touch(mode=0o664)
    os.chmod(path, 0o644)
    os.chmod(wal, 0o664)
    db.get_engine(f"sqlite:///{path}")
    assert (_mode(path), _mode(wal)) == (0o600, 0o600)


def test_a_umask_without_owner_write_still_gives_a_usable_0600_file(tmp_path):
    old = os.umask(0o277)
    try:
        db.make_private(tmp_path / "strict.db")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "strict.db") == 0o600
