"""The plan shows the joint-inspection ratio against the 35 % goal (通知 二) and warns."""

from __future__ import annotations

from .helpers import ssj, ssj_json


def _joint(capsys, url, n):
    code, _, err = ssj(
        capsys,
        url,
        "task",
        "create",
        "--task",
        f"LH2027{n:02d}",
        "--kind",
        "joint",
        "--name",
        f"获嘉县工业企业部门联合抽查第{n}批",
        "--year",
        "2027",
        "--quarter",
        "2",
        "--departments",
        "市场监管",
        "--initiator",
        "本部门",
        "--count",
        "3",
    )
    assert code == 0, err


def test_plan_joint_ratio_and_warning(library, capsys):
    url = library
    doc = ssj_json(capsys, url, "plan", "make", "--year", "2027")
    assert doc["joint"] == {
        "quarterly": 4,
        "special": 0,
        "joint_initiated": 0,
        "percent": 0.0,
        "goal": 35,
        "met": False,
    }
    code, out, _ = ssj(capsys, url, "plan", "make", "--year", "2027")
    assert code == 0 and "低于 35% 的目标" in out
    for n in (1, 2):
        _joint(capsys, url, n)
    doc = ssj_json(capsys, url, "plan", "make", "--year", "2027")
    assert (doc["joint"]["joint_initiated"], doc["joint"]["percent"], doc["joint"]["met"]) == (
        2,
        33.3,
        False,
    )  # 2 / (4 + 2) = 33.3 % < 35 %
    _joint(capsys, url, 3)
    doc = ssj_json(capsys, url, "plan", "make", "--year", "2027")
    assert (doc["joint"]["percent"], doc["joint"]["met"]) == (42.9, True)  # 3 / 7
    code, out, _ = ssj(capsys, url, "plan", "make", "--year", "2027")
    assert "达到 35% 目标" in out
