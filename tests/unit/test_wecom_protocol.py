"""WeCom protocol layer: callback crypto, XML/JSON codecs, outbound message bodies.

Published vectors (used as data only):

- Tencent's official callback samples, as mirrored in sbzhu/weworkapi_python
  ``callback/Sample.py`` (token ``hJqcu…``) and sbzhu/weworkapi_php ``callback/Sample.php``
  (token ``QDG6eK``, with the published decrypted plaintext in its comment).
- wechatpy ``tests/test_crypto.py`` (token ``123456``, key ``kWxPEV2…``): signature check,
  message decryption, and message encryption with the random prefix fixed to
  ``1234567890123456``.

wechatpy's ``WeChatCrypto`` (``wechatpy.enterprise.crypto``) is the independent other side
of the wire for the cross-checks.
"""

from __future__ import annotations

import base64
import json
import struct
import time

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st
from wechatpy.enterprise.crypto import WeChatCrypto as PeerCrypto
from wechatpy.exceptions import InvalidSignatureException

from bot.messages import Button, Card
from bot.messengers.wecom import cards, xmlcodec
from bot.messengers.wecom.crypto import CryptoError, WeComCrypto, decode_aes_key
from bot.messengers.wecom.xmlcodec import CodecError

# --- published vectors ---------------------------------------------------------------

# Tencent's Python callback sample (sbzhu/weworkapi_python, callback/Sample.py).
PY_TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
PY_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
PY_CORP = "ww1436e0e65a779aee"
PY_VERIFY = (
    "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb",
    "1476416373",
    "47744683",
    "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==",
)
PY_MSG_SIG, PY_MSG_TS, PY_MSG_NONCE = (
    "0c3914025cb4b4d68103f6bfc8db550f79dcf48e",
    "1476422779",
    "1597212914",
)
PY_POST = (
    "<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName>\n<Encrypt><![CDATA["
    "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3Nye"
    "TkAgGzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0V"
    "JPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7M"
    "hmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh"
    "+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+]]></Encrypt>\n<AgentID><![CDATA[1000002]]></AgentID>\n</xml>"
)
# The same sample's reply plaintext (sRespData); the POST above decrypts to exactly it.
PY_PLAIN = (
    "<xml><ToUserName>ww1436e0e65a779aee</ToUserName><FromUserName>ChenJiaShun</FromUserName>"
    "<CreateTime>1476422779</CreateTime><MsgType>text</MsgType><Content>你好</Content>"
    "<MsgId>1456453720</MsgId><AgentID>1000002</AgentID></xml>"
)

# Tencent's PHP callback sample (sbzhu/weworkapi_php, callback/Sample.php).
PHP_TOKEN, PHP_KEY, PHP_CORP = (
    "QDG6eK",
    "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
    "wx5823bf96d3bd56c7",
)
PHP_VERIFY = (
    "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
    "1409659589",
    "263014780",
    "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
)
PHP_MSG_SIG, PHP_MSG_TS, PHP_MSG_NONCE = (
    "477715d11cdb4164915debcba66cb864d751f3e6",
    "1409659813",
    "1372623149",
)
PHP_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdC"
    "Upj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4X"
    "gpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+K"
    "qCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XX"
    "ZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHB"
    "ZZIs2pDBS8R07+qN+E7Q=="
)
PHP_PLAIN = (
    "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n"
    "<FromUserName><![CDATA[mycreate]]></FromUserName>\n<CreateTime>1409659813</CreateTime>\n"
    "<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n"
    "<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>"
)

