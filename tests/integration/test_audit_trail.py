"""A trail that cannot be emptied quietly (SQLite and PostgreSQL): ``ssj audit head``,
``ssj audit verify --anchors``, what verify names when entries are deleted, rewritten or
inserted, and the records (draws, results, publications) the log must account for.

Tampering needs the guards off: whoever owns the database can drop the triggers (SQLite)
or disable them (PostgreSQL, as the tables' owner); that is the attacker here."""

from __future__ import annotations

import asyncio
import json

import openpyxl
import pytest
from sqlalchemy import text

from storage.audit import entry_hash
from storage.db import make_engine

from .helpers import execute, query, reviewer, ssj, ssj_json

TASK = "2027Q1"
COLUMNS = "id, at, actor, action, subject, data, prev_hash, hash"


def unguard(url: str) -> None:
    """Take the append-only guard off, as an owner with full access could."""
    if "sqlite" in url:
        execute(url, "DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete")
    else:
        execute(url, "ALTER TABLE audit_log DISABLE TRIGGER USER")


def run(url: str, sql: str, rows: list[dict]) -> None:
    """One statement, once per parameter set, in one transaction."""

    async def go():
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                for params in rows:
                    await conn.execute(text(sql), params)
        finally:
            await engine.dispose()

    asyncio.run(go())


def entries(url: str) -> list[dict]:
    keys = [k.strip() for k in COLUMNS.split(",")]
    return [
        dict(zip(keys, r, strict=True))
        for r in query(url, f"SELECT {COLUMNS} FROM audit_log ORDER BY id")
    ]


def insert(url: str, *rows: dict) -> None:
    run(
        url,
        f"INSERT INTO audit_log ({COLUMNS}) VALUES (:id, :at, :actor, :action, :subject,"
        " :data, :prev_hash, :hash)",
        list(rows),
    )


def put_back(url: str, rows: list[dict]) -> None:
    """Replace the whole log by ``rows`` (as they were stored)."""
    execute(url, "DELETE FROM audit_log")
    insert(url, *rows)


def update_rows(url: str, rows: list[dict]) -> None:
    run(
        url,
        "UPDATE audit_log SET actor = :actor, data = :data, prev_hash = :prev_hash,"
        " hash = :hash WHERE id = :id",
        rows,
    )


def forge(prev: dict, id_: int, **fields) -> dict:
    """An entry that links to ``prev`` and hashes correctly."""
    r = {
        "id": id_,
        "at": prev["at"],
        "actor": "mallory",
        "action": "x",
        "subject": "",
        "data": "{}",
        "prev_hash": prev["hash"],
        **fields,
    }
    r["hash"] = entry_hash(
        r["prev_hash"], r["id"], r["at"], r["actor"], r["action"], r["subject"], r["data"]
    )
    return r


def rehash(rows: list[dict], start: int = 0) -> list[dict]:
    """Recompute every link and hash from ``rows[start]`` on, as a careful forger would."""
    out = [dict(r) for r in rows]
    for i in range(start, len(out)):
        r = out[i]
        r["prev_hash"] = out[i - 1]["hash"] if i else "0" * 64
        r["hash"] = entry_hash(
            r["prev_hash"], r["id"], r["at"], r["actor"], r["action"], r["subject"], r["data"]
        )
    return out


def head(capsys, url: str) -> dict:
    code, out, err = ssj(capsys, url, "audit", "head", "--json")
    assert code == 0, err
    assert len(out.strip().splitlines()) == 1  # one line: an anchors file line
    return json.loads(out)


def verify(capsys, url: str, *args: str) -> tuple[int, str, str]:
    return ssj(capsys, url, "audit", "verify", *args)


@pytest.fixture
def drawn(library, capsys):
    ssj_json(capsys, library, "draw", "run", "--task", TASK)
    return library


