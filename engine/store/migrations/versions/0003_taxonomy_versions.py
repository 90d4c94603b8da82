"""Taxonomy versions: the versioned label schema, the version each label event was made under, and several tasks
per item in one Label Studio project (a taxonomy split re-queues items as fresh tasks).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "taxonomy_versions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("parent_id", sa.String(length=64), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("schema", sa.JSON(), nullable=False),
        sa.Column("migration", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["taxonomy_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("seq"),
    )
    # Plain ALTER TABLE ADD COLUMN (no batch "recreate"): recreating label_events would drop its append-only
    # triggers.
    op.add_column("label_events", sa.Column("taxonomy_version", sa.String(length=64), nullable=True))
    # pushed_tasks has no triggers: SQLite's batch "recreate" is safe there.
    with op.batch_alter_table("pushed_tasks") as batch:
        batch.drop_constraint("uq_pushed_item", type_="unique")


def downgrade() -> None:
    with op.batch_alter_table("pushed_tasks") as batch:
        batch.create_unique_constraint("uq_pushed_item", ["ls_project_id", "item_id"])
    op.drop_column("label_events", "taxonomy_version")
    op.drop_table("taxonomy_versions")
