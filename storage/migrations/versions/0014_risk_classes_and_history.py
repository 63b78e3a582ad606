"""risk classes and imported history

enterprises.risk_class (信用风险分类 as the library gives it) and enterprises.authority
(所属机关); selections.risk_class and selections.reason (the class an object had when
drawn and why it was drawn); history_inspections, the inspections imported from a
bureau's old system (``ssj import history``).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("enterprises", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("risk_class", sa.String(length=1), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("authority", sa.String(length=100), server_default="", nullable=False)
        )
    with op.batch_alter_table("selections", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("risk_class", sa.String(length=1), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("reason", sa.String(length=20), server_default="", nullable=False)
        )
    op.create_table(
        "history_inspections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bureau", sa.String(length=20), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("quarter", sa.Integer(), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("inspected_on", sa.Date(), nullable=False),
        sa.Column("conclusion", sa.String(length=40), nullable=False),
        sa.Column("task_name", sa.String(length=200), nullable=False),
        sa.Column("inspectors", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("year", "quarter", "task_name", "uscc", name="history_one_per_task"),
    )
    with op.batch_alter_table("history_inspections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_history_inspections_bureau"), ["bureau"], unique=False)
        batch_op.create_index(batch_op.f("ix_history_inspections_uscc"), ["uscc"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("history_inspections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_history_inspections_uscc"))
        batch_op.drop_index(batch_op.f("ix_history_inspections_bureau"))
    op.drop_table("history_inspections")
    with op.batch_alter_table("selections", schema=None) as batch_op:
        batch_op.drop_column("reason")
        batch_op.drop_column("risk_class")
    with op.batch_alter_table("enterprises", schema=None) as batch_op:
        batch_op.drop_column("authority")
        batch_op.drop_column("risk_class")