def test_head_prints_the_newest_entry_and_anchors_hold_while_the_log_grows(drawn, capsys, tmp_path):
    url = drawn
    code, out, err = ssj(capsys, url, "audit", "head")
    assert code == 0, err
    seq, hash_ = out.split()
    last = entries(url)[-1]
    assert (int(seq), hash_) == (last["id"], last["hash"])
    assert "ssj audit verify --anchors" in err  # the note goes to stderr
    assert head(capsys, url) == {"seq": last["id"], "hash": last["hash"]}

    first = tmp_path / "anchors.txt"
    first.write_text(
        f"# kept by the county's discipline office\n\n{out}{json.dumps(head(capsys, url))}\n",
        encoding="utf-8",
    )
    ssj_json(capsys, url, "draw", "prepare", "--task", "2027Q2")  # the log grows
    assert ssj(capsys, url, "calendar", "set", "2027-10-08", "班", "--name", "调休")[0] == 0
    code, out, err = verify(capsys, url, "--anchors", str(first))
    assert code == 0, err
    assert "哈希链完整" in out and "2 个锚点均与操作日志相符" in out
    report = ssj_json(capsys, url, "audit", "verify", "--anchors", str(first))
    assert report["ok"] and report["anchors"] == {"checked": 2, "failed": []}
    assert report["head_seq"] == entries(url)[-1]["id"] > last["id"] + 1
    assert report["unaccounted"] == []


def test_anchor_files_are_read_strictly(drawn, capsys, tmp_path):
    url = drawn
    bad = tmp_path / "bad.txt"
    bad.write_text(
        f"{entries(url)[0]['id']} {entries(url)[0]['hash']}\n7 not-a-hash\n", encoding="utf-8"
    )
    code, out, err = verify(capsys, url, "--anchors", str(bad))
    assert code == 1 and out == ""
    assert "第 2 行无法识别" in err and "7 not-a-hash" in err
    for line in (
        '{"seq": 0, "hash": "' + "a" * 64 + '"}',
        '{"seq": 3}',
        "3 " + "g" * 64,
        "3 " + "a" * 63,
    ):
        bad.write_text(line + "\n", encoding="utf-8")
        code, _, err = verify(capsys, url, "--anchors", str(bad))
        assert code == 1 and "第 1 行无法识别" in err, line
    bad.write_text("# nothing yet\n\n", encoding="utf-8")
    code, _, err = verify(capsys, url, "--anchors", str(bad))
    assert code == 1 and "没有锚点" in err
    code, _, err = verify(capsys, url, "--anchors", str(tmp_path / "none.txt"))
    assert code == 1 and "找不到文件" in err


def test_an_empty_log_has_no_head(db_url, capsys):
    assert ssj(capsys, db_url, "init")[0] == 0
    for args in ((), ("--json",)):
        code, out, err = ssj(capsys, db_url, "audit", "head", *args)
        assert code == 1 and out == "" and "还没有任何记录" in err


def test_rewritten_and_rehashed_log_passes_plain_verify_but_not_the_anchor(drawn, capsys, tmp_path):
    url = drawn
    anchor = head(capsys, url)
    anchors = tmp_path / "anchors.txt"
    anchors.write_text(f"{anchor['seq']} {anchor['hash']}\n", encoding="utf-8")
    assert verify(capsys, url, "--anchors", str(anchors))[0] == 0

    unguard(url)
    rows = entries(url)
    rows[1]["actor"] = "mallory"  # entry 2, then every hash after it
    update_rows(url, rehash(rows, 1))
    # the weakness: a consistent rewrite is a valid chain
    code, out, err = verify(capsys, url)
    assert code == 0 and "哈希链完整" in out, err
    assert entries(url)[1]["actor"] == "mallory"
    # the anchor kept outside the database sees it
    code, out, err = verify(capsys, url, "--anchors", str(anchors))
    assert code == 1
    assert f"锚点 第 {anchor['seq']} 条 {anchor['hash']}（文件第 1 行）与日志不符" in err
    assert "被改写" in err
    report = json.loads(verify(capsys, url, "--anchors", str(anchors), "--json")[1])
    assert report["ok"] is False
    assert report["anchors"]["failed"] == [
        {"line": 1, "seq": anchor["seq"], "hash": anchor["hash"], "problem": "changed"}
    ]


