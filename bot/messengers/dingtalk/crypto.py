"""DingTalk callback crypto: the event subscription's envelope and the robot's signature.

Event subscription (HTTP mode, "加解密方案"):

- key = base64decode(aesKey + "="), 32 bytes; AES-256-CBC with IV = key[:16];
- plaintext = 16 random bytes + 4-byte big-endian length + message + owner key (the
  AppKey of an internal app, the CorpId of older registrations, a SuiteKey for an ISV),
  PKCS#7-padded to a multiple of 32 bytes;
- signature = SHA-1 hex of the sorted concatenation of token, timestamp, nonce, encrypt.

Robot outgoing callbacks: headers ``timestamp`` (ms) and ``sign`` =
base64(HMAC-SHA256(appSecret, timestamp + "\\n" + appSecret)).

Every failure raises :class:`CryptoError` with a short ``reason``; decryption never
returns unchecked bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PAD_BLOCK = 32
_RANDOM_LEN = 16
_HEADER_LEN = _RANDOM_LEN + 4


class CryptoError(Exception):
    """reason: signature, base64, length, padding, owner, utf8."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"dingtalk crypto: {reason}" + (f" ({detail})" if detail else ""))


def decode_aes_key(aes_key: str) -> bytes:
    """The 43-character aesKey → the 32-byte AES key; ValueError when malformed."""
    if not isinstance(aes_key, str) or len(aes_key) != 43:
        raise ValueError("aes_key must be exactly 43 characters")
    try:
        key = base64.b64decode(aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("aes_key is not valid base64") from None
    if len(key) != 32:
        raise ValueError("aes_key does not decode to 32 bytes")
    return key


class EventCrypto:
    """Sign, verify, encrypt and decrypt the event subscription's payloads."""

    def __init__(self, token: str, aes_key: str, owner_key: str) -> None:
        if not isinstance(token, str) or not token:
            raise ValueError("token must be a non-empty string")
        if not isinstance(owner_key, str) or not owner_key:
            raise ValueError("owner key (AppKey or CorpId) must be a non-empty string")
        self.token, self.owner_key = token, owner_key
        self._owner = owner_key.encode("utf-8")
        self._key = decode_aes_key(aes_key)
        self._iv = self._key[:16]

    def signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        parts = sorted([self.token, str(timestamp), str(nonce), encrypted])
        return hashlib.sha1("".join(parts).encode("utf-8")).hexdigest()

    def verify(self, signature: str, timestamp: str, nonce: str, encrypted: str) -> None:
        expected = self.signature(timestamp, nonce, encrypted)
        given = (signature or "").strip().lower()
        if not hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace")):
            raise CryptoError("signature")

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._iv))

    def decrypt(self, encrypted_b64: str) -> str:
        """Decrypt without the signature check: untrusted input goes through
        :meth:`decrypt_message`, never through this alone (CBC has no integrity)."""
        try:
            raw = base64.b64decode(encrypted_b64, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise CryptoError("base64") from None
        if not raw or len(raw) % 16:
            raise CryptoError("length", f"ciphertext of {len(raw)} bytes")
        decryptor = self._cipher().decryptor()
        padded = decryptor.update(raw) + decryptor.finalize()
        pad = padded[-1]
        if not 1 <= pad <= PAD_BLOCK or pad > len(padded) or padded[-pad:] != bytes([pad]) * pad:
            raise CryptoError("padding")
        plain = padded[:-pad]
        if len(plain) < _HEADER_LEN:
            raise CryptoError("length", "shorter than the 20-byte header")
        (msg_len,) = struct.unpack(">I", plain[_RANDOM_LEN:_HEADER_LEN])
        end = _HEADER_LEN + msg_len
        if end > len(plain):
            raise CryptoError("length", "declared length beyond the plaintext")
        if not hmac.compare_digest(plain[end:], self._owner):
            raise CryptoError("owner")
        try:
            return plain[_HEADER_LEN:end].decode("utf-8")
        except UnicodeDecodeError:
            raise CryptoError("utf8") from None

    def encrypt(self, message: str, random16: bytes | None = None) -> str:
        random16 = os.urandom(_RANDOM_LEN) if random16 is None else random16
        if len(random16) != _RANDOM_LEN:
            raise ValueError("random16 must be exactly 16 bytes")
        body = message.encode("utf-8")
        plain = random16 + struct.pack(">I", len(body)) + body + self._owner
        pad = PAD_BLOCK - len(plain) % PAD_BLOCK
        plain += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")

    def decrypt_message(self, signature: str, timestamp: str, nonce: str, encrypted: str) -> str:
        self.verify(signature, timestamp, nonce, encrypted)
        return self.decrypt(encrypted)

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
