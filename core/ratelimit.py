"""The RateLimiter port: fixed-window counters shared by every process (PostgreSQL) or in memory."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from core.clock import Clock

IPV6_NETWORK_PREFIX = 64  # the block one subscriber (a home, a phone, a server) is normally handed


def address_key(ip: str) -> str:
    """The client a per-address limit counts, for an address as uvicorn reports it: an IPv4 address as
    it is (an IPv4-mapped IPv6 address as its IPv4 address), an IPv6 address as its /64 network —
    a subscriber holds a whole /64 and could use a fresh address for every request. Anything that is
    not an address (a test client's name, "unknown") is kept as it is."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_NETWORK_PREFIX), strict=False))
    return str(address)


@dataclass(frozen=True)
class Allowance:
    allowed: bool
    count: int
    retry_after: int


class RateLimiter(Protocol):
    async def peek(self, key: str, limit: int, window: int) -> Allowance:
        """Whether one more hit on `key` would be within `limit` per `window` seconds (no count)."""
        ...

    async def hit(self, key: str, limit: int, window: int) -> Allowance:
        """Count one hit on `key`; `allowed` is False once more than `limit` hits fall in the window."""
        ...

    async def reset(self, key: str) -> None:
        """Forget the hits on `key`."""
        ...


class MemoryRateLimiter:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._windows: dict[str, tuple[datetime, int]] = {}

    def _current(self, key: str, window: int) -> tuple[datetime, int]:
        now = self.clock.now()
        start, count = self._windows.get(key, (now, 0))
        if now - start >= timedelta(seconds=window):
            start, count = now, 0
        return start, count

    async def peek(self, key: str, limit: int, window: int) -> Allowance:
        start, count = self._current(key, window)
        return allowance(count + 1, limit, start, window, self.clock.now())

    async def hit(self, key: str, limit: int, window: int) -> Allowance:
        start, count = self._current(key, window)
        self._windows[key] = (start, count + 1)
        return allowance(count + 1, limit, start, window, self.clock.now())

    async def reset(self, key: str) -> None:
        self._windows.pop(key, None)


def allowance(count: int, limit: int, start: datetime, window: int, now: datetime) -> Allowance:
    """The Allowance of a window that started at `start` and holds `count` hits (this one included)."""
    retry = max(1, int((start + timedelta(seconds=window) - now).total_seconds()))
    return Allowance(allowed=count <= limit, count=count, retry_after=retry)
