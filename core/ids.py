"""Identifiers: time-ordered UUIDv7 primary keys and short unguessable public ids."""

from __future__ import annotations

import os
import secrets
import threading
import time
import uuid

PUBLIC_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-"


_RANDOM_BITS = 74  # rand_a (12) and rand_b (62) together, read as one counter
_last_ms = 0
_last_random = 0
_lock = threading.Lock()


def uuid7() -> uuid.UUID:
    """A UUID version 7 (RFC 9562): 48-bit Unix milliseconds, then 74 random bits — monotonic within the
    process (RFC 9562 §6.2, method 2): an id made in the same millisecond as the last one (or after the
    clock stepped back) is the last one's random bits plus a random step, so ids sort in the order they
    were made. Rows whose other sort keys tie (a frozen clock, the fair queue's tag) then keep that order."""
    global _last_ms, _last_random
    unix_ms = time.time_ns() // 1_000_000
    with _lock:
        if unix_ms > _last_ms:
            _last_ms, _last_random = unix_ms, int.from_bytes(os.urandom(10), "big") >> (80 - _RANDOM_BITS)
        else:
            _last_random += 1 + (int.from_bytes(os.urandom(4), "big") >> 1)  # a step of 1 to 2**31
            if _last_random >> _RANDOM_BITS:  # the millisecond is full: borrow the next one
                _last_ms, _last_random = _last_ms + 1, _last_random & ((1 << (_RANDOM_BITS - 1)) - 1)
        unix_ms, rand = _last_ms, _last_random
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= (rand >> 62) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # rand_b, 62 bits
    return uuid.UUID(int=value)


def public_id(size: int = 12) -> str:
    """A nanoid-style id: `size` symbols from a 64-letter URL-safe alphabet (72 bits at 12)."""
    return "".join(secrets.choice(PUBLIC_ID_ALPHABET) for _ in range(size))


def is_public_id(value: str, size: int = 12) -> bool:
    return len(value) == size and all(ch in PUBLIC_ID_ALPHABET for ch in value)
