"""WeCom (企业微信) callback crypto: message signature and AES-256-CBC envelope.

Protocol (WeCom "加解密方案说明"):

- AESKey = base64decode(EncodingAESKey + "="), 32 bytes; AES-256-CBC with IV = AESKey[:16].
- plaintext = 16 random bytes + 4-byte big-endian length of msg + msg + receive id,
  PKCS#7-padded to a multiple of 32 bytes (a 256-bit padding block, not AES's 128).
- msg_signature = SHA1 hex of the sorted concatenation of token, timestamp, nonce, ciphertext.

The receive id is the CorpID for a self-built app and "" for the 智能机器人 (AI bot).
Every failure raises :class:`CryptoError` with a short ``reason`` code; decryption never
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

PAD_BLOCK = 32  # WeCom pads to 32 bytes, not to the AES block size
_RANDOM_LEN = 16
_HEADER_LEN = _RANDOM_LEN + 4


class CryptoError(Exception):
    """A callback failed verification or decryption.

    ``reason`` is one of: signature, base64, length, padding, receive_id, utf8.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"wecom crypto: {reason}" + (f" ({detail})" if detail else ""))


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """EncodingAESKey (43 base64 characters) → the 32-byte AES key; ValueError if malformed."""
    if not isinstance(encoding_aes_key, str) or len(encoding_aes_key) != 43:
        raise ValueError(
            "EncodingAESKey must be exactly 43 characters "
            "(copy it from the WeCom admin console, 接收消息 → API 接收)"
        )
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("EncodingAESKey is not valid base64") from None
    if len(key) != 32:
        raise ValueError("EncodingAESKey does not decode to a 32-byte AES key")
    return key


class WeComCrypto:
    """Sign, verify, encrypt and decrypt WeCom callback payloads for one app or bot."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        if not isinstance(token, str) or not token:
            raise ValueError("WeCom callback Token must be a non-empty string")
        if not isinstance(receive_id, str):
            raise ValueError('receive_id must be a string (the CorpID, or "" for the AI bot)')
        self.token = token
        self.receive_id = receive_id
        self._receive_id_bytes = receive_id.encode("utf-8")
        self._key = decode_aes_key(encoding_aes_key)
        self._iv = self._key[:16]

    # -- signature -----------------------------------------------------------------
    def signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        parts = sorted([self.token, str(timestamp), str(nonce), encrypted])
        return hashlib.sha1("".join(parts).encode("utf-8")).hexdigest()

    def verify(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> None:
        expected = self.signature(timestamp, nonce, encrypted)
        given = (msg_signature or "").strip().lower()
        if not hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace")):
            raise CryptoError("signature")

    # -- AES envelope --------------------------------------------------------------
    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._iv))

    def decrypt(self, encrypted_b64: str) -> str:
        """Decrypt without checking the signature.

        CBC has no integrity of its own: only the signature (over the ciphertext, keyed by the
        secret token) detects tampering, so untrusted input goes through
        :meth:`decrypt_message` / :meth:`verify_url`, never through this alone.
        """
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
            raise CryptoError(
                "length", f"declared {msg_len} bytes, {len(plain) - _HEADER_LEN} present"
            )
        if not hmac.compare_digest(plain[end:], self._receive_id_bytes):
            raise CryptoError("receive_id")
        try:
            return plain[_HEADER_LEN:end].decode("utf-8")
        except UnicodeDecodeError:
            raise CryptoError("utf8") from None

    def encrypt(self, message: str, random16: bytes | None = None) -> str:
        if random16 is None:
            random16 = os.urandom(_RANDOM_LEN)
        if len(random16) != _RANDOM_LEN:
            raise ValueError("random16 must be exactly 16 bytes")
        body = message.encode("utf-8")
        plain = random16 + struct.pack(">I", len(body)) + body + self._receive_id_bytes
        pad = PAD_BLOCK - len(plain) % PAD_BLOCK
        plain += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")

    # -- protocol steps ------------------------------------------------------------
    def decrypt_message(
        self, msg_signature: str, timestamp: str, nonce: str, encrypted: str
    ) -> str:
        """POST callback: check the signature over the Encrypt field, then decrypt it."""
        self.verify(msg_signature, timestamp, nonce, encrypted)
        return self.decrypt(encrypted)

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """GET URL verification: the decrypted echostr, to be answered raw."""
        return self.decrypt_message(msg_signature, timestamp, nonce, echostr)

    def encrypt_reply(
        self, message: str, timestamp: str, nonce: str, random16: bytes | None = None
    ) -> tuple[str, str]:
        """Passive reply: (Encrypt, MsgSignature) for the reply envelope."""
        encrypted = self.encrypt(message, random16)
        return encrypted, self.signature(timestamp, nonce, encrypted)
