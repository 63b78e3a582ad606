"""Delivery effectively once: an idempotency key per outbox row, lease owners, relays

outbox.idem_key is one random key per row for its whole life (rows written before this
revision get theirs when a relay first claims them); outbox.lease_owner names the relay
instance holding a row's lease; relay_instances lists the running relays with their
process identity and heartbeat, so the leases of a dead one are taken back at once.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idem_key", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=40), nullable=True))
    op.create_table(
        "relay_instances",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("machine", sa.String(length=64), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("proc_start", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("relay_instances")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("lease_owner")
        batch_op.drop_column("idem_key")
