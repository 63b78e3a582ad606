"""Tickets must be exactly those of the published reference implementation
(``consistent_sampler``), so that anyone can re-check a draw independently."""

from __future__ import annotations

import hashlib

import consistent_sampler as cs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import tickets as tk
from bot.domain.tickets import (
    Tickets,
    check_reveal,
    commitment,
    make_seed,
    sha256_hex,
    sha256_uniform,
)

from .strategies import examples, usccs

# ids and seeds: any text, including CJK, emoji, combining marks and control characters
texts = st.text(max_size=40)
cjk = st.text(
    alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1, max_size=8
)
ids = st.one_of(texts, usccs, st.builds(lambda u, c: f"{u}/{c}", usccs, texts), cjk)
seed_texts = st.one_of(
    texts,
    cjk,
    st.builds(
        make_seed, st.binary(min_size=32, max_size=32).map(bytes.hex), st.one_of(st.none(), texts)
    ),
)


def test_doc_example_first_ticket():
    # The example in consistent_sampler's own documentation.
    expected = "0.26299714122838008416507544297546663599715395525154425586041245287750224561854"
    assert cs.first_ticket("AB-130", "01382438112797316654").ticket_number == expected
    assert Tickets("01382438112797316654")("AB-130") == expected
    assert sha256_uniform(sha256_hex("01382438112797316654") + "AB-130") == expected


def test_doc_example_sha256():
    assert sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_uniform("abc") == (
        "0.56998071861792858926477341561059638840106636224182943832566300809078486324348"
    )


@settings(max_examples=examples(300), deadline=None)
@given(st.one_of(texts, cjk))
def test_sha256_uniform_matches_reference(text):
    assert sha256_hex(text) == cs.sha256_hex(text)
    assert sha256_uniform(text) == cs.sha256_uniform(text)


@settings(max_examples=examples(300), deadline=None)
@given(ids, seed_texts)
def test_ticket_matches_first_ticket(ident, seed):
    ref = cs.first_ticket(ident, seed).ticket_number
    t = Tickets(seed)
    assert t(ident) == ref
    assert sha256_uniform(sha256_hex(seed) + ident) == ref
    # The same Tickets object gives the same answer twice (its hash state is copied).
    assert t(ident) == ref


@settings(max_examples=examples(100), deadline=None)
@given(usccs, texts, seed_texts)
def test_pairing_ticket_is_ticket_of_uscc_slash_cert(uscc, cert, seed):
    assert (
        Tickets(seed).pairing(uscc, cert) == cs.first_ticket(f"{uscc}/{cert}", seed).ticket_number
    )


@settings(max_examples=examples(100), deadline=None)
@given(st.lists(ids, max_size=30), seed_texts)
def test_many_equals_per_id_calls(idents, seed):
    t = Tickets(seed)
    assert t.many(idents) == [t(i) for i in idents]
    assert t.many(iter(idents)) == [cs.first_ticket(i, seed).ticket_number for i in idents]


def test_many_of_nothing():
    assert Tickets("s").many([]) == []


@settings(max_examples=examples(100), deadline=None)
@given(st.lists(ids, unique=True, max_size=40), seed_texts)
def test_order_by_ticket_then_id_is_the_reference_sampler_order(idents, seed):
    ours = [i for _, i in sorted(zip(Tickets(seed).many(idents), idents, strict=True))]
    assert ours == list(cs.sampler(idents, seed, output="id"))


def test_tickets_are_strings_compared_as_the_reference_does():
    # Tickets have 0. plus at least 64 digits; they are compared as text, which for
    # fractions written this way is also their numeric order.
    t = Tickets("2027Q1")
    values = t.many([f"id-{i}" for i in range(500)])
    assert all(v.startswith("0.") and len(v) >= 66 and v[2:].isdigit() for v in values)
    assert sorted(values) == sorted(values, key=lambda v: int(v[2:].ljust(80, "0")))


def test_different_seeds_give_different_tickets():
    assert Tickets("a")("x") != Tickets("b")("x")
    assert Tickets("a")("x") != Tickets("a")("y")


def test_prefix_is_sha256_of_seed_hex():
    # ticket = SHA256(hex(SHA256(seed)) + id): hashing the seed's hex, not its bytes.
    seed, ident = "秘密:骰子", "91410724MA00000000"
    digest = hashlib.sha256((hashlib.sha256(seed.encode()).hexdigest() + ident).encode()).digest()
    expected = "0." + str(int.from_bytes(digest, "big")).zfill(64)[::-1]
    assert Tickets(seed)(ident) == expected


# ---------------------------------------------------------------- commit / reveal


@settings(max_examples=examples(100), deadline=None)
@given(st.binary(min_size=32, max_size=32).map(bytes.hex), st.one_of(st.none(), texts))
def test_commitment_and_reveal(secret, entropy):
    c = commitment(secret)
    assert c == hashlib.sha256(secret.encode()).hexdigest()
    assert check_reveal(c, secret)
    assert not check_reveal(c, secret + "0")
    assert not check_reveal(c.upper() if c != c.upper() else c[::-1], secret)
    seed = make_seed(secret, entropy)
    assert seed == f"{secret}:{entropy or ''}"
    assert seed.split(":", 1)[0] == secret


def test_make_seed_without_entropy():
    assert make_seed("ab", None) == "ab:"
    assert make_seed("ab", "") == "ab:"
    assert make_seed("ab", "3-5-6") == "ab:3-5-6"


@pytest.mark.parametrize("secret", ["", "0" * 64, "密钥"])
def test_check_reveal_known_values(secret):
    assert check_reveal(hashlib.sha256(secret.encode()).hexdigest(), secret)


def test_algorithm_names_the_ticket_rule():
    assert "sha256_uniform(sha256_hex(seed) + id)" in tk.ALGORITHM
