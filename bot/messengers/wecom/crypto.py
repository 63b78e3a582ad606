"""WeCom (企业微信) callback crypto: message signature and AES-256-CBC envelope.

The scheme ("加解密方案说明") is :mod:`bot.messengers.bizcrypt`'s, shared with DingTalk:
AES-256-CBC with key = base64decode(EncodingAESKey + "="), IV = key[:16], the envelope
16 random bytes + 4-byte big-endian length + msg + receive id, padded to 32 bytes, and
msg_signature = SHA-1 hex of the sorted token, timestamp, nonce and ciphertext.

The receive id is the CorpID for a self-built app and "" for the 智能机器人 (AI bot).
Every failure raises :class:`CryptoError` with a short ``reason`` code (a wrong receive
id: ``receive_id``); decryption never returns unchecked bytes.
"""

from __future__ import annotations

from bot.messengers import bizcrypt


class CryptoError(bizcrypt.CryptoError):
    """A callback failed verification or decryption.

    ``reason`` is one of: signature, base64, length, padding, receive_id, utf8.
    """

    messenger = "wecom"


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """EncodingAESKey (43 base64 characters) → the 32-byte AES key; ValueError if malformed."""
    return bizcrypt.decode_aes_key(
        encoding_aes_key,
        "EncodingAESKey",
        "copy it from the WeCom admin console, 接收消息 → API 接收",
    )


class WeComCrypto(bizcrypt.BizMsgCrypt):
    """Sign, verify, encrypt and decrypt WeCom callback payloads for one app or bot."""

    error = CryptoError
    owner_reason = "receive_id"

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        if not isinstance(token, str) or not token:
            raise ValueError("WeCom callback Token must be a non-empty string")
        if not isinstance(receive_id, str):
            raise ValueError('receive_id must be a string (the CorpID, or "" for the AI bot)')
        super().__init__(token, decode_aes_key(encoding_aes_key), receive_id)
        self.receive_id = receive_id

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """GET URL verification: the decrypted echostr, to be answered raw."""
        return self.decrypt_message(msg_signature, timestamp, nonce, echostr)

    def encrypt_reply(
        self, message: str, timestamp: str, nonce: str, random16: bytes | None = None
    ) -> tuple[str, str]:
        """Passive reply: (Encrypt, MsgSignature) for the reply envelope."""
        encrypted = self.encrypt(message, random16)
        return encrypted, self.signature(timestamp, nonce, encrypted)
