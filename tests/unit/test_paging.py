"""Keyset pagination: cursors survive the trip through a URL exactly, and a page knows if more follow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from core.ids import uuid7
from core.paging import Cursor, InvalidCursor, Page, clamp_limit

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_a_cursor_reads_back_exactly_to_the_microsecond() -> None:
    cursor = Cursor(T0, uuid7())
    assert Cursor.decode(cursor.encode()) == cursor
    old = Cursor(datetime(1969, 7, 20, 20, 17, 40, 1, tzinfo=UTC), UUID(int=1))
    assert Cursor.decode(old.encode()) == old


def test_cursors_order_by_time_then_id() -> None:
    a, b = UUID(int=1), UUID(int=2)
    assert Cursor(T0, a) < Cursor(T0, b) < Cursor(T0 + timedelta(microseconds=1), a)


@pytest.mark.parametrize("text", ["", "x", "12", "12.", "abc.0123", "1.nothex", "1.1.1", "9" * 80 + ".00"])
def test_a_tampered_cursor_is_refused(text: str) -> None:
    with pytest.raises(InvalidCursor):
        Cursor.decode(text)


def test_no_cursor_text_means_the_first_page() -> None:
    assert Cursor.parse(None) is None
    assert Cursor.parse("") is None


def test_a_page_cut_from_one_row_too_many_points_at_its_last_item() -> None:
    rows = [Cursor(T0 - timedelta(seconds=i), UUID(int=i)) for i in range(4)]
    page = Page.cut(rows, 3, lambda c: c)
    assert page.items == rows[:3]
    assert page.next == rows[2]
    assert page.first


def test_a_page_with_no_row_beyond_it_is_the_last() -> None:
    rows = [Cursor(T0, UUID(int=i)) for i in range(3)]
    assert Page.cut(rows, 3, lambda c: c).next is None
    assert Page.cut([], 3, lambda c: c).next is None
    assert Page.cut(rows[:1], 3, lambda c: c, first=False).first is False


def test_page_sizes_stay_between_one_and_the_maximum() -> None:
    assert clamp_limit(None, 24, 50) == 24
    assert clamp_limit(0, 24, 50) == 1
    assert clamp_limit(-5, 24, 50) == 1
    assert clamp_limit(500, 24, 50) == 50
    assert clamp_limit(10, 24, 50) == 10
