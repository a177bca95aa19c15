"""The BlobStorage contract in depth, run against the memory, local and S3 adapters.

The S3 adapter talks to a local S3-compatible server (moto's, on 127.0.0.1, no network). Its segments
are made small here (64 KiB) so that compaction happens with little data; its parts are S3's minimum.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import msgspec
import pytest
from moto.server import ThreadedMotoServer

from core.di import build_injector, get_port
from core.s3 import MIB, SEGMENTS, S3BlobStorage
from core.settings import Settings
from core.storage import BlobNotFound, BlobStorage, InvalidKey, LocalBlobStorage, MemoryBlobStorage

KIB = 1024


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _s3(endpoint: str, **sizes: int) -> S3BlobStorage:
    return S3BlobStorage(
        f"hypha-{uuid.uuid4().hex[:12]}",
        endpoint_url=endpoint,
        access_key="test",
        secret_key="test",
        region="us-east-1",
        **({"segment_bytes": 64 * KIB, "part_bytes": 5 * MIB} | sizes),
    )


@pytest.fixture
async def s3(s3_endpoint: str) -> AsyncIterator[S3BlobStorage]:
    storage = _s3(s3_endpoint)
    yield storage
    await storage.close()


@pytest.fixture(params=["memory", "local", "s3"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path, s3_endpoint: str) -> AsyncIterator[BlobStorage]:
    if request.param == "memory":
        yield MemoryBlobStorage()
    elif request.param == "local":
        yield LocalBlobStorage(tmp_path / "blobs")
    else:
        real = _s3(s3_endpoint)
        yield real
        await real.close()


def _client(endpoint: str) -> Any:
    """A plain synchronous boto3 client, to look at the bucket behind the adapter's back."""
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )


