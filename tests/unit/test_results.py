"""Inspection results (第十三条, 第十五条, 第二十一条): conclusions, follow-ups, validation,
the 谁检查、谁录入、谁公开 state machine, dates, and the messages of every refusal."""

from __future__ import annotations

import re
from datetime import date, timedelta
from itertools import product

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.model import DomainError
from bot.domain.results import (
    ACTIONS,
    FINDINGS_LIMIT,
    Conclusion,
    Draft,
    Mode,
    State,
    can_enter,
    counts_as_inspected,
    draft_from_summary,
    followup_fields,
    offsite_allowed,
    parse_conclusion,
    parse_date,
    public_wording,
    required_followups,
    summary,
    transition,
    validate,
)
from bot.text import TEMPLATES, t

C = Conclusion
TODAY = date(2027, 3, 20)
DRAWN = date(2027, 3, 1)
WORDING = [
    "未发现问题",
    "发现问题已责令整改",
    "发现违法行为已立案调查",
    "已移送其他部门处理",
    "涉嫌犯罪已移送司法机关",
    "未检查：检查对象已关闭或无法联系",
]


def refused(code: str, fn, *args, **kwargs) -> dict:
    with pytest.raises(DomainError) as e:
        fn(*args, **kwargs)
    assert e.value.code == code, e.value.params
    return e.value.params


# --- conclusions ----------------------------------------------------------------------


def test_six_conclusions_in_spec_order_with_public_wording():
    assert [c.value for c in C] == WORDING
    assert [c.number for c in C] == [1, 2, 3, 4, 5, 6]
    assert [public_wording(c) for c in C] == WORDING


@pytest.mark.parametrize("n", range(1, 7))
def test_by_number_fullwidth_chinese_and_wording(n):
    c = list(C)[n - 1]
    for text in (
        str(n),
        chr(0xFF10 + n),
        "一二三四五六"[n - 1],
        f" {n} ",
        f"{n}.",
        f"{n}、",
        f"第{n}项",
        WORDING[n - 1],
        f"{n}. {WORDING[n - 1]}",
    ):
        assert parse_conclusion(text) is c, text


def test_ascii_colon_and_spaces_in_the_wording():
    assert parse_conclusion("未检查:检查对象已关闭或无法联系") is C.NOT_INSPECTED
    assert parse_conclusion(" 未检查： 检查对象已关闭或无法联系 ") is C.NOT_INSPECTED


@pytest.mark.parametrize(
    "text, expected",
    [
        ("未发现", C.NONE_FOUND),
        ("无问题", C.NONE_FOUND),
        ("没有问题", C.NONE_FOUND),
        ("责令整改", C.RECTIFY),
        ("整改", C.RECTIFY),
        ("发现问题", C.RECTIFY),
        ("立案", C.CASE),
        ("立案调查", C.CASE),
        ("发现违法行为", C.CASE),
        ("移送其他部门", C.DEPARTMENT),
        ("其他部门", C.DEPARTMENT),
        ("涉嫌犯罪", C.JUDICIAL),
        ("移送司法", C.JUDICIAL),
        ("司法机关", C.JUDICIAL),
        ("未检查", C.NOT_INSPECTED),
        ("已关闭", C.NOT_INSPECTED),
        ("无法联系", C.NOT_INSPECTED),
    ],
)
def test_short_forms(text, expected):
    assert parse_conclusion(text) is expected


@pytest.mark.parametrize(
    "text, candidates",
    [
        ("移送", [4, 5]),  # administrative or criminal referral: never a guess
        ("已移送", [4, 5]),
        ("发现", [2, 3]),
    ],
)
def test_ambiguous_short_forms_list_only_the_candidates(text, candidates):
    params = refused("bad_conclusion", parse_conclusion, text)
    assert params["text"] == text
    assert params["choices"] == [f"{n}. {WORDING[n - 1]}" for n in candidates]


@pytest.mark.parametrize(
    "text",
    ["", "  ", "7", "0", "七", "12", "未", "检查", "问题", "好", "3. 未发现问题", "合格了", "1.5"],
)
def test_unknown_conclusion_lists_all_choices(text):
    params = refused("bad_conclusion", parse_conclusion, text)
    assert params["choices"] == [f"{n}. {w}" for n, w in enumerate(WORDING, 1)]


@given(st.integers(1, 6))
def test_number_and_wording_agree(n):
    assert parse_conclusion(str(n)) == parse_conclusion(WORDING[n - 1]) == list(C)[n - 1]


