"""The receiving edge's shared checks (bot/messengers/callback.py): the flat
``{"encrypt": …}`` envelope found without parsing, and the inbound fields' limits."""

from __future__ import annotations

import dataclasses

import pytest

from bot.messages import Inbound
from bot.messengers import callback


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"encrypt": "QUJD+/=="}', "QUJD+/=="),
        (b'  {"encrypt":"QUJD\\/REVG"}\n', "QUJD/REVG"),  # JSON's escaped slash
        (b'{"a": 1, "encrypt": "QUJD"}', "QUJD"),
    ],
)
def test_the_encrypt_field_of_a_flat_envelope(body, expected):
    assert callback.encrypted_field(body, 64) == expected


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b'"encrypt": "QUJD"',  # not an object
        b'{"x": {"encrypt": "QUJD"}}',  # nested
        b'{"encrypt": "QUJD", "encrypt": "REVG"}',  # two
        b'{"encrypt": "QU JD"}',  # not base64
        b'{"encrypt": ""}',
        b'{"encrypt": "' + b"A" * 65 + b'"}',  # longer than allowed
        b'{"encrypt": 12}',
    ],
)
def test_anything_else_is_no_envelope(body):
    assert callback.encrypted_field(body, 64) is None


def test_fits_limits_every_stored_field():
    ok = Inbound(kind="text", user="u1", text="帮助", event_id="msg:1", channel="wecom")
    assert callback.fits(ok)
    for name, limit in callback.LIMITS.items():
        assert callback.fits(dataclasses.replace(ok, **{name: "x" * limit}))
        assert not callback.fits(dataclasses.replace(ok, **{name: "x" * (limit + 1)}))
        assert not callback.fits(dataclasses.replace(ok, **{name: "a\x00b"}))
        assert not callback.fits(dataclasses.replace(ok, **{name: "a\ud800b"}))