# wechatpy tests/test_crypto.py.
WP_TOKEN, WP_KEY, WP_CORP = (
    "123456",
    "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
    "wx49f0ab532d5d035a",
)
WP_CHECK = (
    "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96",
    "1411443780",
    "437374425",
    "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==",
)
WP_DEC_SIG, WP_TS, WP_NONCE = "74d92dfeb87ba7c714f89d98870ae5eb62dff26d", "1411525903", "461056294"
WP_DEC_ENCRYPT = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrs"
    "TyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+"
    "BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7"
    "vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dS"
    "hyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
)
WP_REPLY = """<xml>
<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[test]]></Content>
<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>
<ToUserName><![CDATA[messense]]></ToUserName>
<AgentID>1</AgentID>
<CreateTime>1411525903</CreateTime>
</xml>"""
WP_REPLY_ENCRYPT = (
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBq"
    "GsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFh"
    "HZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX0"
    "5UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3"
    "WeK2XeFYFMNMpatF9XiKzHo3"
)
WP_REPLY_SIG = "407518b7649e86ef23978113f92d27afa9296533"

KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # any valid 43-character key
CORP = "ww0123456789abcdef"


# --- crypto: published vectors --------------------------------------------------------


def test_tencent_python_sample_url_verification():
    c = WeComCrypto(PY_TOKEN, PY_KEY, PY_CORP)
    sig, ts, nonce, echostr = PY_VERIFY
    assert c.signature(ts, nonce, echostr) == sig
    echo = c.verify_url(sig, ts, nonce, echostr)
    # the sample publishes no plaintext for the echostr: the independent peer must agree
    assert echo and echo == PeerCrypto(PY_TOKEN, PY_KEY, PY_CORP).check_signature(
        sig, ts, nonce, echostr
    )


def test_tencent_python_sample_message_decryption():
    c = WeComCrypto(PY_TOKEN, PY_KEY, PY_CORP)
    env = xmlcodec.parse_envelope(PY_POST.encode())
    assert env["to"] == PY_CORP and env["agent_id"] == "1000002"
    assert c.signature(PY_MSG_TS, PY_MSG_NONCE, env["encrypt"]) == PY_MSG_SIG
    plain = c.decrypt_message(PY_MSG_SIG, PY_MSG_TS, PY_MSG_NONCE, env["encrypt"])
    assert plain == PY_PLAIN
    msg = xmlcodec.parse_message(plain)
    assert (msg["FromUserName"], msg["Content"], msg["MsgId"]) == (
        "ChenJiaShun",
        "你好",
        "1456453720",
    )


def test_tencent_php_sample_url_verification_and_published_plaintext():
    c = WeComCrypto(PHP_TOKEN, PHP_KEY, PHP_CORP)
    sig, ts, nonce, echostr = PHP_VERIFY
    assert c.signature(ts, nonce, echostr) == sig
    assert c.verify_url(sig, ts, nonce, echostr) == PeerCrypto(
        PHP_TOKEN, PHP_KEY, PHP_CORP
    ).check_signature(sig, ts, nonce, echostr)
    assert c.signature(PHP_MSG_TS, PHP_MSG_NONCE, PHP_ENCRYPT) == PHP_MSG_SIG
    assert c.decrypt_message(PHP_MSG_SIG, PHP_MSG_TS, PHP_MSG_NONCE, PHP_ENCRYPT) == PHP_PLAIN


def test_wechatpy_vectors():
    c = WeComCrypto(WP_TOKEN, WP_KEY, WP_CORP)
    sig, ts, nonce, echostr = WP_CHECK
    assert c.signature(ts, nonce, echostr) == sig
    assert c.verify_url(sig, ts, nonce, echostr)
    with pytest.raises(CryptoError) as err:  # wechatpy's "should fail" case: nonce - 1
        c.verify_url(sig, ts, "437374424", echostr)
    assert err.value.reason == "signature"
    msg = xmlcodec.parse_message(c.decrypt_message(WP_DEC_SIG, WP_TS, WP_NONCE, WP_DEC_ENCRYPT))
    assert (msg["Content"], msg["FromUserName"]) == ("test", "messense")
    encrypted, signature = c.encrypt_reply(WP_REPLY, WP_TS, WP_NONCE, random16=b"1234567890123456")
    assert (encrypted, signature) == (WP_REPLY_ENCRYPT, WP_REPLY_SIG)


