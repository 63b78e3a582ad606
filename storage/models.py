"""SQLAlchemy 2 models. Storage knows no use case and no protocol.

Every table that a wider deployment would scope by bureau carries ``bureau``
(the configured bureau code; a county deployment has one value everywhere).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


def _now_default():
    return text("CURRENT_TIMESTAMP")


class Item(Base):
    """检查事项清单: the 14 items of 附件1."""

    __tablename__ = "items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    org: Mapped[str] = mapped_column(String(100))  # 检查机构
    name: Mapped[str] = mapped_column(String(200))  # 检查事项
    target: Mapped[str] = mapped_column(String(200))  # 检查对象
    content: Mapped[str] = mapped_column(Text)  # 检查内容
    method: Mapped[str] = mapped_column(String(100))  # 检查方式
    ratio: Mapped[str] = mapped_column(String(200))  # 抽查比例
    level: Mapped[str] = mapped_column(String(50))  # 实施层级
    basis: Mapped[str] = mapped_column(Text)  # 抽查依据
    pollutant: Mapped[str] = mapped_column(String(20), default="")  # applies when present


class EnterpriseRow(Base):
    __tablename__ = "enterprises"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bureau: Mapped[str] = mapped_column(String(20), default="", index=True)
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(10), index=True)
    industry: Mapped[str] = mapped_column(String(100), default="")
    pollutants: Mapped[list] = mapped_column(JSON, default=list)
    permit_no: Mapped[str] = mapped_column(String(22), default="")
    permit_class: Mapped[str] = mapped_column(String(10), default="")
    region: Mapped[str] = mapped_column(String(100), default="")
    basin: Mapped[str] = mapped_column(String(100), default="")
    lng: Mapped[float | None] = mapped_column(Float, nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(10), default="在产")
    started_on: Mapped[str] = mapped_column(String(20), default="")
    products: Mapped[str] = mapped_column(Text, default="")
    credit_rating: Mapped[str] = mapped_column(String(50), default="")
    positive_list: Mapped[bool] = mapped_column(Boolean, default=False)
    performance_grade: Mapped[str] = mapped_column(String(20), default="")
    # 信用风险分类 as the 协同监管平台 assigns it (A/B/C/D); "" = derived at each draw
    risk_class: Mapped[str] = mapped_column(String(1), default="", server_default="")
    authority: Mapped[str] = mapped_column(String(100), default="", server_default="")  # 所属机关
    address: Mapped[str] = mapped_column(String(300), default="")
    contact: Mapped[str] = mapped_column(String(50), default="")
    phone: Mapped[str] = mapped_column(String(50), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=_now_default())
    updated_at: Mapped[datetime] = mapped_column(DateTime, server_default=_now_default())


class InspectorRow(Base):
    __tablename__ = "inspectors"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bureau: Mapped[str] = mapped_column(String(20), default="", index=True)
    cert: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    unit: Mapped[str] = mapped_column(String(200), default="")
    department: Mapped[str] = mapped_column(String(50), default="")
    position: Mapped[str] = mapped_column(String(50), default="")
    level: Mapped[str] = mapped_column(String(50), default="")
    region: Mapped[str] = mapped_column(String(100), default="")
    years: Mapped[int | None] = mapped_column(Integer, nullable=True)
    expertise: Mapped[list] = mapped_column(JSON, default=list)
    kind: Mapped[str] = mapped_column(String(10), default="执法人员")
    duty: Mapped[str] = mapped_column(String(10), default="在岗")
    role: Mapped[str] = mapped_column(String(10), default="检查员")
    msg_account: Mapped[str | None] = mapped_column(String(100), nullable=True, unique=True)
    mobile: Mapped[str] = mapped_column(String(20), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=_now_default())
    updated_at: Mapped[datetime] = mapped_column(DateTime, server_default=_now_default())


class ConflictRow(Base):
    """利害关系登记: a hard exclusion in every draw."""

    __tablename__ = "conflicts"
    __table_args__ = (UniqueConstraint("cert", "uscc"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cert: Mapped[str] = mapped_column(String(50), index=True)
    uscc: Mapped[str] = mapped_column(String(18), index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(20), default="import")  # import | recusal
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=_now_default())


class TaskRow(Base):
    """A task: a quarterly task (``2027Q1``), a special campaign or a joint task."""

    __tablename__ = "tasks"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    bureau: Mapped[str] = mapped_column(String(20), default="", index=True)
    kind: Mapped[str] = mapped_column(String(20), default="quarterly")
    name: Mapped[str] = mapped_column(String(200))
    year: Mapped[int] = mapped_column(Integer)
    quarter: Mapped[int | None] = mapped_column(Integer, nullable=True)
    plan_no: Mapped[str] = mapped_column(String(20), default="")  # 附件1 序号, e.g. 202701
    scope: Mapped[str] = mapped_column(Text, default="")
    items: Mapped[list] = mapped_column(JSON, default=list)  # item seqs
    departments: Mapped[list] = mapped_column(JSON, default=list)  # "" = own
    spec: Mapped[dict] = mapped_column(JSON, default=dict)  # TaskSpec extras
    starts_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    deadline: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=_now_default())


class DrawRow(Base):
    """One draw of a task: prepared (commitment recorded), valid, or void. Never deleted."""

    __tablename__ = "draws"
    __table_args__ = (
        Index(
            "one_valid_draw_per_task",
            "task_id",
            unique=True,
            sqlite_where=text("status = 'valid'"),
            postgresql_where=text("status = 'valid'"),
        ),
        Index(
            "one_prepared_draw_per_task",
            "task_id",
            unique=True,
            sqlite_where=text("status = 'prepared'"),
            postgresql_where=text("status = 'prepared'"),
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="prepared")
    commitment: Mapped[str] = mapped_column(String(64))
    secret: Mapped[str] = mapped_column(String(64))
    entropy: Mapped[str] = mapped_column(Text, default="")
    seed: Mapped[str] = mapped_column(Text, default="")
    pool_digest: Mapped[str] = mapped_column(String(64), default="")
    algorithm: Mapped[str] = mapped_column(Text, default="")
    snapshot: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    result: Mapped[list | None] = mapped_column(JSON, nullable=True)
    prepared_by: Mapped[str] = mapped_column(String(100), default="")
    drawn_by: Mapped[str] = mapped_column(String(100), default="")
    prepared_at: Mapped[datetime] = mapped_column(DateTime, server_default=_now_default())
    drawn_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    void_reason: Mapped[str] = mapped_column(Text, default="")
    voided_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revealed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class SelectionRow(Base):
    """A drawn object of a draw. Its id is the short 编号 shown on cards and used in chat."""

    __tablename__ = "selections"
    __table_args__ = (UniqueConstraint("draw_id", "uscc"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    draw_id: Mapped[int] = mapped_column(ForeignKey("draws.id"), index=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    uscc: Mapped[str] = mapped_column(String(18), index=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(10))
    ticket: Mapped[str] = mapped_column(String(90))
    # the object's 信用风险分类 when drawn and why it was drawn (coverage, stratum, floor,
    # count); "" for draws made before risk classes
    risk_class: Mapped[str] = mapped_column(String(1), default="", server_default="")
    reason: Mapped[str] = mapped_column(String(20), default="", server_default="")


class TeamMemberRow(Base):
    """A member of a selection's team. A recusal ends one row and adds another."""

    __tablename__ = "team_members"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    selection_id: Mapped[int] = mapped_column(ForeignKey("selections.id"), index=True)
    department: Mapped[str] = mapped_column(String(50), default="")
    cert: Mapped[str] = mapped_column(String(50), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    ended_reason: Mapped[str] = mapped_column(String(20), default="")  # recused | swapped
    # a 辅助人员 added by a special campaign (recorded as drawn, whatever the library says later)
    auxiliary: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class RecusalRow(Base):
    """回避: request, decision and the exact inputs used, for replay."""

    __tablename__ = "recusals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    draw_id: Mapped[int] = mapped_column(ForeignKey("draws.id"), index=True)
    uscc: Mapped[str] = mapped_column(String(18))
    cert: Mapped[str] = mapped_column(String(50))
    reason: Mapped[str] = mapped_column(Text)
    swap_with: Mapped[str | None] = mapped_column(String(50), nullable=True)
    swap_uscc: Mapped[str | None] = mapped_column(String(18), nullable=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # approved|rejected
    requested_by: Mapped[str] = mapped_column(String(100), default="")
    decided_by: Mapped[str] = mapped_column(String(100), default="")
    conflicts: Mapped[list | None] = mapped_column(JSON, nullable=True)  # the set decided under
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True)  # order of application
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=_now_default())
    decided_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class HistoryRow(Base):
    """An inspection imported from the bureau's old system (``ssj import history``): it
    counts as a draw of its 年度 and 季度 (no seed: nothing to verify) and, by its
    conclusion, for the risk classes and the statistics. One per object and task."""

    __tablename__ = "history_inspections"
    __table_args__ = (
        UniqueConstraint("year", "quarter", "task_name", "uscc", name="history_one_per_task"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bureau: Mapped[str] = mapped_column(String(20), default="", index=True)
    year: Mapped[int] = mapped_column(Integer)  # 年度
    quarter: Mapped[int] = mapped_column(Integer)  # 季度
    uscc: Mapped[str] = mapped_column(String(18), index=True)
    inspected_on: Mapped[date] = mapped_column(Date)  # 检查日期
    conclusion: Mapped[str] = mapped_column(String(40))  # one of the six wordings
    task_name: Mapped[str] = mapped_column(String(200), default="")  # 任务名称
    inspectors: Mapped[list] = mapped_column(JSON, default=list)  # 检查人员 (执法证号)
    source: Mapped[str] = mapped_column(String(200), default="")  # the imported file's name
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=_now_default())
    updated_at: Mapped[datetime] = mapped_column(DateTime, server_default=_now_default())


class AuditRow(Base):
    """全过程留痕: append-only, each entry hashing its predecessor."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60), index=True)
    subject: Mapped[str] = mapped_column(String(200), default="")
    data: Mapped[str] = mapped_column(Text, default="{}")  # canonical JSON text
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
