"""invoice parties recorded at issue

An issued invoice keeps the seller's and the customer's details it was issued with
(`invoice.parties`, written by `kilo.billing.issue.issue_invoice`). Invoices already issued
get no record: the seller's settings live in the environment, not in the database, so the
details at upgrade time would not be the ones they were issued with. Their PDFs print the
current details and say so (README, "Invoices").

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 12:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("invoice", sa.Column("parties", sa.JSON(), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE .. DROP COLUMN (SQLite 3.35+): a batch copy would drop and recreate
    # a table other tables' foreign keys point at.
    op.drop_column("invoice", "parties")