def test_key_validation():
    assert len(decode_aes_key(KEY)) == 32
    for bad in ("", KEY[:42], KEY + "A", "!" * 43, "abc=" + KEY[4:]):
        with pytest.raises(ValueError, match="EncodingAESKey"):
            WeComCrypto("t", bad, CORP)
    with pytest.raises(ValueError, match="Token"):
        WeComCrypto("", KEY, CORP)


# --- crypto: the other side of the wire (wechatpy) --------------------------------------


def test_peer_encrypts_we_decrypt():
    peer = PeerCrypto("tok", KEY, CORP)
    xml = peer.encrypt_message(
        "<xml><Content><![CDATA[抽查 1]]></Content></xml>", "99", "1700000000"
    )
    reply = xmlcodec.parse_xml(xml)
    ours = WeComCrypto("tok", KEY, CORP)
    assert (
        ours.decrypt_message(
            reply.findtext("MsgSignature"), "1700000000", "99", reply.findtext("Encrypt")
        )
        == "<xml><Content><![CDATA[抽查 1]]></Content></xml>"
    )


def test_we_encrypt_reply_peer_decrypts():
    ours = WeComCrypto("tok", KEY, CORP)
    encrypted, sig = ours.encrypt_reply("<xml><Content>好</Content></xml>", "1700000001", "42")
    envelope = xmlcodec.reply_xml(encrypted, sig, "1700000001", "42")
    peer = PeerCrypto("tok", KEY, CORP)
    assert (
        peer.decrypt_message(envelope, sig, "1700000001", "42")
        == "<xml><Content>好</Content></xml>"
    )
    with pytest.raises(InvalidSignatureException):
        peer.decrypt_message(envelope, sig, "1700000001", "43")


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300), st.text(max_size=40), st.sampled_from(["", CORP]))
def test_cross_peer_round_trip(message, receive_id, corp_or_empty):
    rid = receive_id or corp_or_empty
    ours, peer = WeComCrypto("tok", KEY, rid), PeerCrypto("tok", KEY, rid)
    xml = peer.encrypt_message(message, "n", "1")
    reply = xmlcodec.parse_xml(xml)
    assert (
        ours.decrypt_message(reply.findtext("MsgSignature"), "1", "n", reply.findtext("Encrypt"))
        == message
    )
    encrypted, sig = ours.encrypt_reply(message, "2", "m")
    assert peer.decrypt_message({"Encrypt": encrypted}, sig, "2", "m") == message


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000), st.text(max_size=64), st.binary(min_size=16, max_size=16))
def test_round_trip(message, receive_id, random16):
    c = WeComCrypto("tok", KEY, receive_id)
    encrypted, sig = c.encrypt_reply(message, "1700000000", "nonce", random16)
    assert len(base64.b64decode(encrypted)) % 32 == 0
    assert c.decrypt_message(sig, "1700000000", "nonce", encrypted) == message


def test_ai_bot_empty_receive_id_json_round_trip():
    # 智能机器人: JSON {"encrypt": ...} with the same crypto and ReceiveId "" (WeCom doc 101033)
    bot = WeComCrypto("tok", KEY, "")
    doc = {
        "msgid": "CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI=",
        "chatid": "wrkSFfCgAAxxxx",
        "chattype": "group",
        "from": {"userid": "zhangsan"},
        "msgtype": "text",
        "text": {"content": "@抽查助手 抽查进度"},
    }
    encrypted, sig = bot.encrypt_reply(json.dumps(doc, ensure_ascii=False), "1", "n")
    with pytest.raises(CryptoError) as err:  # a CorpID-bound app must not accept it
        WeComCrypto("tok", KEY, CORP).decrypt_message(sig, "1", "n", encrypted)
    assert err.value.reason == "receive_id"
    inbound = xmlcodec.bot_callback_to_inbound(
        json.loads(bot.decrypt_message(sig, "1", "n", encrypted))
    )
    assert (inbound.room, inbound.group, inbound.user, inbound.mentioned) == (
        "group",
        "wrkSFfCgAAxxxx",
        "zhangsan",
        True,
    )


# --- crypto: refusals ------------------------------------------------------------------


