"""Verifiable randomness: Rivest's consistent-sampling tickets and the seed commitment.

``ticket(id) = sha256_uniform(sha256_hex(seed) + id)``: the decimal digits of the
SHA-256 of the text, zero-padded to 64 digits, reversed, after "0.". Tickets compare
as strings, exactly as the published reference implementation orders them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

ALGORITHM_V2 = (
    "ssj-draw/2: ticket(id) = sha256_uniform(sha256_hex(seed) + id) "
    "(Rivest consistent sampling); objects ordered by (general: due under the 3-year rule "
    "first; draws this year, last draw, ticket); inspectors by pairing ticket of "
    "'USCC/执法证号' under the workload cap, raised by one while it alone dead-ends staffing"
)
ALGORITHM = (
    "ssj-draw/3: ticket(id) = sha256_uniform(sha256_hex(seed) + id) "
    "(Rivest consistent sampling); objects ordered by (general: due under the 3-year rule "
    "first; draws this year, last draw by (year, quarter) of its task, ticket); per "
    "category r: coverage need first, then risk strata D, C, B, A each topped up to "
    "min(N_k, ceil(r*m_k*N_k)), then the floor ceil(r*N); inspectors by pairing ticket of "
    "'USCC/执法证号' under the workload cap, raised by one while it alone dead-ends staffing"
)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _uniform(digest: bytes) -> str:
    # str(n).zfill(64) is f"{n:064d}" for n ≥ 0, and about a third faster
    return "0." + str(int.from_bytes(digest, "big")).zfill(64)[::-1]


def sha256_uniform(text: str) -> str:
    return _uniform(hashlib.sha256(text.encode("utf-8")).digest())


class Tickets:
    """Ticket maker bound to one seed; hashes the seed's hex once and reuses the state."""

    __slots__ = ("_prefix",)

    def __init__(self, seed: str):
        self._prefix = hashlib.sha256(sha256_hex(seed).encode("ascii"))

    def __call__(self, ident: str) -> str:
        h = self._prefix.copy()
        h.update(ident.encode("utf-8"))
        return _uniform(h.digest())

    def pairing(self, uscc: str, cert: str) -> str:
        return self(f"{uscc}/{cert}")

    def many(self, idents: Iterable[str]) -> list[str]:
        """Tickets for many ids, in the same order (the hot path of large draws)."""
        copy = self._prefix.copy
        out: list[str] = []
        append = out.append
        frombytes = int.from_bytes
        for ident in idents:
            h = copy()
            h.update(ident.encode("utf-8"))
            append("0." + str(frombytes(h.digest(), "big")).zfill(64)[::-1])
        return out


def commitment(secret: str) -> str:
    """C = SHA256-hex(S), recorded before any outside input is known."""
    return sha256_hex(secret)


def make_seed(secret: str, entropy: str | None) -> str:
    return f"{secret}:{entropy or ''}"


def check_reveal(commit: str, secret: str) -> bool:
    return sha256_hex(secret) == commit