def _object_names(storage: S3BlobStorage, endpoint: str) -> list[str]:
    response = _client(endpoint).list_objects_v2(Bucket=storage.bucket)
    return [item["Key"] for item in response.get("Contents", [])]


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _pattern(size: int, seed: int = 0) -> bytes:
    """Bytes whose period (251) is prime, so a misplaced boundary shows."""
    period = bytes((seed + i * 7) % 251 for i in range(251))
    return (period * (size // 251 + 1))[:size]


async def test_many_appends_read_back_whole_in_ranges_and_streamed(storage: BlobStorage) -> None:
    chunks = [_pattern(5 * KIB + 37 * i, seed=i) for i in range(40)]  # ~430 KiB, uneven boundaries
    expected = b"".join(chunks)
    sizes = [await storage.append("uploads/u1", chunk) for chunk in chunks]
    assert sizes[-1] == len(expected) == await storage.size("uploads/u1")
    assert sizes == sorted(sizes)
    assert await storage.read("uploads/u1") == expected
    boundary = len(chunks[0]) + len(chunks[1])
    for offset, length in [(0, 1), (boundary - 3, 7), (100 * KIB - 1, 130 * KIB), (len(expected) - 5, 50)]:
        assert await storage.read("uploads/u1", offset, length) == expected[offset : offset + length]
    assert await storage.read("uploads/u1", 300 * KIB) == expected[300 * KIB :]
    streamed = [chunk async for chunk in storage.stream("uploads/u1", chunk_size=10_000)]
    assert b"".join(streamed) == expected
    assert max(len(chunk) for chunk in streamed) <= 10_000
    async with storage.local_copy("uploads/u1") as path:
        assert path.read_bytes() == expected


async def test_a_large_write_streams_and_reads_back(storage: BlobStorage) -> None:
    data = _pattern(11 * MIB + 123)
    size = await storage.write("videos/v1/source", _chunks(*[data[i : i + MIB] for i in range(0, len(data), MIB)]))
    assert size == len(data) == await storage.size("videos/v1/source")
    assert await storage.read("videos/v1/source", 5 * MIB - 10, 20) == data[5 * MIB - 10 : 5 * MIB + 10]
    assert b"".join([c async for c in storage.stream("videos/v1/source")]) == data


async def test_a_write_replaces_the_blob_and_an_append_continues_it(storage: BlobStorage) -> None:
    await storage.append("videos/v2/source", b"old bytes that go away")
    await storage.write("videos/v2/source", _chunks(b"new ", b"start"))
    assert await storage.read("videos/v2/source") == b"new start"
    assert await storage.append("videos/v2/source", b", then more") == 20
    assert await storage.read("videos/v2/source") == b"new start, then more"


async def test_empty_blobs_exist_and_reads_past_the_end_are_empty(storage: BlobStorage) -> None:
    assert await storage.append("e/appended", b"") == 0
    assert await storage.write("e/written", _chunks()) == 0
    for key in ("e/appended", "e/written"):
        assert await storage.exists(key)
        assert await storage.size(key) == 0
        assert await storage.read(key) == b""
    await storage.write("e/short", _chunks(b"abc"))
    assert await storage.read("e/short", 3) == b""
    assert await storage.read("e/short", 10, 5) == b""
    assert await storage.read("e/short", 1, 100) == b"bc"


async def test_missing_blobs_are_reported_and_deleting_them_is_harmless(storage: BlobStorage) -> None:
    assert not await storage.exists("nothing/here")
    with pytest.raises(BlobNotFound):
        await storage.read("nothing/here")
    with pytest.raises(BlobNotFound):
        await storage.size("nothing/here")
    with pytest.raises(BlobNotFound):
        _ = [chunk async for chunk in storage.stream("nothing/here")]
    with pytest.raises(BlobNotFound):
        async with storage.local_copy("nothing/here"):
            pass
    await storage.delete("nothing/here")
    await storage.delete_prefix("nothing")


async def test_delete_and_delete_prefix_remove_only_what_they_name(storage: BlobStorage) -> None:
    await storage.append("videos/v1/source", b"a")
    await storage.append("videos/v1/source", b"b")
    await storage.write("videos/v1/hls/seg0.ts", _chunks(b"ts"))
    await storage.write("videos/v10/source", _chunks(b"keep"))
    await storage.append("videos/v2/source", b"keep too")
    await storage.delete("videos/v2/source")
    assert not await storage.exists("videos/v2/source")
    await storage.delete_prefix("videos/v1")
    assert not await storage.exists("videos/v1/source")
    assert not await storage.exists("videos/v1/hls/seg0.ts")
    assert await storage.read("videos/v10/source") == b"keep"


INVALID_KEYS = ["../etc/passwd", "/abs", "a/../b", "", "a//b", "name with space", ".hidden", "a~parts/0", "a/"]


@pytest.mark.parametrize("key", INVALID_KEYS)
async def test_every_method_refuses_keys_that_could_escape_the_store(storage: BlobStorage, key: str) -> None:
    with pytest.raises(InvalidKey):
        await storage.append(key, b"x")
    with pytest.raises(InvalidKey):
        await storage.write(key, _chunks(b"x"))
    with pytest.raises(InvalidKey):
        await storage.read(key)
    with pytest.raises(InvalidKey):
        _ = [chunk async for chunk in storage.stream(key)]
    with pytest.raises(InvalidKey):
        await storage.size(key)
    with pytest.raises(InvalidKey):
        await storage.exists(key)
    with pytest.raises(InvalidKey):
        await storage.delete(key)
    with pytest.raises(InvalidKey):
        await storage.delete_prefix(key)
    with pytest.raises(InvalidKey):
        async with storage.local_copy(key):
            pass


@pytest.mark.parametrize("adapter", ["memory", "s3"])
async def test_a_local_copy_is_removed_after_the_block(adapter: str, s3_endpoint: str) -> None:
    storage: BlobStorage = MemoryBlobStorage() if adapter == "memory" else _s3(s3_endpoint)
    for i in range(5):
        await storage.append("uploads/u2", _pattern(40 * KIB, seed=i))
    async with storage.local_copy("uploads/u2") as path:
        assert path.stat().st_size == 200 * KIB
        assert path.read_bytes() == await storage.read("uploads/u2")
    assert not path.exists()
    assert not path.parent.exists()
    with pytest.raises(RuntimeError, match="boom"):
        async with storage.local_copy("uploads/u2") as path:
            raise RuntimeError("boom")
    assert not path.exists()


# --- what only the S3 adapter has: segments, compaction, multipart uploads -----------------------------


async def test_small_appends_are_compacted_into_few_segments(s3: S3BlobStorage, s3_endpoint: str) -> None:
    data = _pattern(45 * 10 * KIB)
    for start in range(0, len(data), 10 * KIB):
        await s3.append("uploads/u3", data[start : start + 10 * KIB])
    names = _object_names(s3, s3_endpoint)
    assert all(name.startswith("uploads/u3" + SEGMENTS) for name in names)
    assert len(names) == 6 + 3  # six compacted 70 KiB segments, then a trailing run of three 10 KiB appends
    assert await s3.read("uploads/u3") == data


async def test_a_crash_between_compaction_and_cleanup_leaves_no_wrong_byte(s3: S3BlobStorage) -> None:
    for i in range(4):
        await s3.append("uploads/u4", _pattern(10 * KIB, seed=i))
    expected = await s3.read("uploads/u4")
    # What a compaction writes first: one segment over the run, at the run's start. The crash leaves the
    # small segments it covers behind.
    client = await s3._s3()
    await client.put_object(Bucket=s3.bucket, Key=f"uploads/u4{SEGMENTS}{0:020d}", Body=expected)
    assert await s3.read("uploads/u4") == expected
    assert await s3.read("uploads/u4", 15 * KIB, 10 * KIB) == expected[15 * KIB : 25 * KIB]
    assert await s3.append("uploads/u4", b"tail") == len(expected) + 4
    assert await s3.read("uploads/u4") == expected + b"tail"
    assert b"".join([c async for c in s3.stream("uploads/u4")]) == expected + b"tail"


async def test_a_write_larger_than_a_part_is_a_real_multipart_upload(s3: S3BlobStorage, s3_endpoint: str) -> None:
    data = _pattern(11 * MIB)
    await s3.write("videos/v3/source", _chunks(*[data[i : i + 256 * KIB] for i in range(0, len(data), 256 * KIB)]))
    client = _client(s3_endpoint)
    head = client.head_object(Bucket=s3.bucket, Key="videos/v3/source")
    assert head["ETag"].endswith('-3"')  # 5 MiB + 5 MiB + 1 MiB
    assert head["ContentLength"] == len(data)


async def test_a_failed_write_leaves_the_old_blob_and_no_upload_behind(s3: S3BlobStorage, s3_endpoint: str) -> None:
    await s3.write("videos/v4/source", _chunks(b"the old one"))

    async def breaking() -> AsyncIterator[bytes]:
        yield _pattern(6 * MIB)
        raise OSError("client went away")

    with pytest.raises(OSError, match="went away"):
        await s3.write("videos/v4/source", breaking())
    assert await s3.read("videos/v4/source") == b"the old one"
    client = _client(s3_endpoint)
    assert not client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads")


def test_setting_an_s3_bucket_puts_blobs_in_it(settings: Settings) -> None:
    assert isinstance(get_port(build_injector(settings, []), BlobStorage), LocalBlobStorage)
    remote = msgspec.structs.replace(settings, s3_bucket="hypha-blobs", s3_endpoint_url="http://127.0.0.1:9")
    storage = get_port(build_injector(remote, []), BlobStorage)
    assert isinstance(storage, S3BlobStorage)
    assert storage.bucket == "hypha-blobs"