def _raw_encrypt(key_b64: str, plain: bytes) -> str:
    key = decode_aes_key(key_b64)
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


def _frame(message: bytes, rid: bytes, declared: int | None = None) -> bytes:
    n = len(message) if declared is None else declared
    return b"R" * 16 + struct.pack(">I", n) + message + rid


def _pkcs7_32(data: bytes) -> bytes:
    pad = 32 - len(data) % 32
    return data + bytes([pad]) * pad


def _reason(c: WeComCrypto, encrypted: str) -> str:
    start = time.perf_counter()
    with pytest.raises(CryptoError) as err:
        c.decrypt(encrypted)
    assert time.perf_counter() - start < 0.5
    return err.value.reason


def test_wrong_signature_refused():
    c = WeComCrypto("tok", KEY, CORP)
    encrypted, sig = c.encrypt_reply("hi", "1", "n")
    for bad in ("", "0" * 40, sig[:-1] + ("0" if sig[-1] != "0" else "1"), sig + "00", "中" * 40):
        with pytest.raises(CryptoError) as err:
            c.decrypt_message(bad, "1", "n", encrypted)
        assert err.value.reason == "signature"
    with pytest.raises(CryptoError):
        WeComCrypto("other", KEY, CORP).decrypt_message(sig, "1", "n", encrypted)


def test_tampered_ciphertext_never_returns_garbage():
    c = WeComCrypto("tok", KEY, CORP)
    encrypted, sig = c.encrypt_reply("<xml><Content>批准</Content></xml>", "1", "n", b"0" * 16)
    raw = base64.b64decode(encrypted)
    for i in range(len(raw)):
        tampered = base64.b64encode(raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1 :]).decode()
        with pytest.raises(CryptoError) as err:
            c.decrypt_message(sig, "1", "n", tampered)
        assert err.value.reason == "signature"
        if i >= len(raw) - 16:
            # even without the signature, a flip in the last block breaks padding or receive id
            assert _reason(c, tampered) in {"padding", "receive_id", "length"}


def test_bad_padding_refused():
    c = WeComCrypto("tok", KEY, CORP)
    body = _frame(b"<xml/>", CORP.encode())
    fill = 32 - len(body) % 32
    for last in (0, 33, 255):
        assert _reason(c, _raw_encrypt(KEY, body + bytes([last]) * fill)) == "padding"
    # pad byte 3 with unequal pad bytes
    bad = (
        body + b"\x07" * (fill - 1) + b"\x03" if fill > 3 else body + b"\x00" * 29 + b"\x01\x02\x03"
    )
    assert _reason(c, _raw_encrypt(KEY, bad)) == "padding"


def test_structural_refusals():
    c = WeComCrypto("tok", KEY, CORP)
    assert (
        _reason(c, _raw_encrypt(KEY, _pkcs7_32(_frame(b"<xml/>", b"ww-somebody-else"))))
        == "receive_id"
    )
    assert (
        _reason(c, _raw_encrypt(KEY, _pkcs7_32(_frame(b"<xml/>", CORP.encode(), declared=10**6))))
        == "length"
    )
    assert _reason(c, _raw_encrypt(KEY, _pkcs7_32(b"short"))) == "length"
    assert (
        _reason(c, _raw_encrypt(KEY, _pkcs7_32(_frame(b"\xff\xfe bad", CORP.encode())))) == "utf8"
    )
    assert _reason(c, "not base64 !!") == "base64"
    assert _reason(c, "QUJD\nREVG") == "base64"
    assert _reason(c, base64.b64encode(b"x" * 20).decode()) == "length"
    assert _reason(c, "") == "length"
    # a receive id that is a prefix or extension of the configured one is not it
    assert (
        _reason(c, _raw_encrypt(KEY, _pkcs7_32(_frame(b"<xml/>", CORP.encode()[:-1]))))
        == "receive_id"
    )
    assert _reason(WeComCrypto("tok", KEY, ""), c.encrypt("x")) == "receive_id"


# --- XML codec ---------------------------------------------------------------------------


