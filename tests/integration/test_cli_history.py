"""``ssj import history`` (inspections from a bureau's old system), ``ssj export history``
and ``ssj library history``, on SQLite and PostgreSQL: all or nothing, every bad row
named, re-import changes nothing, audited; imported inspections count for the draws."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta

import openpyxl

from bot import localtime
from bot.sheets.library_io import HEADERS

from .helpers import counts, query, ssj, ssj_json

HEADER = HEADERS["history"]
TASK = "新乡市生态环境局获嘉分局{y}年第{q}季度随机抽查"


def write_csv(path, rows, header=HEADER):
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def write_xlsx(path, rows, header=HEADER):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def library_objects(url, category=None):
    sql = "SELECT uscc FROM enterprises WHERE status <> '关闭'"
    if category:
        sql += f" AND category = '{category}'"
    return [u for (u,) in query(url, sql + " ORDER BY uscc")]


def officers(url):
    return [
        c
        for (c,) in query(
            url,
            "SELECT cert FROM inspectors WHERE department = '生态环境'"
            " AND kind = '执法人员' ORDER BY cert",
        )
    ]


def history_count(url) -> int:
    return query(url, "SELECT COUNT(*) FROM history_inspections")[0][0]


def test_import_is_audited_and_a_second_import_changes_nothing(library, capsys, tmp_path):
    url = library
    u = library_objects(url)
    p = officers(url)
    rows = [
        [2025, 1, u[0], "2025-02-11", "未发现问题", TASK.format(y=2025, q=1), f"{p[0]}、{p[1]}"],
        [2025, 2, u[0], "2025/5/6", "2", TASK.format(y=2025, q=2), p[2]],
        [2025, 2, u[1], "2025年6月30日", "发现违法行为已立案调查", "", ""],
        ["2026", "第3季度", u[2], "20260701", "6", "获嘉县夏季专项检查", ""],
    ]
    path = write_xlsx(tmp_path / "history.xlsx", rows)
    doc = ssj_json(capsys, url, "import", "history", str(path))
    assert (doc["ok"], doc["created"], doc["updated"], doc["unchanged"]) == (True, 4, 0, 0)
    stored = query(
        url,
        "SELECT year, quarter, uscc, inspected_on, conclusion, task_name "
        "FROM history_inspections ORDER BY year, quarter, uscc",
    )
    assert [tuple(r[:3]) for r in stored] == [
        (2025, 1, u[0]),
        (2025, 2, u[0]),
        (2025, 2, u[1]),
        (2026, 3, u[2]),
    ]
    assert [str(r[3])[:10] for r in stored] == [
        "2025-02-11",
        "2025-05-06",
        "2025-06-30",
        "2026-07-01",
    ]
    assert [r[4] for r in stored] == [
        "未发现问题",
        "发现问题已责令整改",
        "发现违法行为已立案调查",
        "未检查：检查对象已关闭或无法联系",
    ]
    (data,) = query(url, "SELECT data FROM audit_log WHERE action = 'import.history'")[0]
    assert len(json.loads(data)["created"]) == 4
    again = ssj_json(capsys, url, "import", "history", str(path))
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 4)
    # a corrected row updates its inspection, audited with the change
    rows[2][4] = "3"
    rows[2][3] = "2025-06-29"
    fixed = ssj_json(
        capsys, url, "import", "history", str(write_xlsx(tmp_path / "fixed.xlsx", rows))
    )
    assert (fixed["created"], fixed["updated"], fixed["unchanged"]) == (0, 1, 3)
    (data,) = query(
        url, "SELECT data FROM audit_log WHERE action = 'import.history' ORDER BY id DESC LIMIT 1"
    )[0]
    (change,) = json.loads(data)["updated"].values()
    assert change == {"inspected_on": ["2025-06-30", "2025-06-29"]}
    assert history_count(url) == 4
    assert ssj(capsys, url, "audit", "verify")[0] == 0


def test_every_bad_row_is_named_and_nothing_is_written(library, capsys, tmp_path):
    url = library
    u = library_objects(url)
    today = localtime.today()
    tomorrow = today + timedelta(days=1)
    q_now = (tomorrow.month - 1) // 3 + 1
    rows = [
        [2025, 1, u[0], "2025-02-11", "未发现问题", "甲任务", ""],  # 2: good
        [2025, 1, "91410724MA00000000", "2025-02-11", "1", "甲任务", ""],  # 3: check char
        [2025, 1, "91130200699229617X", "2025-02-11", "1", "甲任务", ""],  # 4: unknown
        [2025, 1, u[1], "2025-02-11", "基本合格", "甲任务", ""],  # 5: conclusion
        [2025, 1, u[2], "2025-02-11", "7", "甲任务", ""],  # 6: number
        [2025, 2, u[3], "2025-02-11", "1", "甲任务", ""],  # 7: other quarter
        [tomorrow.year, q_now, u[4], tomorrow.isoformat(), "1", "乙任务", ""],  # 8: future
        [2025, 1, u[0], "2025-03-01", "2", "甲任务", ""],  # 9: duplicate of 2
        [2025, 5, u[5], "2025-02-11", "1", "", ""],  # 10: quarter
        ["二〇二五", 1, u[6], "2025-02-11", "1", "", ""],  # 11: year
        [2025, 1, u[7], "2025-02-30", "1", "", ""],  # 12: date
        [2025, 1, u[8], "", "1", "", ""],  # 13: required
        [2025, 1, u[9], "2025-01-05", "1", "", ""],  # 14: good
        [2025, 1, u[9], "2025-01-06", "1", "", ""],  # 15: duplicate
    ]
    path = write_csv(tmp_path / "history.csv", rows)
    before = counts(url)
    code, out, err = ssj(capsys, url, "import", "history", str(path))
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    named = {n for n in range(2, 16) if any(ln.startswith(f"第 {n} 行") for ln in lines)}
    assert named == {3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15}
    assert "校验位" in err and "请先导入" in err and "六种结论" in err
    assert "不在 2025 年第 2 季度内" in err and "晚于今天" in err
    assert "与第 2 行重复" in err and "与第 14 行重复" in err
    assert (
        "季度“5”无效" in err and "年度“二〇二五”无效" in err and "检查日期“2025-02-30”无效" in err
    )
    assert "未写入任何数据" in err
    assert counts(url) == before and history_count(url) == 0


def test_unknown_inspectors_are_a_warning(library, capsys, tmp_path):
    url = library
    u = library_objects(url)
    path = write_csv(tmp_path / "h.csv", [[2025, 1, u[0], "2025-02-11", "1", "", "41079999"]])
    code, _, err = ssj(capsys, url, "import", "history", str(path))
    assert code == 0 and "41079999" in err and "提示" in err
    assert history_count(url) == 1


def _draw_json(capsys, url, task):
    return {
        s["uscc"]: s for s in ssj_json(capsys, url, "draw", "run", "--task", task)["selections"]
    }


def test_imported_inspections_count_for_the_next_draw(library, capsys, tmp_path):
    """A general object last inspected in 2024Q2 is due under the 3-year rule in 2027Q1;
    one whose 2026 inspection found a case is class D; a key object inspected in 2027Q1
    (imported) counts as drawn this year: the coverage step leaves it for later."""
    url = library
    general = library_objects(url, "一般监管")
    key = library_objects(url, "重点监管")
    free = {
        u
        for (u,) in query(
            url,
            "SELECT uscc FROM enterprises WHERE risk_class = '' "
            "AND credit_rating NOT IN ('警示企业', '不良企业') "
            "AND performance_grade <> 'D'",
        )
    }
    old, bad = [u for u in general if u in free][:2]
    rows = [
        [2024, 2, old, "2024-05-20", "1", "", ""],
        [2026, 1, bad, "2026-03-02", "立案调查", "", ""],
    ]
    today = localtime.today()
    if today >= date(2027, 1, 1):  # an inspection of the draw's own year, if past
        rows.append([2027, 1, key[0], "2027-01-02", "1", "", ""])
    assert ssj(capsys, url, "import", "history", str(write_csv(tmp_path / "h.csv", rows)))[0] == 0
    drawn = _draw_json(capsys, url, "2027Q1")
    assert drawn[old]["reason"] == "coverage"
    raw = query(url, "SELECT snapshot FROM draws WHERE task_id = '2027Q1'")[0][0]
    snapshot = raw if isinstance(raw, dict) else json.loads(raw)
    classes = {o["uscc"]: o["risk_class"] for o in snapshot["pool"]}
    assert classes[bad] == "D"
    assert snapshot["history"][old]["last_period"] == [2024, 2]
    assert snapshot["history"][old]["last_imported"] is True
    assert snapshot["history"][bad]["problems"] == [[2026, 3]]
    assert ssj(capsys, url, "draw", "verify", "--task", "2027Q1")[0] == 0
    code, out, _ = ssj(capsys, url, "library", "history", "--uscc", old)
    assert code == 0 and "历史导入（无随机种子）" in out and "本系统抽取 2027Q1" in out


def test_export_writes_the_import_format_with_the_systems_own_results(library, capsys, tmp_path):
    url = library
    u = library_objects(url)
    imported = [[2025, 3, u[0], "2025-08-08", "未发现问题", "旧系统任务", ""]]
    assert (
        ssj(capsys, url, "import", "history", str(write_csv(tmp_path / "h.csv", imported)))[0] == 0
    )
    today = localtime.today()
    year, quarter = today.year, (today.month - 1) // 3 + 1  # inspected today: in its quarter
    task = f"{year}Q{quarter}"
    doc = ssj_json(capsys, url, "draw", "run", "--task", task)
    admins = {c for (c,) in query(url, "SELECT cert FROM inspectors WHERE role = '管理员'")}
    sel = next(s for s in doc["selections"] if admins - set(s["inspectors"]))
    member = sel["inspectors"][0]
    admin = next(iter(admins - set(sel["inspectors"])))
    base = ["--task", task, "--uscc", sel["uscc"]]
    assert ssj(capsys, url, "result", "record", *base, "--by", member, "--conclusion", "1")[0] == 0
    assert ssj(capsys, url, "result", "approve", *base, "--by", admin)[0] == 0
    out = tmp_path / "export.xlsx"
    assert ssj(capsys, url, "export", "history", str(out))[0] == 0
    rows = list(openpyxl.load_workbook(out).active.iter_rows(values_only=True))
    assert list(rows[0]) == HEADER
    body = [
        [c.isoformat()[:10] if hasattr(c, "isoformat") else "" if c is None else str(c) for c in r]
        for r in rows[1:]
    ]
    assert body[0][:6] == ["2025", "3", u[0], "2025-08-08", "未发现问题", "旧系统任务"]
    assert len(body) == 2 and body[1][2] == sel["uscc"]
    assert body[1][:2] == [str(year), str(quarter)] and body[1][3] == today.isoformat()
    assert body[1][4] == "未发现问题" and member in body[1][6]
    # importing it again changes nothing: the system's own draw is recognised
    again = ssj_json(capsys, url, "import", "history", str(out))
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    # … but a row changing the system's own result is refused
    csv_out = tmp_path / "export.csv"
    assert ssj(capsys, url, "export", "history", str(csv_out))[0] == 0
    text = csv_out.read_text(encoding="utf-8-sig").replace(
        f"{sel['uscc']},{body[1][3]},未发现问题", f"{sel['uscc']},{body[1][3]},2"
    )
    csv_out.write_text(text, encoding="utf-8-sig")
    code, _, err = ssj(capsys, url, "import", "history", str(csv_out))
    assert code == 1 and f"本系统任务 {task}" in err
