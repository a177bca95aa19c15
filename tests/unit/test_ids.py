"""Identifiers: UUIDv7 keys sort in the order this process made them, public ids are unguessable."""

from __future__ import annotations

import threading
import uuid

from core.ids import is_public_id, public_id, uuid7


def test_ids_made_within_one_millisecond_still_sort_in_the_order_they_were_made() -> None:
    # Rows whose other sort keys tie (the same frozen clock, the same fair-queue tag) fall back to the id:
    # a video made first must not sort after one made in the same millisecond.
    made = [uuid7() for _ in range(20_000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_ids_stay_version_7_of_the_rfc_variant_with_the_time_in_front() -> None:
    import time

    before = time.time_ns() // 1_000_000
    made = [uuid7() for _ in range(1_000)]
    after = time.time_ns() // 1_000_000
    for value in made:
        assert value.version == 7
        assert value.variant == uuid.RFC_4122
        assert before <= value.int >> 80 <= after + 1  # at most a millisecond ahead, when one filled up


def test_threads_making_ids_at_once_get_distinct_increasing_ones() -> None:
    found: list[list[uuid.UUID]] = [[] for _ in range(4)]

    def make(into: list[uuid.UUID]) -> None:
        into.extend(uuid7() for _ in range(5_000))

    threads = [threading.Thread(target=make, args=(into,)) for into in found]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [value for into in found for value in into]
    assert len(set(everything)) == len(everything)
    assert all(into == sorted(into) for into in found)


def test_public_ids_are_twelve_url_safe_symbols_and_differ() -> None:
    made = {public_id() for _ in range(1_000)}
    assert len(made) == 1_000
    assert all(is_public_id(value) for value in made)