def test_cutting_off_the_newest_entries_fails_the_anchor(drawn, capsys, tmp_path):
    url = drawn
    ssj_json(capsys, url, "draw", "prepare", "--task", "2027Q2")
    assert ssj(capsys, url, "calendar", "set", "2027-10-08", "班", "--name", "调休")[0] == 0
    anchor = head(capsys, url)
    anchors = tmp_path / "anchors.txt"
    anchors.write_text(json.dumps(anchor) + "\n", encoding="utf-8")
    n = anchor["seq"]

    unguard(url)
    execute(url, f"DELETE FROM audit_log WHERE id >= {n - 1}")  # the newest two
    code, out, err = verify(capsys, url)  # a shorter valid chain
    assert code == 0 and f"共 {n - 2} 条" in out, err
    code, out, err = verify(capsys, url, "--anchors", str(anchors))
    assert code == 1 and f"锚点 第 {n} 条" in err and "已不在日志中" in err and "被删除" in err

    # new entries take the deleted numbers: the number is back, the hash is not
    ssj_json(capsys, url, "draw", "prepare", "--task", "2027Q3")  # task.create, draw.prepare
    assert head(capsys, url)["seq"] == n
    code, out, err = verify(capsys, url, "--anchors", str(anchors))
    assert code == 1 and f"锚点 第 {n} 条" in err and "与日志不符" in err

    # cutting off entries that account for a draw is seen even without anchors
    run = query(url, "SELECT id FROM audit_log WHERE action = 'draw.run'")[0][0]
    execute(url, f"DELETE FROM audit_log WHERE id >= {run}")
    code, out, err = verify(capsys, url)
    assert code == 1 and "缺少 draw.run 记录" in err and f"任务 {TASK}" in err


def test_verify_tells_deleted_inserted_and_rewritten_entries_apart(drawn, capsys):
    url = drawn
    ssj_json(capsys, url, "draw", "prepare", "--task", "2027Q2")
    assert ssj(capsys, url, "calendar", "set", "2027-10-08", "班", "--name", "调休")[0] == 0
    unguard(url)
    original = entries(url)
    n = len(original)
    assert n >= 6
    k = 3

    def check(expect: list[str], code=1):
        got, out, err = verify(capsys, url)
        assert got == code, (out, err)
        for words in expect:
            assert words in err, err
        put_back(url, original)
        assert verify(capsys, url)[0] == 0

    # one entry deleted, then three
    execute(url, f"DELETE FROM audit_log WHERE id = {k}")
    check([f"第 {k} 条记录缺失（被删除）", f"第 {k + 1} 条记录链接的前一条已不存在"])
    execute(url, f"DELETE FROM audit_log WHERE id BETWEEN {k} AND {k + 2}")
    check([f"第 {k} 至 {k + 2} 条记录缺失（被删除）"])

    # one entry spliced in at k: the later ones renumbered (+1), the forged one linked well
    for r in reversed(original[k - 1 :]):
        execute(url, f"UPDATE audit_log SET id = {r['id'] + 1} WHERE id = {r['id']}")
    insert(url, forge(original[k - 2], k, action="draw.cancel", subject="2027Q4"))
    check([f"第 {k} 条记录是插入的", f"第 {k + 1} 条记录仍链接到第 {k - 1} 条"])

    # one entry added after the newest, numbered out of turn though linked to it
    insert(url, forge(original[-1], n + 5))
    check([f"第 {n + 5} 条记录是插入的：它的编号不接续第 {n} 条"])

    # entry k rewritten and re-hashed, the rest left alone
    rows = [dict(r) for r in original]
    rows[k - 1]["actor"] = "mallory"
    update_rows(url, rehash(rows, k - 1)[k - 1 : k])
    check([f"第 {k} 条记录被改写并重新计算了哈希", f"第 {k + 1} 条记录链接的原哈希已不存在"])

    # entries k and k + 1 swapped: k now links to the later one
    execute(
        url,
        f"UPDATE audit_log SET id = -1 WHERE id = {k}",
        f"UPDATE audit_log SET id = {k} WHERE id = {k + 1}",
        f"UPDATE audit_log SET id = {k + 1} WHERE id = -1",
    )
    check([f"第 {k} 条记录与前一条的链接不符（它链接到第 {k + 1} 条：记录的顺序被改动）"])

    # entry k changed, its hash left as it was
    execute(url, f"UPDATE audit_log SET actor = 'mallory' WHERE id = {k}")
    check([f"第 {k} 条记录的内容被修改"])


