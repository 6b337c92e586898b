"""Add the next Alembic revision from the difference between kilo/models.py and head.

Usage: python migrations/new.py "what changed"

It migrates an empty SQLite database to head and autogenerates revision NNNN (the next
number) against it. Review the file: data that existing databases need (backfills, like
0002's) is written by hand. `tests/services/test_migrations.py` fails while models and
migrations disagree.
"""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if len(sys.argv) != 2:
    sys.exit(__doc__)
numbers = [
    int(m.group(1))
    for p in (ROOT / "migrations" / "versions").glob("*.py")
    if (m := re.match(r"(\d{4})_", p.name))
]
rev_id = f"{max(numbers, default=0) + 1:04d}"
with tempfile.TemporaryDirectory() as tmp:
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp}/head.db")
    alembic = [sys.executable, "-m", "alembic"]
    subprocess.run([*alembic, "upgrade", "head"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [*alembic, "revision", "--autogenerate", "--rev-id", rev_id, "-m", sys.argv[1]],
        cwd=ROOT,
        env=env,
        check=True,
    )
subprocess.run([sys.executable, "-m", "ruff", "format", "migrations/versions"], cwd=ROOT)
