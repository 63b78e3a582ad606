"""inbound_events: drop the index on conversation

No query reads inbound_events by conversation (start-up recovery selects by status and
orders by id), yet every acknowledged callback paid for the index on insert.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_events", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_events_conversation")


def downgrade() -> None:
    with op.batch_alter_table("inbound_events", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_events_conversation", ["conversation"], unique=False)
