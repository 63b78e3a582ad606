"""Cards that stay true: what a card is about, and how to update it later

outbox.subject names what a card shows (e.g. one member's view of an assignment), so a
later state change can update every copy of that card a person holds; outbox.handle keeps
a messenger's single-use update handle (WeCom's response_code, 72 h) and handle_at when it
was given; chat_messages.replaces links a web chat card's new version to the original.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("handle", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("handle_at", sa.DateTime(), nullable=True))
        batch_op.create_index("outbox_subject", ["recipient", "subject"], unique=False)
        batch_op.create_index("outbox_external", ["external_id"], unique=False)
    with op.batch_alter_table("chat_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("replaces", sa.Integer(), nullable=True))
        batch_op.create_index("ix_chat_messages_replaces", ["replaces"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("chat_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_chat_messages_replaces")
        batch_op.drop_column("replaces")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("outbox_external")
        batch_op.drop_index("outbox_subject")
        batch_op.drop_column("handle_at")
        batch_op.drop_column("handle")
        batch_op.drop_column("subject")
