"""Identifiers: time-ordered UUIDv7 primary keys and short unguessable public ids."""

from __future__ import annotations

import os
import secrets
import time
import uuid

PUBLIC_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-"


def uuid7() -> uuid.UUID:
    """A UUID version 7 (RFC 9562): 48-bit Unix milliseconds, then 74 random bits."""
    unix_ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # rand_b, 62 bits
    return uuid.UUID(int=value)


def public_id(size: int = 12) -> str:
    """A nanoid-style id: `size` symbols from a 64-letter URL-safe alphabet (72 bits at 12)."""
    return "".join(secrets.choice(PUBLIC_ID_ALPHABET) for _ in range(size))


def is_public_id(value: str, size: int = 12) -> bool:
    return len(value) == size and all(ch in PUBLIC_ID_ALPHABET for ch in value)
