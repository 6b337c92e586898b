"""Regenerate the initial migration from kilo/models.py (pre-release only).

Until the first release there are no deployed databases, so the schema lives in a single
initial revision. After the first release, add revisions with
`alembic revision --autogenerate -m "..."` instead of running this.
Usage: python migrations/regen.py
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for old in (ROOT / "migrations" / "versions").glob("0001_*.py"):
    old.unlink()
with tempfile.TemporaryDirectory() as tmp:
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp}/empty.db")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "alembic",
            "revision",
            "--autogenerate",
            "--rev-id",
            "0001",
            "-m",
            "initial schema",
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )
subprocess.run([sys.executable, "-m", "ruff", "format", "migrations/versions"], cwd=ROOT)
