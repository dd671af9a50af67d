"""Drop schema_version, the hand-written migrations' record, where a database still has one.

Alembic's alembic_version is the one record of the schema's version from 0001 on; a stale
schema_version saying 3 would mislead whoever reads it. Its rows only said when versions 1 to 3
were applied. A database built by Alembic never had the table, hence IF EXISTS.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 21:55:00
"""

import time

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP TABLE IF EXISTS schema_version")


def downgrade() -> None:
    # Put back what the release before Alembic expects to find: versions 1 to 3 applied.
    table = op.create_table(
        "schema_version",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("applied_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )
    now = time.time()
    op.bulk_insert(table, [{"version": v, "applied_at": now} for v in (1, 2, 3)])
