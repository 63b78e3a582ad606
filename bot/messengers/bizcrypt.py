"""The callback crypto WeCom and DingTalk share (Tencent's "WXBizMsgCrypt" scheme).

WeCom's "加解密方案说明" and DingTalk's event subscription "加解密方案" are the same
construction; only the owner id at the end of the envelope differs (WeCom: the CorpID,
or "" for the 智能机器人; DingTalk: the AppKey, CorpId or SuiteKey):

- key = base64decode(aesKey + "="), 32 bytes; AES-256-CBC with IV = key[:16];
- plaintext = 16 random bytes + 4-byte big-endian length of msg + msg + owner id,
  PKCS#7-padded to a multiple of 32 bytes (a 256-bit padding block, not AES's 128);
- signature = SHA-1 hex of the sorted concatenation of token, timestamp, nonce, encrypt.

A messenger subclasses :class:`BizMsgCrypt` (its own name, argument checks, the reason
code of a wrong owner id, its protocol steps) and :class:`CryptoError` (its own name in
the message). Every failure raises the messenger's ``CryptoError`` with a short
``reason``; decryption never returns unchecked bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from typing import ClassVar

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PAD_BLOCK = 32  # the scheme pads to 32 bytes, not to the AES block size
RANDOM_LEN = 16
_HEADER_LEN = RANDOM_LEN + 4


class CryptoError(Exception):
    """A callback failed verification or decryption.

    ``reason``: signature, base64, length, padding, utf8, or the messenger's code for a
    wrong owner id (:attr:`BizMsgCrypt.owner_reason`). Subclasses set ``messenger``.
    """

    messenger: ClassVar[str] = "bizcrypt"

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"{self.messenger} crypto: {reason}" + (f" ({detail})" if detail else ""))


def decode_aes_key(aes_key: str, name: str = "aes_key", hint: str = "") -> bytes:
    """The 43-character aesKey → the 32-byte AES key; ValueError when malformed.

    ``name`` is the setting's name in the message, ``hint`` where to find it."""
    if not isinstance(aes_key, str) or len(aes_key) != 43:
        raise ValueError(f"{name} must be exactly 43 characters" + (f" ({hint})" if hint else ""))
    try:
        key = base64.b64decode(aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{name} is not valid base64") from None
    if len(key) != 32:
        raise ValueError(f"{name} does not decode to a 32-byte AES key")
    return key


class BizMsgCrypt:
    """Sign, verify, encrypt and decrypt one app's callback payloads.

    ``owner`` is the id the envelope must end with; the subclass checks its arguments
    and decodes the key (:func:`decode_aes_key`) before calling this constructor."""

    error: ClassVar[type[CryptoError]] = CryptoError
    owner_reason: ClassVar[str] = "owner"  # ``reason`` when the owner id is not ours

    def __init__(self, token: str, key: bytes, owner: str) -> None:
        self.token = token
        self._owner = owner.encode("utf-8")
        self._key = key
        self._iv = key[:16]

    # -- signature -----------------------------------------------------------------
    def signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        parts = sorted([self.token, str(timestamp), str(nonce), encrypted])
        return hashlib.sha1("".join(parts).encode("utf-8")).hexdigest()

    def verify(self, signature: str, timestamp: str, nonce: str, encrypted: str) -> None:
        expected = self.signature(timestamp, nonce, encrypted)
        given = (signature or "").strip().lower()
        if not hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace")):
            raise self.error("signature")

    # -- AES envelope --------------------------------------------------------------
    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._iv))

    def decrypt(self, encrypted_b64: str) -> str:
        """Decrypt without checking the signature.

        CBC has no integrity of its own: only the signature (over the ciphertext, keyed by
        the secret token) detects tampering, so untrusted input goes through
        :meth:`decrypt_message`, never through this alone.
        """
        try:
            raw = base64.b64decode(encrypted_b64, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise self.error("base64") from None
        if not raw or len(raw) % 16:
            raise self.error("length", f"ciphertext of {len(raw)} bytes")
        decryptor = self._cipher().decryptor()
        padded = decryptor.update(raw) + decryptor.finalize()
        pad = padded[-1]
        if not 1 <= pad <= PAD_BLOCK or pad > len(padded) or padded[-pad:] != bytes([pad]) * pad:
            raise self.error("padding")
        plain = padded[:-pad]
        if len(plain) < _HEADER_LEN:
            raise self.error("length", "shorter than the 20-byte header")
        (msg_len,) = struct.unpack(">I", plain[RANDOM_LEN:_HEADER_LEN])
        end = _HEADER_LEN + msg_len
        if end > len(plain):
            raise self.error(
                "length", f"declared {msg_len} bytes, {len(plain) - _HEADER_LEN} present"
            )
        if not hmac.compare_digest(plain[end:], self._owner):
            raise self.error(self.owner_reason)
        try:
            return plain[_HEADER_LEN:end].decode("utf-8")
        except UnicodeDecodeError:
            raise self.error("utf8") from None

    def encrypt(self, message: str, random16: bytes | None = None) -> str:
        if random16 is None:
            random16 = os.urandom(RANDOM_LEN)
        if len(random16) != RANDOM_LEN:
            raise ValueError("random16 must be exactly 16 bytes")
        body = message.encode("utf-8")
        plain = random16 + struct.pack(">I", len(body)) + body + self._owner
        pad = PAD_BLOCK - len(plain) % PAD_BLOCK
        plain += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")

    # -- the callback's step -------------------------------------------------------
    def decrypt_message(self, signature: str, timestamp: str, nonce: str, encrypted: str) -> str:
        """A callback: check the signature over the encrypted field, then decrypt it."""
        self.verify(signature, timestamp, nonce, encrypted)
        return self.decrypt(encrypted)
