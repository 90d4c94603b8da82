"""Label events: the Label Studio task index covers only events that have a task (partial index).

Import, model and gold events carry no Label Studio ids, yet each of them added a (NULL, NULL) entry to
``ix_label_events_ext_task``; a bulk ingest writes one import event per labelled row, so that entry was a measurable
part of its cost (bench/ingest.md). The only query on the index (events of given tasks of a project) names
``ext_task_id IN (...)``, which implies ``ext_task_id IS NOT NULL``, so SQLite and PostgreSQL both still use it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 00:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HAS_TASK = sa.text("ext_task_id IS NOT NULL")


def upgrade() -> None:
    # Index changes only (no batch "recreate"): recreating label_events would drop its append-only triggers.
    op.drop_index("ix_label_events_ext_task", "label_events")
    op.create_index(
        "ix_label_events_ext_task",
        "label_events",
        ["ext_project_id", "ext_task_id"],
        sqlite_where=HAS_TASK,
        postgresql_where=HAS_TASK,
    )


def downgrade() -> None:
    op.drop_index("ix_label_events_ext_task", "label_events")
    op.create_index("ix_label_events_ext_task", "label_events", ["ext_project_id", "ext_task_id"])
