"""Label Studio sync: pushed tasks, sync cursors, Label Studio ids on label events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:50:06.255961
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sync_state",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "pushed_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=True),
        sa.Column("ls_project_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("prelabel_model_version", sa.String(length=64), nullable=True),
        sa.Column("prelabel", sa.String(length=255), nullable=True),
        sa.Column("prelabel_score", sa.Float(), nullable=True),
        sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["rounds.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ls_project_id", "item_id", name="uq_pushed_item"),
        sa.UniqueConstraint("ls_project_id", "task_id", name="uq_pushed_task"),
    )
    # Plain ALTER TABLE ADD COLUMN (no batch "recreate"): recreating label_events would drop its append-only
    # triggers.
    op.add_column("label_events", sa.Column("ext_project_id", sa.Integer(), nullable=True))
    op.add_column("label_events", sa.Column("ext_task_id", sa.Integer(), nullable=True))
    op.add_column("label_events", sa.Column("ext_annotation_id", sa.Integer(), nullable=True))
    op.create_index("ix_label_events_ext_task", "label_events", ["ext_project_id", "ext_task_id"])


def downgrade() -> None:
    op.drop_index("ix_label_events_ext_task", "label_events")
    for column in ("ext_annotation_id", "ext_task_id", "ext_project_id"):
        op.drop_column("label_events", column)

    op.drop_table("pushed_tasks")
    op.drop_table("sync_state")
