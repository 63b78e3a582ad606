"""DingTalk callback crypto: the event subscription's envelope and the robot's signature.

Event subscription (HTTP mode, "加解密方案"): :mod:`bot.messengers.bizcrypt`'s scheme,
shared with WeCom (AES-256-CBC, key = base64decode(aesKey + "="), IV = key[:16]; the
envelope 16 random bytes + 4-byte big-endian length + message + owner key, padded to 32
bytes; signature = SHA-1 hex of the sorted token, timestamp, nonce, encrypt). The owner
key is the AppKey of an internal app, the CorpId of older registrations, a SuiteKey for
an ISV.

Robot outgoing callbacks: headers ``timestamp`` (ms) and ``sign`` =
base64(HMAC-SHA256(appSecret, timestamp + "\\n" + appSecret)).

Every failure raises :class:`CryptoError` with a short ``reason`` (a wrong owner key:
``owner``); decryption never returns unchecked bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from bot.messengers import bizcrypt


class CryptoError(bizcrypt.CryptoError):
    """reason: signature, base64, length, padding, owner, utf8."""

    messenger = "dingtalk"


def decode_aes_key(aes_key: str) -> bytes:
    """The 43-character aesKey → the 32-byte AES key; ValueError when malformed."""
    return bizcrypt.decode_aes_key(aes_key, "aes_key")


class EventCrypto(bizcrypt.BizMsgCrypt):
    """Sign, verify, encrypt and decrypt the event subscription's payloads."""

    error = CryptoError
    owner_reason = "owner"

    def __init__(self, token: str, aes_key: str, owner_key: str) -> None:
        if not isinstance(token, str) or not token:
            raise ValueError("token must be a non-empty string")
        if not isinstance(owner_key, str) or not owner_key:
            raise ValueError("owner key (AppKey or CorpId) must be a non-empty string")
        super().__init__(token, decode_aes_key(aes_key), owner_key)
        self.owner_key = owner_key

    def reply(self, message: str, timestamp: str, nonce: str) -> dict:
        """The answer to a callback: ``message`` ("success") encrypted and signed."""
        encrypted = self.encrypt(message)
        return {
            "msg_signature": self.signature(timestamp, nonce, encrypted),
            "encrypt": encrypted,
            "timeStamp": timestamp,
            "nonce": nonce,
        }


def robot_sign(app_secret: str, timestamp: str) -> str:
    """The ``sign`` header of a robot outgoing callback dated ``timestamp`` (ms)."""
    mac = hmac.new(
        app_secret.encode("utf-8"), f"{timestamp}\n{app_secret}".encode(), hashlib.sha256
    )
    return base64.b64encode(mac.digest()).decode("ascii")


def robot_sign_ok(app_secret: str, timestamp: str, sign: str) -> bool:
    expected = robot_sign(app_secret, timestamp).encode("ascii")
    return hmac.compare_digest(expected, (sign or "").encode("utf-8", "replace"))