# --- follow-ups -----------------------------------------------------------------------


def test_required_followups_per_conclusion():
    assert {c: required_followups(c) for c in C} == {
        C.NONE_FOUND: (),
        C.RECTIFY: ("rectification", "rectify_by"),
        C.CASE: ("case_no",),
        C.DEPARTMENT: ("department",),
        C.JUDICIAL: (),
        C.NOT_INSPECTED: (),
    }
    assert followup_fields(C.JUDICIAL) == ("transfer_to",)


def test_only_not_inspected_leaves_the_object_eligible():
    assert [counts_as_inspected(c) for c in C] == [True] * 5 + [False]


# --- inspection mode ------------------------------------------------------------------


@pytest.mark.parametrize(
    "credit, grade, positive, ok",
    [
        ("", "", False, False),
        ("环保良好企业", "B", False, False),
        ("B", "B级", False, False),
        ("环保诚信企业", "", False, True),
        ("环保诚信", "", False, True),
        ("A", "", False, True),
        ("A级", "", False, True),
        ("诚信", "", False, True),
        ("ａ级", "", False, True),
        ("", "A", False, True),
        ("", "a级", False, True),
        ("", " A级 ", False, True),
        ("", "AA", False, False),
        ("", "", True, True),
        ("环保警示企业", "C", True, True),
    ],
)
def test_offsite_rule(credit, grade, positive, ok):
    assert offsite_allowed(credit, grade, positive) is ok


def test_mode_parse():
    assert [Mode.parse(x) for x in ("现场", "现场检查", "1", "非现场", "非现场检查", "2", "x")] == [
        Mode.ONSITE
    ] * 3 + [Mode.OFFSITE] * 3 + [None]


# --- validation -----------------------------------------------------------------------


def draft(
    conclusion=C.NONE_FOUND,
    inspected_on=date(2027, 3, 10),
    mode=Mode.ONSITE,
    findings="",
    **followup,
) -> Draft:
    return Draft(conclusion, inspected_on, mode, findings, followup)


GOOD = {
    C.NONE_FOUND: draft(),
    C.RECTIFY: draft(
        C.RECTIFY,
        findings="废气处理设施未运行",
        rectification="立即恢复运行",
        rectify_by=date(2027, 4, 10),
    ),
    C.CASE: draft(C.CASE, findings="超标排放", case_no="获环罚〔2027〕3号"),
    C.DEPARTMENT: draft(C.DEPARTMENT, findings="无证经营", department="市场监管局"),
    C.JUDICIAL: draft(C.JUDICIAL, findings="私设暗管"),
    C.NOT_INSPECTED: draft(C.NOT_INSPECTED),
}


def check(d: Draft, offsite_ok: bool = False) -> None:
    validate(d, drawn_on=DRAWN, today=TODAY, offsite_ok=offsite_ok)


@pytest.mark.parametrize("c", list(C))
def test_complete_drafts_pass(c):
    check(GOOD[c])
    check(Draft(c, DRAWN, Mode.OFFSITE, GOOD[c].findings, GOOD[c].followup), offsite_ok=True)
    check(Draft(c, TODAY, Mode.ONSITE, GOOD[c].findings, GOOD[c].followup))


def test_date_in_future():
    assert refused("date_in_future", check, draft(inspected_on=TODAY + timedelta(1))) == {
        "inspected_on": "2027-03-21",
        "today": "2027-03-20",
    }


def test_date_before_draw():
    assert refused("date_before_draw", check, draft(inspected_on=DRAWN - timedelta(1))) == {
        "inspected_on": "2027-02-28",
        "drawn_on": "2027-03-01",
    }


def test_offsite_not_allowed():
    assert refused("offsite_not_allowed", check, draft(mode=Mode.OFFSITE)) == {}
    check(draft(mode=Mode.OFFSITE), offsite_ok=True)


@pytest.mark.parametrize("c", [C.RECTIFY, C.CASE, C.DEPARTMENT])
def test_every_required_followup_is_demanded(c):
    for name in required_followups(c):
        for blank in (None, "", "   "):
            fu = dict(GOOD[c].followup)
            if blank is None:
                del fu[name]
            else:
                fu[name] = blank
            d = Draft(c, GOOD[c].inspected_on, Mode.ONSITE, GOOD[c].findings, fu)
            assert refused("missing_followup", check, d) == {"field": name, "conclusion": c.value}