def _codec_error(data, **kw) -> str:
    start = time.perf_counter()
    with pytest.raises(CodecError) as err:
        xmlcodec.parse_message(data, **kw)
    assert time.perf_counter() - start < 1.0
    return str(err.value)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<xml><Content>&lol9;</Content></xml>"""
XXE = """<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><MsgType>text</MsgType><Content>&xxe;</Content></xml>"""


def test_hostile_xml_refused():
    assert "DOCTYPE" in _codec_error(BILLION_LAUGHS)
    assert "DOCTYPE" in _codec_error(XXE)
    assert "DOCTYPE" in _codec_error(XXE.replace("DOCTYPE", "doctype").replace("ENTITY", "Entity"))
    assert "DOCTYPE" in _codec_error(b'<xml><!ENTITY x "y"></xml>')
    # UTF-16 hides the text from the byte scan; the parser's own handlers still refuse it
    assert "DOCTYPE" in _codec_error(
        BILLION_LAUGHS.replace('version="1.0"', 'version="1.0" encoding="UTF-16"').encode("utf-16")
    )
    assert "malformed" in _codec_error("<xml><Content>unclosed</xml>")
    assert "malformed" in _codec_error("")
    assert "malformed" in _codec_error("<xml>&undefined;</xml>")
    assert "exceeds" in _codec_error("<xml><Content>" + "a" * 70_000 + "</Content></xml>")
    assert "exceeds" in _codec_error("<xml><Content>abc</Content></xml>", max_bytes=10)
    with pytest.raises(CodecError, match="Encrypt"):
        xmlcodec.parse_envelope(b"<xml><ToUserName>ww</ToUserName></xml>")


def test_parser_refuses_doctype_even_past_the_byte_scan(monkeypatch):
    monkeypatch.setattr(
        xmlcodec, "_FORBIDDEN", type("Never", (), {"search": staticmethod(lambda b: None)})
    )
    assert "DOCTYPE" in _codec_error(BILLION_LAUGHS)
    assert "DOCTYPE" in _codec_error(XXE)


TEXT_XML = """<xml><ToUserName><![CDATA[ww1]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName>
<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[ 抽查 2024-1 ]]></Content><MsgId>1234567890123456</MsgId><AgentID>1000002</AgentID></xml>"""
# the shape of WeCom's template_card_event example (doc 90240), as quoted in WxJava's tests
CARD_EVENT_XML = """<xml>
<ToUserName><![CDATA[toUser]]></ToUserName>
<FromUserName><![CDATA[FromUser]]></FromUserName>
<CreateTime>123456789</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[template_card_event]]></Event>
<EventKey><![CDATA[acc:12]]></EventKey>
<TaskId><![CDATA[ssj-7-a1]]></TaskId>
<CardType><![CDATA[button_interaction]]></CardType>
<ResponseCode><![CDATA[ResponseCode]]></ResponseCode>
<AgentID>1</AgentID>
<SelectedItems>
    <SelectedItem>
        <QuestionKey><![CDATA[QuestionKey1]]></QuestionKey>
        <OptionIds><OptionId><![CDATA[OptionId1]]></OptionId><OptionId><![CDATA[OptionId2]]></OptionId></OptionIds>
    </SelectedItem>
    <SelectedItem>
        <QuestionKey><![CDATA[QuestionKey2]]></QuestionKey>
        <OptionIds><OptionId><![CDATA[OptionId3]]></OptionId></OptionIds>
    </SelectedItem>