def test_records_without_their_audit_entries_fail_verify(drawn, capsys):
    url = drawn
    doc = ssj_json(capsys, url, "draw", "show", "--task", TASK)
    admin = query(url, "SELECT cert FROM inspectors WHERE role = '管理员' ORDER BY cert")[0][0]
    first, second, third = doc["selections"][:3]
    for sel in (first, second):
        assert (
            ssj(
                capsys,
                url,
                "result",
                "record",
                "--task",
                TASK,
                "--uscc",
                sel["uscc"],
                "--by",
                sel["inspectors"][0],
                "--conclusion",
                "1",
            )[0]
            == 0
        )
    assert (
        ssj(
            capsys,
            url,
            "result",
            "approve",
            "--task",
            TASK,
            "--uscc",
            first["uscc"],
            "--by",
            reviewer(url, first),
        )[0]
        == 0
    )
    assert (
        ssj(
            capsys,
            url,
            "result",
            "return",
            "--task",
            TASK,
            "--uscc",
            second["uscc"],
            "--by",
            admin,
            "--reason",
            "日期有误",
        )[0]
        == 0
    )
    code, out, err = verify(capsys, url)
    assert code == 0, err

    # written straight into the database, past the services: no audit entries
    dept = query(
        url, "SELECT department FROM team_members WHERE selection_id = :r", r=third["ref"]
    )[0][0]
    run(
        url,
        "INSERT INTO results (selection_id, department, task_id, status, conclusion,"
        " mode, findings, followup, entered_by, reviewed_by, return_reason) VALUES"
        " (:ref, :dept, :task, '已审核', '未发现问题', '现场检查', '', '{}', :by, :admin, '')",
        [
            {
                "ref": third["ref"],
                "dept": dept,
                "task": TASK,
                "by": third["inspectors"][0],
                "admin": admin,
            }
        ],
    )
    execute(
        url,
        "INSERT INTO tasks (id, bureau, kind, name, year, quarter, plan_no, scope,"
        " items, departments, spec, status) VALUES ('2027ZX09', '410724', 'special',"
        " '专项', 2027, 2, '', '', '[]', '[]', '{}', 'open')",
        "INSERT INTO draws (task_id, status, commitment, secret, entropy, seed,"
        " pool_digest, algorithm, prepared_by, drawn_by, void_reason) VALUES"
        " ('2027ZX09', 'valid', 'c', 's', '', 's:', 'd', 'a', 'p', 'p', '')",
    )
    forged_draw = query(url, "SELECT id FROM draws WHERE task_id = '2027ZX09'")[0][0]
    code, out, err = verify(capsys, url)
    assert code == 1 and "哈希链完整" in out  # the chain itself is fine
    assert "有 3 项记录在操作日志中没有对应的条目" in err
    assert f"抽取 #{forged_draw}（任务 2027ZX09，有效）缺少 draw.run 记录" in err
    assert (
        f"检查结果（任务 {TASK}，编号 {third['ref']}，{dept}，已审核）缺少 result.submit 记录"
        in err
    )
    assert f"编号 {third['ref']}，{dept}，已审核）缺少 result.approve 记录" in err
    assert f"编号 {first['ref']}" not in err and f"编号 {second['ref']}" not in err
    report = json.loads(verify(capsys, url, "--json")[1])
    assert report["ok"] is False and report["problem"] == ""
    assert sorted((u["kind"], u["action"]) for u in report["unaccounted"]) == [
        ("draw", "draw.run"),
        ("result", "result.approve"),
        ("result", "result.submit"),
    ]

    # a result returned, whose result.return entry is gone (with the rest of the log's tail)
    execute(
        url,
        f"DELETE FROM results WHERE selection_id = {third['ref']}",
        f"DELETE FROM draws WHERE id = {forged_draw}",
    )
    assert verify(capsys, url)[0] == 0
    unguard(url)
    returned = query(url, "SELECT id FROM audit_log WHERE action = 'result.return'")[0][0]
    execute(url, f"DELETE FROM audit_log WHERE id >= {returned}")
    code, _, err = verify(capsys, url)
    assert code == 1 and "已退回）缺少 result.return 记录" in err


