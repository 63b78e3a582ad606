"""results per department; team members marked as 辅助人员

A joint task's object has one result per department's team, and a special campaign's
辅助人员 are marked on their team rows as drawn.

Revision ID: 0008
Revises: 0007

The old table had UNIQUE(selection_id) without a name, which SQLite cannot drop in
place; the table is rebuilt (both databases, same steps) and every existing result is
given the department of its selection's first team member, which is the only team a
result could belong to before this revision.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_COLUMNS = (
    "id, selection_id, task_id, status, conclusion, inspected_on, mode, findings, "
    "followup, entered_by, entered_at, reviewed_by, reviewed_at, return_reason"
)


def _table(name: str, per_department: bool) -> None:
    cols: list[sa.schema.SchemaItem] = [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("selection_id", sa.Integer(), nullable=False),
    ]
    if per_department:
        cols.append(sa.Column("department", sa.String(length=50), nullable=False))
    cols += [
        sa.Column("task_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("conclusion", sa.String(length=40), nullable=False),
        sa.Column("inspected_on", sa.Date(), nullable=True),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("followup", sa.JSON(), nullable=False),
        sa.Column("entered_by", sa.String(length=50), nullable=False),
        sa.Column("entered_at", sa.DateTime(), nullable=True),
        sa.Column("reviewed_by", sa.String(length=50), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(), nullable=True),
        sa.Column("return_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["selection_id"],
            ["selections.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    ]
    if per_department:
        cols.append(
            sa.UniqueConstraint("selection_id", "department", name="results_selection_department")
        )
    else:
        cols.append(sa.UniqueConstraint("selection_id"))
    op.create_table(name, *cols)


def _indexes(per_department: bool) -> None:
    with op.batch_alter_table("results", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_results_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_results_task_id"), ["task_id"], unique=False)
        if per_department:
            batch_op.create_index(
                batch_op.f("ix_results_selection_id"), ["selection_id"], unique=False
            )


def _fix_sequence() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "SELECT setval(pg_get_serial_sequence('results', 'id'), "
            "COALESCE((SELECT MAX(id) FROM results), 0) + 1, false)"
        )


def upgrade() -> None:
    with op.batch_alter_table("team_members", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("auxiliary", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    _table("results_new", True)
    op.execute(
        f"INSERT INTO results_new ({_COLUMNS}, department) "
        f"SELECT {_COLUMNS}, COALESCE((SELECT m.department FROM team_members m "
        "WHERE m.selection_id = results.selection_id ORDER BY m.seq, m.id LIMIT 1), '') "
        "FROM results"
    )
    op.drop_table("results")
    op.rename_table("results_new", "results")
    _indexes(True)
    _fix_sequence()


def downgrade() -> None:
    # only one result per object fits the old shape: the first team's is kept
    _table("results_old", False)
    op.execute(
        f"INSERT INTO results_old ({_COLUMNS}) SELECT {_COLUMNS} FROM results r "
        "WHERE r.id = (SELECT MIN(r2.id) FROM results r2 WHERE r2.selection_id = r.selection_id)"
    )
    op.drop_table("results")
    op.rename_table("results_old", "results")
    _indexes(False)
    _fix_sequence()
    with op.batch_alter_table("team_members", schema=None) as batch_op:
        batch_op.drop_column("auxiliary")
