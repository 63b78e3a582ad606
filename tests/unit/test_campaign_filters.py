"""Campaign object filters 环境信用评级 / 绩效分级 / 正面清单: matching, parsing, JSON, and the
draw of a filtered campaign against an independent reference (consistent_sampler)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain import snapshot as snap
from bot.domain.draw import draw, matches
from bot.domain.model import Category, DomainError, Enterprise, Inspector, Status, TaskSpec
from bot.services.tasks import parse_object_filter, supported_filters
from bot.text import domain_message

from .strategies import RULES, RefTickets, examples, make_uscc, seeds

K, G, S = Category.KEY, Category.GENERAL, Category.SPECIAL
CREDITS = ("环保诚信企业", "良好企业", "警示企业", "不良企业", "A", "B", "")
GRADES = ("A", "B", "C", "D", "B-", "")


def obj(credit="", grade="", positive=False, **kw) -> Enterprise:
    return Enterprise(
        kw.pop("uscc", make_uscc("91410724MA0000001")),
        kw.pop("name", "某企业"),
        kw.pop("category", K),
        credit=credit,
        grade=grade,
        positive=positive,
        **kw,
    )


# ---------------------------------------------------------------- matches


@pytest.mark.parametrize(
    "value, tag, ok",
    [
        ("A", "A", True),
        ("a", "A", True),
        (" A ", "A", True),
        ("Ａ", "A", True),
        ("A", "a", True),
        ("A", "B", False),
        ("A", "", False),
        ("B-", "b-", True),
        ("良好企业", "良好企业", True),
        ("良好企业", "环保诚信企业", False),
        ("良好 企业", "良好企业", True),
    ],
)
def test_credit_and_grade_match_exactly_ignoring_case_and_blanks(value, tag, ok):
    assert matches(obj(credit=tag), [("credit", value)]) is ok
    assert matches(obj(grade=tag), [("grade", value)]) is ok
    # the two tags are different columns: an object without a credit tag never matches
    assert not matches(obj(grade=tag), [("credit", value)])


def test_positive_list_matches_yes_and_no():
    on, off = obj(positive=True), obj(positive=False)
    assert matches(on, [("positive", "是")]) and not matches(off, [("positive", "是")])
    assert matches(off, [("positive", "否")]) and not matches(on, [("positive", "否")])


def test_every_filter_must_hold():
    o = obj(credit="良好企业", grade="A", positive=True, pollutants=("废气",), region="410724")
    assert matches(
        o,
        [
            ("credit", "良好企业"),
            ("grade", "a"),
            ("positive", "是"),
            ("pollutant", "废气"),
            ("region", "4107"),
            ("category", "重点监管"),
        ],
    )
    assert not matches(o, [("credit", "良好企业"), ("grade", "B")])
    assert not matches(o, [("grade", "A"), ("positive", "否")])


# ---------------------------------------------------------------- parsing (ssj task create)


def test_new_columns_parse_and_are_listed():
    assert parse_object_filter("环境信用评级=A") == ("credit", "A")
    assert parse_object_filter("绩效分级 = b") == ("grade", "b")
    assert parse_object_filter("正面清单=是") == ("positive", "是")
    assert parse_object_filter("正面清单=否") == ("positive", "否")
    for column in ("环境信用评级", "绩效分级", "正面清单"):
        assert column in supported_filters()


@pytest.mark.parametrize("value", ["1", "0", "Y", "yes", "不是", "是的"])
def test_positive_list_accepts_only_yes_or_no(value):
    with pytest.raises(DomainError) as err:
        parse_object_filter(f"正面清单={value}")
    assert err.value.code == "task_bad_positive"
    text = domain_message(err.value)
    assert value in text and "是" in text and "否" in text and "正面清单" in text


# ---------------------------------------------------------------- JSON and snapshots


def test_json_carries_tags_only_when_set():
    plain = obj()
    assert set(plain.to_json()) == {
        "uscc",
        "name",
        "category",
        "pollutants",
        "status",
        "region",
        "industry",
    }
    tagged = obj(credit="良好企业", grade="A", positive=True)
    d = tagged.to_json()
    assert (d["credit"], d["grade"], d["positive"]) == ("良好企业", "A", True)
    assert Enterprise.from_json(d) == tagged
    assert Enterprise.from_json(plain.to_json()) == plain
    assert "positive" not in obj(credit="A").to_json()


def test_a_snapshot_from_before_the_tags_reads_back_identically():
    old = {
        "uscc": make_uscc("91410724MA0000001"),
        "name": "某企业",
        "category": "重点监管",
        "pollutants": ["废气"],
        "status": "在产",
        "region": "410724",
        "industry": "化工",
    }
    e = Enterprise.from_json(old)
    assert (e.credit, e.grade, e.positive) == ("", "", False)
    assert e.to_json() == old
    spec = TaskSpec("2027Q1")
    doc = snap.make(
        [e], [Inspector("P1", "甲"), Inspector("P2", "乙")], frozenset(), {}, RULES, spec
    )
    again = snap.make(
        snap.inputs(doc).pool,
        snap.inputs(doc).inspectors,
        frozenset(),
        {},
        RULES,
        snap.inputs(doc).spec,
    )
    assert snap.digest(again) == snap.digest(doc)
    assert "auxiliary" not in doc["spec"]


# ---------------------------------------------------------------- the draw (property)

_tags = st.tuples(
    st.sampled_from(CREDITS),
    st.sampled_from(GRADES),
    st.booleans(),
    st.sampled_from([K, G, S]),
    st.integers(0, 19),
)


def _variant(text: str, how: int) -> str:
    """The same tag as a user might type it: lower case, padded, full-width."""
    if how == 1:
        return text.lower()
    if how == 2:
        return f" {text} "
    if how == 3:
        return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)
    return text


@st.composite
def campaigns(draw_):
    rows = draw_(st.lists(_tags, min_size=1, max_size=60))
    objects = [
        Enterprise(
            make_uscc(f"9141072410{i:07d}"),
            f"企业{i}",
            cat,
            (),
            Status.CLOSED if s == 19 else Status.RUNNING,
            "410724",
            credit=c,
            grade=g,
            positive=p,
        )
        for i, (c, g, p, cat, s) in enumerate(rows)
    ]
    filters = []
    if draw_(st.booleans()):
        filters.append(
            ("credit", _variant(draw_(st.sampled_from(CREDITS[:-1])), draw_(st.integers(0, 3))))
        )
    if draw_(st.booleans()):
        filters.append(
            ("grade", _variant(draw_(st.sampled_from(GRADES[:-1])), draw_(st.integers(0, 3))))
        )
    if draw_(st.booleans()):
        filters.append(("positive", draw_(st.sampled_from(["是", "否"]))))
    count = draw_(st.integers(1, 20))
    return objects, tuple(filters), count


def _ref_key(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKC", text).replace(" ", "").upper()


def _ref_matches(o: Enterprise, filters) -> bool:
    for f, v in filters:
        if f == "credit" and _ref_key(o.credit) != _ref_key(v):
            return False
        if f == "grade" and _ref_key(o.grade) != _ref_key(v):
            return False
        if f == "positive" and o.positive != (v == "是"):
            return False
    return True


@settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(campaigns(), seeds())
def test_a_filtered_campaign_draws_the_lowest_tickets_among_matching_objects(c, seed):
    objects, filters, count = c
    people = [Inspector(f"P{i:02d}", f"员{i}") for i in range(6)]
    spec = TaskSpec(
        "2027ZX01", kind="special", on=date(2027, 4, 1), count=count, object_filter=filters
    )
    res = draw(objects, people, frozenset(), {}, RULES, spec, seed)
    tk = RefTickets(seed)
    eligible = [o for o in objects if o.status is not Status.CLOSED and _ref_matches(o, filters)]
    expected = sorted(eligible, key=lambda o: (tk(o.uscc), o.uscc))[:count]
    assert [s.uscc for s in res.selections] == [o.uscc for o in expected]
    by_uscc = {o.uscc: o for o in objects}
    for s in res.selections:
        assert _ref_matches(by_uscc[s.uscc], filters)
        assert s.ticket == tk(s.uscc)
        assert len(s.inspectors) >= RULES.min_team and s.auxiliary == ()