def test_publication_anchor_is_published_pushed_exported_and_checked(library, capsys, tmp_path):
    url = library
    code, _, err = ssj(
        capsys,
        url,
        "task",
        "create",
        "--task",
        "2027ZX01",
        "--kind",
        "special",
        "--name",
        "获嘉县2027年涉VOCs企业专项检查",
        "--year",
        "2027",
        "--quarter",
        "1",
        "--count",
        "2",
    )
    assert code == 0, err
    doc = ssj_json(capsys, url, "draw", "run", "--task", "2027ZX01")
    for sel in doc["selections"]:
        base = ["--task", "2027ZX01", "--uscc", sel["uscc"]]
        assert (
            ssj(
                capsys,
                url,
                "result",
                "record",
                *base,
                "--by",
                sel["inspectors"][0],
                "--conclusion",
                "1",
            )[0]
            == 0
        )
        assert ssj(capsys, url, "result", "approve", *base, "--by", reviewer(url, sel))[0] == 0
    pub = ssj_json(capsys, url, "publish", "--task", "2027ZX01")
    anchor = pub["audit_anchor"]
    rows = entries(url)
    at = next(r for r in rows if r["id"] == anchor["seq"])
    assert at["hash"] == anchor["hash"] and at["action"] == "draw.reveal"
    assert rows[-1]["action"] == "task.publish" and rows[-1]["id"] == anchor["seq"] + 1
    pushed = [
        json.loads(p) if isinstance(p, str) else p
        for (p,) in query(url, "SELECT payload FROM push_outbox ORDER BY seq")
    ]
    assert len(pushed) == 3 and all(p["audit_anchor"] == anchor for p in pushed)
    out = tmp_path / "p.xlsx"
    assert ssj(capsys, url, "export", "publication", "--task", "2027ZX01", str(out))[0] == 0
    facts = dict(list(openpyxl.load_workbook(out)["复核数据"].iter_rows(values_only=True))[1:])
    line = facts["操作日志锚点（编号 哈希）"]
    assert line == f"{anchor['seq']} {anchor['hash']}"
    anchors = tmp_path / "anchors.txt"
    anchors.write_text(line + "\n", encoding="utf-8")  # straight from the export
    code, out, err = verify(capsys, url, "--anchors", str(anchors))
    assert code == 0 and "1 个锚点均与操作日志相符" in out, err

    # the stored publication changed afterwards: its digest no longer matches task.publish
    def store(document: dict) -> None:
        run(
            url,
            "UPDATE publications SET document = :d",
            [{"d": json.dumps(document, ensure_ascii=False)}],
        )

    store({**pub, "published_at": "2027-01-01T00:00:00+08:00"})
    code, _, err = verify(capsys, url)
    assert code == 1 and "任务 2027ZX01 的公示内容与 task.publish 记录的摘要不符" in err
    store(pub)
    assert verify(capsys, url)[0] == 0

    # the log rewritten and re-hashed: the publication's own anchor no longer holds
    unguard(url)
    rows = entries(url)
    rows[0]["actor"] = "mallory"
    update_rows(url, rehash(rows))
    code, out, err = verify(capsys, url)
    assert code == 1 and "哈希链完整" in out
    assert f"任务 2027ZX01 公示的操作日志锚点（第 {anchor['seq']} 条）与日志不符" in err


def test_app_role_is_refused_on_sqlite(tmp_path, capsys):
    url = f"sqlite+aiosqlite:///{tmp_path}/ssj.db"
    code, out, err = ssj(capsys, url, "init", "--app-role", "ssj_app")
    assert code == 1 and out == "" and "只适用于 PostgreSQL" in err
    assert not (tmp_path / "ssj.db").exists()