def test_transfer_to_is_optional():
    check(draft(C.JUDICIAL, findings="私设暗管", transfer_to="公安机关"))


def test_rectify_by_must_be_a_date():
    d = draft(C.RECTIFY, findings="x", rectification="y", rectify_by="下个月")
    assert refused("bad_date", check, d) == {"text": "下个月"}


@pytest.mark.parametrize("days", [0, -1, -5])
def test_rectify_by_not_after_inspection(days):
    on = date(2027, 3, 10)
    d = draft(C.RECTIFY, on, findings="x", rectification="y", rectify_by=on + timedelta(days))
    params = refused("rectify_by_not_after", check, d)
    assert params["inspected_on"] == "2027-03-10"
    check(draft(C.RECTIFY, on, findings="x", rectification="y", rectify_by=on + timedelta(1)))


@pytest.mark.parametrize("c", [C.RECTIFY, C.CASE, C.DEPARTMENT, C.JUDICIAL])
def test_findings_required_for_2_to_5(c):
    g = GOOD[c]
    for blank in ("", "  \n"):
        d = Draft(c, g.inspected_on, g.mode, blank, g.followup)
        assert refused("findings_required", check, d) == {"conclusion": c.value}


def test_findings_too_long():
    check(draft(findings="问" * FINDINGS_LIMIT))
    assert refused("findings_too_long", check, draft(findings="问" * (FINDINGS_LIMIT + 1))) == {
        "length": FINDINGS_LIMIT + 1,
        "limit": FINDINGS_LIMIT,
    }


def test_draft_copies_its_followup():
    fu = {"case_no": "1"}
    d = Draft(C.CASE, TODAY, followup=fu)
    fu["case_no"] = "2"
    assert d.followup == {"case_no": "1"}


# --- summary --------------------------------------------------------------------------


def test_summary_is_json_friendly_and_round_trips():
    import json

    s = summary(GOOD[C.RECTIFY])
    assert s == {
        "conclusion": "发现问题已责令整改",
        "conclusion_no": 2,
        "counts_as_inspected": True,
        "inspected_on": "2027-03-10",
        "mode": "现场检查",
        "findings": "废气处理设施未运行",
        "followup": {"rectification": "立即恢复运行", "rectify_by": "2027-04-10"},
    }
    assert json.loads(json.dumps(s, ensure_ascii=False)) == s
    for c in C:
        assert draft_from_summary(summary(GOOD[c])) == GOOD[c]


def test_summary_drops_followups_of_another_conclusion():
    d = draft(C.NONE_FOUND, case_no="stale", rectify_by=date(2027, 4, 1))
    assert summary(d)["followup"] == {}
    assert summary(GOOD[C.NOT_INSPECTED])["counts_as_inspected"] is False


# --- state machine --------------------------------------------------------------------

ALLOWED = {
    (State.NOT_ENTERED, "submit"): State.PENDING,
    (State.RETURNED, "submit"): State.PENDING,
    (State.PENDING, "approve"): State.APPROVED,
    (State.PENDING, "return"): State.RETURNED,
    (State.APPROVED, "publish"): State.PUBLISHED,
}


def test_states_in_spec_order():
    assert [s.value for s in State] == ["未录入", "待审核", "已退回", "已审核", "已公示"]


@pytest.mark.parametrize("state, action", list(product(State, ACTIONS + ("delete", ""))))
def test_every_state_action_pair(state, action):
    if (state, action) in ALLOWED:
        assert transition(state, action) is ALLOWED[(state, action)]
    else:
        assert refused("bad_transition", transition, state, action) == {
            "state": state.value,
            "action": action,
        }


def test_can_enter():
    assert {s for s in State if can_enter(s)} == {State.NOT_ENTERED, State.RETURNED}


def test_full_life_with_one_return():
    s = State.NOT_ENTERED
    for a in ("submit", "return", "submit", "approve", "publish"):
        s = transition(s, a)
    assert s is State.PUBLISHED


