"""Feishu event callback crypto: the Encrypt Key envelope and the request signature.

Protocol (飞书开放平台, 事件订阅 → 加密策略):

- key = SHA-256(Encrypt Key), 32 bytes; AES-256-CBC; the base64 ``encrypt`` field holds
  IV (16 bytes) + ciphertext; PKCS#7 padding to AES's 16-byte block.
- ``X-Lark-Signature`` = hex SHA-256 of ``X-Lark-Request-Timestamp`` +
  ``X-Lark-Request-Nonce`` + Encrypt Key + the raw request body.

Every failure raises :class:`CryptoError` with a short ``reason``; decryption never
returns unchecked bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 16
MAX_ENCRYPTED = 96 * 1024  # base64 characters of one callback's ``encrypt`` field


class CryptoError(Exception):
    """``reason``: signature, base64, length, padding, utf8."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"feishu crypto: {reason}")


class FeishuCrypto:
    """Decrypt, encrypt (for tests and peers) and sign Feishu callbacks of one app."""

    def __init__(self, encrypt_key: str) -> None:
        if not isinstance(encrypt_key, str) or not encrypt_key:
            raise ValueError("the Encrypt Key must be a non-empty string")
        self._secret = encrypt_key.encode("utf-8")
        self._key = hashlib.sha256(self._secret).digest()

    def signature(self, timestamp: str, nonce: str, body: bytes) -> str:
        return hashlib.sha256(
            timestamp.encode("utf-8") + nonce.encode("utf-8") + self._secret + body
        ).hexdigest()

    def verify(self, timestamp: str, nonce: str, body: bytes, signature: str) -> None:
        expected = self.signature(timestamp, nonce, body).encode("ascii")
        if not hmac.compare_digest(expected, signature.lower().encode("ascii", "replace")):
            raise CryptoError("signature")

    def decrypt(self, encrypted: str) -> str:
        if len(encrypted) > MAX_ENCRYPTED:
            raise CryptoError("length")
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise CryptoError("base64") from None
        if len(raw) < 2 * BLOCK or len(raw) % BLOCK:
            raise CryptoError("length")
        d = Cipher(algorithms.AES(self._key), modes.CBC(raw[:BLOCK])).decryptor()
        plain = d.update(raw[BLOCK:]) + d.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise CryptoError("padding")
        try:
            return plain[:-pad].decode("utf-8")
        except UnicodeDecodeError:
            raise CryptoError("utf8") from None

    def encrypt(self, text: str, iv: bytes | None = None) -> str:
        iv = os.urandom(BLOCK) if iv is None else iv
        data = text.encode("utf-8")
        pad = BLOCK - len(data) % BLOCK
        e = Cipher(algorithms.AES(self._key), modes.CBC(iv)).encryptor()
        return base64.b64encode(iv + e.update(data + bytes([pad]) * pad) + e.finalize()).decode()
