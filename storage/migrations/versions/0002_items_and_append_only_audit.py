"""Seed the 14 items of 附件1; make the audit log append-only in the database

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# (seq, 检查事项, 检查对象, 检查内容, applies-when pollutant tag ("" = every object), 抽查依据)
ITEMS = [
    (
        1,
        "放射性污染防治监督检查",
        "核技术利用单位",
        "辐射安全许可、放射源与射线装置管理、辐射防护设施运行、个人剂量监测",
        "辐射",
        "《中华人民共和国放射性污染防治法》第八条、第十条",
    ),
    (
        2,
        "水污染防治监督检查",
        "排放水污染物的企业事业单位和其他生产经营者",
        "排污许可执行、水污染防治设施运行、排放口设置与达标排放",
        "废水",
        "《中华人民共和国水污染防治法》第三十条",
    ),
    (
        3,
        "大气污染防治监督检查",
        "排放大气污染物的企业事业单位和其他生产经营者",
        "排污许可执行、废气治理设施运行、无组织排放控制与达标排放",
        "废气",
        "《中华人民共和国大气污染防治法》第二十九条",
    ),
    (
        4,
        "固体废物污染防治监督检查",
        "产生、收集、贮存、运输、利用、处置固体废物的单位",
        "固体废物台账、贮存场所、转移与利用处置情况",
        "固体废物",
        "《中华人民共和国固体废物污染环境防治法》第二十六条",
    ),
    (
        5,
        "噪声污染防治监督检查",
        "排放噪声的企业事业单位和其他生产经营者",
        "噪声污染防治设施运行、厂界噪声排放情况",
        "噪声",
        "《中华人民共和国噪声污染防治法》第三十条",
    ),
    (
        6,
        "污染源自动监控设施的现场监督检查",
        "安装污染源自动监控设施的排污单位",
        "自动监控设施运行、数据传输与有效性、运维记录",
        "自动监控",
        "《污染源自动监控管理办法》第十七条",
    ),
    (
        7,
        "医疗废物污染防治监督检查",
        "医疗卫生机构和医疗废物集中处置单位",
        "医疗废物分类收集、暂存、转移联单与处置情况",
        "医疗废物",
        "《医疗废物管理条例》第三十四条",
    ),
    (
        8,
        "危险废物经营单位监督检查",
        "持有危险废物经营许可证的单位",
        "经营许可条件、经营记录簿、贮存与利用处置设施运行",
        "危险废物",
        "《危险废物经营许可证管理办法》第十八条",
    ),
    (
        9,
        "危险化学品监督检查",
        "生产、使用危险化学品的单位",
        "危险化学品环境管理登记、环境风险防控措施",
        "危险化学品",
        "《危险化学品安全管理条例》第六条",
    ),
    (
        10,
        "新化学物质监督检查",
        "新化学物质生产者、进口者、加工使用者",
        "新化学物质环境管理登记及登记证执行情况",
        "新化学物质",
        "《新化学物质环境管理登记办法》第三十四条",
    ),
    (
        11,
        "对废弃电器电子产品处理活动监督检查",
        "废弃电器电子产品处理企业",
        "处理资格、处理设施运行、数据信息管理与基金审核",
        "废弃电器电子产品",
        "《废弃电器电子产品回收处理管理条例》第二十一条",
    ),
    (
        12,
        "对企业事业单位环境风险防范和环境安全隐患排查治理工作进行抽查或者突击检查",
        "企业事业单位",
        "突发环境事件应急预案、环境风险防范设施、隐患排查治理台账",
        "",
        "《中华人民共和国环境保护法》第二十四条、《突发环境事件应急管理办法》第三十二条",
    ),
    (
        13,
        "对土壤污染防治监督检查",
        "土壤污染重点监管单位等",
        "土壤污染隐患排查、自行监测、有毒有害物质防渗漏措施",
        "土壤",
        "《中华人民共和国土壤污染防治法》第二十一条、第二十二条",
    ),
    (
        14,
        "对建设项目环境保护设施设计、施工、验收、投入生产或者使用情况，以及有关环境影响评价文件确定的其他环境保护措施落实情况进行监督检查",
        "建设单位",
        "环评审批、“三同时”、竣工环境保护验收及环评文件措施落实情况",
        "",
        "《建设项目环境保护管理条例》第十九条、第二十一条",
    ),
]

items = sa.table(
    "items",
    sa.column("id", sa.Integer),
    sa.column("seq", sa.Integer),
    sa.column("org", sa.String),
    sa.column("name", sa.String),
    sa.column("target", sa.String),
    sa.column("content", sa.Text),
    sa.column("method", sa.String),
    sa.column("ratio", sa.String),
    sa.column("level", sa.String),
    sa.column("basis", sa.Text),
    sa.column("pollutant", sa.String),
)

RATIO = (
    "每季度至少抽查重点监管对象25%、一般监管对象10%、特殊监管对象50%；"
    "重点监管对象1年抽查1次，一般监管对象2至3年抽查1次，特殊监管对象1年抽查2次"
)


def upgrade() -> None:
    op.bulk_insert(
        items,
        [
            {
                "id": seq,
                "seq": seq,
                "org": "",
                "name": name,
                "target": target,
                "content": content,
                "method": "现场检查或非现场检查",
                "ratio": RATIO,
                "level": "县级",
                "basis": basis,
                "pollutant": tag,
            }
            for seq, name, target, content, tag, basis in ITEMS
        ],
    )
    if op.get_bind().dialect.name == "sqlite":
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.execute(items.delete())
