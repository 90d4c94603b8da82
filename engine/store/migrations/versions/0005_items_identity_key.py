"""Items: the unique identity index holds an 8-byte integer key (the identity hash's first 64 bits), not the
64-character hash; the unused ``items.external_id`` index goes.

A bulk ingest spent most of its time in the UNIQUE index on the random 64-character hash (7.9 µs of 13.2 µs per row
of writer time, bench/ingest.md): every insert landed on another leaf of a large text index. The full hash stays in
``identity_hash`` and is compared when a key matches, so a key collision is found and reported, never merged.
Nothing queries items by ``external_id``, and its index cost about 0.6 µs per ingested row.

SQLite cannot drop a UNIQUE constraint in place, so the table is rebuilt (Alembic batch mode: copy, drop, rename);
``labelloop.engine.store.db.migrate`` runs migrations with foreign-key enforcement off and checks the keys after.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 03:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Names for SQLite's unnamed constraints while batch mode reflects the table (so the unique one can be dropped).
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _key(identity_hash: str) -> int:
    # engine.ingest.identity.identity_key, inlined: a migration must not change when application code does
    return int.from_bytes(bytes.fromhex(identity_hash[:16]), "big", signed=True)


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column("items", sa.Column("identity_key", sa.BigInteger(), nullable=True))
    items = sa.table("items", sa.column("id", sa.Integer), sa.column("identity_key", sa.BigInteger))
    rows = bind.execute(sa.text("SELECT id, identity_hash FROM items")).fetchall()
    if rows:
        bind.execute(
            items.update().where(items.c.id == sa.bindparam("item_id")).values(identity_key=sa.bindparam("key")),
            [{"item_id": item_id, "key": _key(h)} for item_id, h in rows],
        )
    # The unique constraint on identity_hash: unnamed in a store made by 0001 on SQLite (batch mode names it through
    # NAMING), named by the database (PostgreSQL) or by a downgrade of this migration otherwise.
    unique = [
        u["name"] or "uq_items_identity_hash"
        for u in sa.inspect(bind).get_unique_constraints("items")
        if u["column_names"] == ["identity_hash"]
    ]
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table("items", recreate="always", naming_convention=NAMING) as batch:
            for name in unique:
                batch.drop_constraint(name, type_="unique")
            batch.drop_index("ix_items_external_id")
            batch.alter_column("identity_key", existing_type=sa.BigInteger(), nullable=False)
            batch.create_index("ux_items_identity_key", ["identity_key"], unique=True)
    else:
        for name in unique:
            op.drop_constraint(name, "items", type_="unique")
        op.drop_index("ix_items_external_id", "items")
        op.alter_column("items", "identity_key", existing_type=sa.BigInteger(), nullable=False)
        op.create_index("ux_items_identity_key", "items", ["identity_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("items", recreate="auto") as batch:
        batch.drop_index("ux_items_identity_key")
        batch.create_index("ix_items_external_id", ["external_id"], unique=False)
        batch.create_unique_constraint("items_identity_hash_key", ["identity_hash"])
        batch.drop_column("identity_key")
