"""Label events: the (source, external_id) index leaves import events out (partial index).

A bulk ingest writes one import event per labelled source row, and each added an entry to ``ix_label_events_ext``
(about a micro-second per row, bench/ingest.md). Import events are looked up by item instead (``Store.import_events``,
through ``ix_label_events_item``); the index still serves the lookups by external id of the other sources
(Label Studio pulls, auto-labels), whose queries carry the index's ``source <> 'import'`` term.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 03:25:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOT_IMPORT = sa.text("source <> 'import'")


def upgrade() -> None:
    # Index changes only (no batch "recreate"): recreating label_events would drop its append-only triggers.
    op.drop_index("ix_label_events_ext", "label_events")
    op.create_index(
        "ix_label_events_ext",
        "label_events",
        ["source", "external_id"],
        sqlite_where=NOT_IMPORT,
        postgresql_where=NOT_IMPORT,
    )


def downgrade() -> None:
    op.drop_index("ix_label_events_ext", "label_events")
    op.create_index("ix_label_events_ext", "label_events", ["source", "external_id"])
