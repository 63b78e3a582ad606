"""``ssj calendar`` on SQLite and PostgreSQL: deadlines, overrides (audited), unknown years."""

from __future__ import annotations

import json

import pytest

from .helpers import query, ssj, ssj_json


@pytest.fixture
def url(db_url, capsys):
    assert ssj(capsys, db_url, "init")[0] == 0
    return db_url


def deadline(capsys, url, start, n):
    return ssj(capsys, url, "calendar", "deadline", "--from", start, "--workdays", str(n))


def test_deadline_across_national_day_2026(url, capsys):
    code, out, err = deadline(capsys, url, "2026-09-30", 20)
    assert (code, out.strip(), err) == (0, "2026-11-03", "")
    assert ssj_json(
        capsys, url, "calendar", "deadline", "--from", "2026-09-30", "--workdays", "20"
    ) == {"from": "2026-09-30", "workdays": 20, "deadline": "2026-11-03"}
    assert deadline(capsys, url, "2026-02-12", 20)[1].strip() == "2026-03-18"


def test_an_override_changes_a_deadline_and_is_audited(url, capsys):
    code, out, _ = ssj(capsys, url, "calendar", "set", "2026-10-12", "休", "--name", "地方假日")
    assert code == 0 and "2026-10-12" in out and "休" in out and "地方假日" in out
    assert deadline(capsys, url, "2026-09-30", 20)[1].strip() == "2026-11-04"
    # changed again: a Sunday worked gives the day back, and more
    assert ssj(capsys, url, "calendar", "set", "2026-10-12", "班")[0] == 0
    assert ssj(capsys, url, "calendar", "set", "2026-10-11", "班", "--name", "补班")[0] == 0
    assert deadline(capsys, url, "2026-09-30", 20)[1].strip() == "2026-11-02"
    assert query(url, "SELECT COUNT(*) FROM calendar_days")[0][0] == 2
    rows = query(
        url, "SELECT actor, subject, data FROM audit_log WHERE action = 'calendar.set' ORDER BY id"
    )
    assert [r.subject for r in rows] == ["2026-10-12", "2026-10-12", "2026-10-11"]
    first, second, third = (json.loads(r.data) for r in rows)
    assert first == {"workday": False, "name": "地方假日", "previous": None, "library": True}
    assert second["previous"] == {"workday": False, "name": "地方假日"}
    assert third == {"workday": True, "name": "补班", "previous": None, "library": False}
    assert ssj(capsys, url, "audit", "verify")[0] == 0


def test_show_lists_holidays_adjusted_days_and_overrides(url, capsys):
    ssj(capsys, url, "calendar", "set", "2026-10-12", "休", "--name", "地方假日")
    code, out, _ = ssj(capsys, url, "calendar", "show", "--year", "2026")
    assert code == 0
    assert "日期" in out and "安排" in out and "来源" in out
    lines = {
        line.split()[0]: line for line in out.splitlines() if line[:4] == "2026" and line[4] == "-"
    }
    assert "国庆节" in lines["2026-10-07"] and "休" in lines["2026-10-07"]
    assert "班" in lines["2026-10-10"] and "星期六" in lines["2026-10-10"]
    assert "班" in lines["2026-02-28"] and "春节" in lines["2026-02-28"]
    assert "本地录入" in lines["2026-10-12"]
    assert "2026-10-08" not in lines
    assert "247 个工作日" in out


def test_unknown_year_fails_closed_until_each_needed_day_is_entered(url, capsys):
    code, out, err = deadline(capsys, url, "2099-01-05", 1)
    assert code == 1 and out == ""
    assert "2099 年的法定节假日和调休安排尚未知晓" in err and "2099-01-06" in err
    code, _, err = ssj(capsys, url, "calendar", "show", "--year", "2099")
    assert code == 1 and "尚未知晓" in err
    # entering one date decides that date only: the year does not become known
    code, out, _ = ssj(capsys, url, "calendar", "set", "2099-01-06", "班")
    assert code == 0 and "只对这一天有效" in out
    assert deadline(capsys, url, "2099-01-05", 1)[1].strip() == "2099-01-06"
    code, _, err = deadline(capsys, url, "2099-01-05", 2)
    assert code == 1 and "2099-01-07" in err
    ssj(capsys, url, "calendar", "set", "2099-01-07", "休")
    ssj(capsys, url, "calendar", "set", "2099-01-08", "班")
    assert deadline(capsys, url, "2099-01-05", 2)[1].strip() == "2099-01-08"
    code, out, err = ssj(capsys, url, "calendar", "show", "--year", "2099")
    assert code == 1 and "2099-01-07" in out and "仅录入了 3 天" in err
    assert (
        query(
            url,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'calendar.set' "
            "AND subject LIKE '2099-%'",
        )[0][0]
        == 3
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["set", "2026-02-30", "班"], "无法识别日期“2026-02-30”"),
        (["set", "明天", "休"], "无法识别日期“明天”"),
        (["set", "2026-10-12", "上午"], "无法识别安排“上午”"),
        (["deadline", "--from", "2026/09/30", "--workdays", "20"], "无法识别日期"),
        (["deadline", "--from", "2026-09-30", "--workdays", "0"], "正整数"),
        (["deadline", "--from", "2026-09-30", "--workdays", "二十"], "正整数"),
        (["show", "--year", "26年"], "无法识别年份"),
    ],
)
def test_bad_input_is_refused_in_chinese(url, capsys, args, message):
    code, out, err = ssj(capsys, url, "calendar", *args)
    assert code == 1 and out == "" and message in err
    assert query(url, "SELECT COUNT(*) FROM calendar_days")[0][0] == 0