# --- dates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2027-03-15", date(2027, 3, 15)),
        ("2027/3/15", date(2027, 3, 15)),
        ("2027.3.15", date(2027, 3, 15)),
        ("2027年3月15日", date(2027, 3, 15)),
        ("2026年12月1号", date(2026, 12, 1)),
        ("20270315", date(2027, 3, 15)),
        ("3月15日", date(2027, 3, 15)),
        ("3月5", date(2027, 3, 5)),
        ("3-15", date(2027, 3, 15)),
        ("12/31", date(2027, 12, 31)),
        ("２０２７－０３－１５", date(2027, 3, 15)),
        (" 今天 ", TODAY),
        ("昨天", date(2027, 3, 19)),
        ("前天", date(2027, 3, 18)),
    ],
)
def test_parse_date_forms(text, expected):
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "明天",
        "2027-02-30",
        "2月30日",
        "13-01",
        "2027-3/15",
        "15/3/2027",
        "2027年13月1日",
        "03151",
        "abc",
    ],
)
def test_parse_date_rejects(text):
    assert refused("bad_date", parse_date, text, TODAY) == {"text": text.strip()}


@given(
    st.dates(min_value=date(1000, 1, 1), max_value=date(9999, 12, 31)),
    st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)),
)
def test_parse_date_round_trips(d, today):
    assert parse_date(d.isoformat(), today) == d
    assert parse_date(f"{d.year}年{d.month}月{d.day}日", today) == d
    assert parse_date(f"{d.year}/{d.month}/{d.day}", today) == d
    assert parse_date(f"{d.month}月{d.day}日", date(d.year, 6, 30)) == d


# --- messages -------------------------------------------------------------------------

SAMPLES = {
    "bad_conclusion": {
        "text": "移送",
        "choices": ["4. 已移送其他部门处理", "5. 涉嫌犯罪已移送司法机关"],
    },
    "bad_date": {"text": "下个月"},
    "date_in_future": {"inspected_on": "2027-03-21", "today": "2027-03-20"},
    "date_before_draw": {"inspected_on": "2027-02-28", "drawn_on": "2027-03-01"},
    "offsite_not_allowed": {},
    "missing_followup": {"field": "case_no", "conclusion": "发现违法行为已立案调查"},
    "rectify_by_not_after": {"rectify_by": "2027-03-10", "inspected_on": "2027-03-10"},
    "findings_required": {"conclusion": "发现问题已责令整改"},
    "findings_too_long": {"length": 2001, "limit": 2000},
    "bad_transition": {"state": "已公示", "action": "submit"},
}


def test_every_macro_renders():
    source = (TEMPLATES / "text" / "results.j2").read_text(encoding="utf-8")
    macros = set(re.findall(r"{%-?\s*macro\s+(\w+)", source))
    assert macros == set(SAMPLES)
    for name, params in SAMPLES.items():
        text = t(f"results.{name}", **params)
        assert text and "{" not in text, name
        for key, value in params.items():
            if key in ("field", "action"):  # shown in Chinese, see below
                continue
            for v in value if isinstance(value, list) else [value]:
                assert str(v) in text, (name, v)


@pytest.mark.parametrize("name", ["rectification", "rectify_by", "case_no", "department"])
def test_missing_followup_names_the_field_in_chinese(name):
    text = t("results.missing_followup", field=name, conclusion="x")
    assert name not in text


@pytest.mark.parametrize("action", ACTIONS)
def test_bad_transition_names_the_action_in_chinese(action):
    assert action not in t("results.bad_transition", state="已公示", action=action)


def test_raised_errors_render():
    """Every refusal the rules raise renders with exactly the params it carries."""
    errors = []
    for fn, args in [
        (parse_conclusion, ("移送",)),
        (parse_date, ("x", TODAY)),
        (transition, (State.PUBLISHED, "publish")),
    ]:
        with pytest.raises(DomainError) as e:
            fn(*args)
        errors.append(e.value)
    for d, ok in [
        (draft(inspected_on=TODAY + timedelta(1)), False),
        (draft(inspected_on=DRAWN - timedelta(1)), False),
        (draft(mode=Mode.OFFSITE), False),
        (draft(C.CASE, findings="x"), False),
        (draft(C.RECTIFY, findings="x", rectification="y", rectify_by=date(2027, 3, 1)), False),
        (draft(C.CASE, case_no="1"), False),
        (draft(findings="x" * 3000), False),
    ]:
        with pytest.raises(DomainError) as e:
            check(d, ok)
        errors.append(e.value)
    assert len({e.code for e in errors}) == len(errors) == 10
    for e in errors:
        assert t(f"results.{e.code}", **e.params)


@given(st.text(max_size=30))
def test_any_text_parses_or_is_refused_with_a_code(text):
    for fn, args in [(parse_conclusion, (text,)), (parse_date, (text, TODAY))]:
        try:
            fn(*args)
        except DomainError as e:
            assert e.code in ("bad_conclusion", "bad_date")
