"""Keyset pagination: a position in a newest-first list, and one page of such a list.

A list ordered by (time, id) descending is cut after a position instead of skipping rows with
OFFSET: a page costs the same deep in the list as at its head, and rows added meanwhile never
shift or repeat what the reader already saw. The position travels in URLs as an opaque string.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar
from uuid import UUID

from core.errors import InvalidInput
from core.numbers import BIGINT_MAX, InvalidNumber, parse_whole

T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class InvalidCursor(InvalidInput):
    message = "That page link is not valid. Start again from the first page."


@dataclass(frozen=True, order=True)
class Cursor:
    """Where a page ended: the (time, id) of its last row. The next page holds rows strictly before it."""

    at: datetime
    id: UUID

    def encode(self) -> str:
        """A short URL-safe text, exact to the microsecond (PostgreSQL's precision)."""
        micros = (self.at - _EPOCH) // _MICROSECOND
        return f"{micros}.{self.id.hex}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """The cursor `encode` wrote; raises InvalidCursor for anything else."""
        micros, _, hex_id = text.partition(".")
        try:
            if len(text) > 64:
                raise ValueError(text)
            number = parse_whole(micros, signed=True, minimum=-BIGINT_MAX)
            return cls(_EPOCH + timedelta(microseconds=number), UUID(hex=hex_id))
        except (InvalidNumber, ValueError, OverflowError) as error:
            raise InvalidCursor() from error

    @classmethod
    def parse(cls, text: str | None) -> Cursor | None:
        """None for an empty text (the first page), else `decode`."""
        return cls.decode(text) if text else None


@dataclass(frozen=True)
class Page(Generic[T]):
    """Up to `limit` items, and where the next page starts (None on the last page)."""

    items: list[T]
    next: Cursor | None = None
    first: bool = True  # no page before this one

    @property
    def next_token(self) -> str | None:
        return self.next.encode() if self.next else None

    @classmethod
    def cut(cls, rows: Sequence[T], limit: int, position: Callable[[T], Cursor], *, first: bool = True) -> Page[T]:
        """A page from `rows` fetched with LIMIT `limit + 1`: the extra row only says there is more."""
        items = list(rows[:limit])
        more = len(rows) > limit and bool(items)
        return cls(items, position(items[-1]) if more else None, first)


def clamp_limit(limit: int | None, default: int, maximum: int) -> int:
    """A page size between 1 and `maximum`; `default` when none was asked for."""
    if limit is None:
        return default
    return max(1, min(int(limit), maximum))