</SelectedItems>
</xml>"""
IMAGE_XML = """<xml><ToUserName><![CDATA[ww1]]></ToUserName><FromUserName><![CDATA[lisi]]></FromUserName>
<CreateTime>1348831860</CreateTime><MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://x/y]]></PicUrl>
<MediaId><![CDATA[media_id_1]]></MediaId><MsgId>99</MsgId><AgentID>1</AgentID></xml>"""


def test_text_to_inbound():
    msg = xmlcodec.parse_message(TEXT_XML)
    assert (
        msg["Content"] == " 抽查 2024-1 " and msg["AgentID"] == "1000002" and msg["EventKey"] == ""
    )
    inbound = xmlcodec.to_inbound(msg)
    assert (
        inbound.kind,
        inbound.user,
        inbound.room,
        inbound.text,
        inbound.event_id,
        inbound.channel,
    ) == ("text", "zhangsan", "private", " 抽查 2024-1 ", "msg:1234567890123456", "wecom")


def test_card_click_to_inbound():
    msg = xmlcodec.parse_message(CARD_EVENT_XML)
    assert msg["SelectedItems"] == [
        {"QuestionKey": "QuestionKey1", "OptionIds": ["OptionId1", "OptionId2"]},
        {"QuestionKey": "QuestionKey2", "OptionIds": ["OptionId3"]},
    ]
    inbound = xmlcodec.to_inbound(msg)
    assert (inbound.kind, inbound.user, inbound.key, inbound.message_id, inbound.handle) == (
        "click",
        "FromUser",
        "acc:12",
        "ssj-7-a1",
        "ResponseCode",
    )
    assert inbound.event_id.startswith("evt:") and inbound.channel == "wecom"
    # a retry of the same event deduplicates; another button, time or user does not
    assert xmlcodec.to_inbound(xmlcodec.parse_message(CARD_EVENT_XML)).event_id == inbound.event_id
    for old, new in (
        ("acc:12", "rej:12"),
        ("123456789<", "123456790<"),
        ("[FromUser]", "[Other]"),
        ("ssj-7-a1", "ssj-8-a1"),
    ):
        other = xmlcodec.to_inbound(xmlcodec.parse_message(CARD_EVENT_XML.replace(old, new)))
        assert other.event_id != inbound.event_id


def test_image_and_ignored_events():
    inbound = xmlcodec.to_inbound(xmlcodec.parse_message(IMAGE_XML))
    assert (inbound.kind, inbound.user, inbound.file_ref, inbound.event_id) == (
        "file",
        "lisi",
        "media_id_1",
        "msg:99",
    )
    file_xml = IMAGE_XML.replace("image", "file").replace(
        "<PicUrl>", "<FileName>报告.pdf</FileName><PicUrl>"
    )
    assert xmlcodec.to_inbound(xmlcodec.parse_message(file_xml)).file_name == "报告.pdf"
    for event in ("enter_agent", "subscribe", "unsubscribe", "click"):
        xml = f"<xml><FromUserName>u</FromUserName><MsgType>event</MsgType><Event>{event}</Event></xml>"
        assert xmlcodec.to_inbound(xmlcodec.parse_message(xml)) is None
    location = (
        "<xml><FromUserName>u</FromUserName><MsgType>location</MsgType><Location_X>35.1</Location_X>"
        "<Location_Y>113.6</Location_Y><Label>获嘉县</Label><MsgId>5</MsgId></xml>"
    )
    msg = xmlcodec.parse_message(location)
    assert (msg["Location_X"], msg["Location_Y"], msg["Label"]) == ("35.1", "113.6", "获嘉县")
    assert xmlcodec.to_inbound(msg) is None
    assert xmlcodec.to_inbound(xmlcodec.parse_message(TEXT_XML.replace("zhangsan", ""))) is None


def test_bot_json_to_inbound():
    # field names as in WeCom doc 100719 (智能机器人 接收消息, 文本消息)
    group = {
        "msgid": "CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI=",
        "aibotid": "AIBOTID",
        "chatid": "CHATID",
        "chattype": "group",
        "from": {"userid": "USERID"},
        "response_url": "RESPONSEURL",
        "msgtype": "text",
        "text": {"content": "@RobotA hello robot"},
    }
    inbound = xmlcodec.bot_callback_to_inbound(group)
    assert (
        inbound.kind,
        inbound.room,
        inbound.group,
        inbound.user,
        inbound.text,
        inbound.mentioned,
        inbound.event_id,
        inbound.channel,
    ) == (
        "text",
        "group",
        "CHATID",
        "USERID",
        "@RobotA hello robot",
        True,
        "bot:CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI=",
        "wecom",
    )
    single = dict(group, chattype="single")
    single.pop("chatid")
    inbound = xmlcodec.bot_callback_to_inbound(single)
    assert (inbound.room, inbound.group, inbound.mentioned) == ("private", "", False)
    assert xmlcodec.bot_callback_to_inbound(dict(group, msgtype="image")) is None
    assert xmlcodec.bot_callback_to_inbound(dict(group, msgtype="event")) is None
    for broken in (
        dict(group, **{"from": "USERID"}),
        dict(group, text={}),
        dict(group, msgid=""),
        ["x"],
    ):
        with pytest.raises(CodecError):
            xmlcodec.bot_callback_to_inbound(broken)


def test_reply_xml():
    root = xmlcodec.parse_xml(xmlcodec.reply_xml("ENC+/=", "abc123", "1700000000", "nonce1"))
    assert [(e.tag, e.text) for e in root] == [
        ("Encrypt", "ENC+/="),
        ("MsgSignature", "abc123"),
        ("TimeStamp", "1700000000"),
        ("Nonce", "nonce1"),
    ]
    with pytest.raises(ValueError):
        xmlcodec.reply_xml("x", "y", "17<0", "n")
    with pytest.raises(ValueError):
        xmlcodec.reply_xml("x", "y", "1", "n]]><evil/>")


# --- outbound bodies -----------------------------------------------------------------------


def test_text_body_short_and_split_at_lines():
    (body,) = cards.text_body("zhangsan", 1000002, "抽查结果\n第二行")
    assert body == {
        "touser": "zhangsan",
        "msgtype": "text",
        "agentid": 1000002,
        "text": {"content": "抽查结果\n第二行"},
    }
    assert len(cards.text_body("u", 1, "a" * 2048)) == 1
    assert len(cards.text_body("u", 1, "a" * 2049)) == 2
    line = "企" * 333 + "\n"  # 1000 bytes per line
    bodies = cards.text_body("u", 1, line * 5)
    assert [b["text"]["content"] for b in bodies] == [line * 2, line * 2, line]
    with pytest.raises(ValueError):
        cards.text_body("u", 1, "")


def test_long_line_never_splits_a_character():
    chunks = cards.split_text("😀" * 600)  # 2400 bytes, one line
    assert "".join(chunks) == "😀" * 600
    assert [len(c.encode()) for c in chunks] == [2048, 352]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(alphabet=st.sampled_from("ab中😀 \t"), max_size=90), max_size=30),
    st.sampled_from(["\n", "\r\n"]),
    st.integers(min_value=8, max_value=120),
)
def test_split_text_properties(lines, newline, limit):
    text = newline.join(lines)
    chunks = cards.split_text(text, limit)
    assert "".join(chunks) == text
    assert all(0 < len(c.encode()) <= limit for c in chunks)
    if all(len((ln + newline).encode()) <= limit for ln in lines):
        # every chunk but the last ends at a line end
        assert all(c.endswith(newline) for c in chunks[:-1])


def _card(n_buttons: int = 3, **kw) -> Card:
    buttons = tuple(Button(f"k:{i}", f"按钮{i}") for i in range(n_buttons))
    return Card(kw.get("title", "抽查任务 2024-3"), kw.get("body", "请确认是否接受"), buttons, 12)


def test_card_body_shape():
    body = cards.card_body("zhangsan", 1000002, _card(3), cards.make_task_id(7, "a1"))
    assert (
        body["touser"] == "zhangsan"
        and body["msgtype"] == "template_card"
        and body["agentid"] == 1000002
    )
    tc = body["template_card"]
    assert tc["card_type"] == "button_interaction" and tc["task_id"] == "ssj-7-a1"
    assert (
        tc["main_title"] == {"title": "抽查任务 2024-3"}
        and tc["sub_title_text"] == "请确认是否接受"
    )
    assert [(b["style"], b["key"], b["text"]) for b in tc["button_list"]] == [
        (1, "k:0", "按钮0"),
        (2, "k:1", "按钮1"),
        (2, "k:2", "按钮2"),
    ]
    assert cards.card_body("u", 1, _card(6), "t")["template_card"]["button_list"][5]["key"] == "k:5"
    tc = cards.card_body("u", 1, _card(1, body=""), "t", source_desc="双随机", title_desc="编号 12")
    assert "sub_title_text" not in tc["template_card"]
    assert tc["template_card"]["source"] == {"desc": "双随机"}
    assert tc["template_card"]["main_title"]["desc"] == "编号 12"


def test_card_body_limits():
    with pytest.raises(ValueError, match="at most 6"):
        cards.card_body("u", 1, _card(7), "t")
    with pytest.raises(ValueError, match="at least one"):
        cards.card_body("u", 1, _card(0), "t")
    dup = Card("t", "b", (Button("k", "a"), Button("k", "b")))
    with pytest.raises(ValueError, match="unique"):
        cards.card_body("u", 1, dup, "t")
    with pytest.raises(ValueError, match="1024"):
        cards.card_body("u", 1, Card("t", "b", (Button("k" * 1025, "a"),)), "t")
    for bad in ("", "has space", "中文", "a" * 129, "semi;colon"):
        with pytest.raises(ValueError, match="task_id"):
            cards.card_body("u", 1, _card(1), bad)
    long = cards.card_body(
        "u", 1, Card("题" * 50, "文" * 500, (Button("k", "一二三四五六七八九十十一"),)), "t"
    )
    tc = long["template_card"]
    assert tc["main_title"]["title"] == "题" * 35 + "…"
    assert tc["sub_title_text"] == "文" * 159 + "…"
    assert tc["button_list"][0]["text"] == "一二三四五六七八九…"
    assert cards.card_text(_card(1)) == "抽查任务 2024-3\n请确认是否接受"


_SALT = st.text(
    alphabet=st.sampled_from("0123456789abcdefghijklmnopqrstuvwxyzABCXYZ_-@"),
    min_size=1,
    max_size=20,
)


@given(
    st.integers(min_value=0, max_value=2**63),
    _SALT,
    st.integers(min_value=0, max_value=2**63),
    _SALT,
)
def test_task_ids_valid_and_unique(id_a, salt_a, id_b, salt_b):
    a, b = cards.make_task_id(id_a, salt_a), cards.make_task_id(id_b, salt_b)
    assert cards.is_valid_task_id(a) and len(a.encode()) <= 128
    assert (a == b) == ((id_a, salt_a) == (id_b, salt_b))
    assert cards.card_body("u", 1, _card(2), a)["template_card"]["task_id"] == a


def test_task_id_refusals():
    for outbox_id, salt in (
        (-1, "a"),
        (1, ""),
        (1, "a b"),
        (1, "中"),
        (1, "x" * 125),
        (True, "a"),
        ("1", "a"),
    ):
        with pytest.raises(ValueError):
            cards.make_task_id(outbox_id, salt)


def test_update_card_body():
    assert cards.update_card_body(1000002, "RC", None, "已处理") == {
        "agentid": 1000002,
        "response_code": "RC",
        "button": {"replace_name": "已处理"},
    }
    body = cards.update_card_body(1, "RC", _card(0), "已接受", userids=["zhangsan"])
    assert body == {
        "agentid": 1,
        "response_code": "RC",
        "userids": ["zhangsan"],
        "button": {"replace_name": "已接受"},
    }
    body = cards.update_card_body(1, "RC", _card(2, title="已更新"), atall=True)
    assert body["atall"] == 1 and "button" not in body
    tc = body["template_card"]
    assert tc["card_type"] == "button_interaction" and tc["main_title"]["title"] == "已更新"
    assert [b["key"] for b in tc["button_list"]] == ["k:0", "k:1"] and "task_id" not in tc
    assert (
        cards.update_card_body(1, "RC", _card(1), task_id="ssj-1-b")["template_card"]["task_id"]
        == "ssj-1-b"
    )
    with pytest.raises(ValueError):
        cards.update_card_body(1, "", None)
