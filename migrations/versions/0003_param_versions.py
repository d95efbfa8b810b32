"""Parameter versions: the fit as version 1, a player's or game server's edits after it.

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-06 03:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "param_versions",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "author IN ('fit', 'player', 'client')", name=op.f("ck_param_versions_author")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
            name=op.f("fk_param_versions_job_id_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "version", name=op.f("pk_param_versions")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("params_version", sa.Integer(), server_default="1", nullable=False)
        )
    # Every job fitted before this revision gets its fit as version 1.
    op.execute(
        "INSERT INTO param_versions (job_id, version, params, author, created_at) "
        "SELECT id, 1, params, 'fit', COALESCE(finished_at, created_at) FROM jobs "
        "WHERE status = 'succeeded' AND params IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("params_version")
    op.drop_table("param_versions")
