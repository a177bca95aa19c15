"""BlobStorage on an S3-compatible object store (AWS S3, MinIO, Ceph, R2, ...) through aioboto3.

How a blob lies in the bucket:

- `write` stores one plain object named by the key, streamed as a multipart upload of `part_bytes` parts
  (a single PUT when the blob is smaller than one part). Memory stays at one part.
- `append` (tus uploads: many small appends to one key) stores *segments*: objects named
  `<key>~parts/<offset, 20 digits>`, each holding the blob's bytes from that offset on. `~` cannot occur in
  a valid key, so segments never collide with another blob.

Why segments: S3 objects are immutable, so appending by rewriting the object costs O(size) per append
(quadratic over an upload), and a multipart upload cannot be read before it is completed (tus must report
and resume from the stored offset) and needs parts of at least 5 MiB. A segment costs one LIST (to learn
the offset) and one PUT per append, and reads compose segments with ranged GETs, streaming.

To keep the number of objects bounded, small segments are compacted: when the trailing run of segments
smaller than `segment_bytes` plus the new data reaches `segment_bytes`, the run and the data are written as
one segment at the run's start offset (memory: at most `segment_bytes` plus the appended data). A 4 GiB
upload ends as ~512 segments of 8 MiB, one LIST page; the price is that small appends are written twice.
The compacted segment overwrites the run's first segment (same name, an atomic PUT) before the rest are
deleted, and readers skip any segment that an earlier one already covers: a crash in between leaves
redundant objects (removed by the next compaction) but never a wrong byte.

Appends to one key must not run concurrently (two would compute the same offset); tus serialises them
per upload with its offset check, as it must for the local adapter too. Appending to a blob made by
`write` first moves it, by a server-side copy, to segment 0.

A crashed process can leave an incomplete multipart upload behind: give the bucket a lifecycle rule
`AbortIncompleteMultipartUpload` (e.g. after 1 day).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aioboto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from core.storage import CHUNK, BlobNotFound, check_key

SEGMENTS = "~parts/"
MIB = 1024 * 1024
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


@dataclass(frozen=True)
class _Piece:
    """Bytes `[start, start + length)` of a blob, found at `skip` within object `name`."""

    name: str
    start: int
    length: int
    skip: int = 0

    @property
    def end(self) -> int:
        return self.start + self.length


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _segment_name(key: str, offset: int) -> str:
    return f"{key}{SEGMENTS}{offset:020d}"


class S3BlobStorage:
    """BlobStorage adapter for one bucket of an S3-compatible store (see the module docstring for the layout)."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str = "",
        access_key: str = "",
        secret_key: str = "",
        region: str = "",
        segment_bytes: int = 8 * MIB,
        part_bytes: int = 8 * MIB,
    ) -> None:
        if part_bytes < 5 * MIB:
            raise ValueError("S3 multipart parts must be at least 5 MiB")
        self.bucket = bucket
        self.segment_bytes = segment_bytes
        self.part_bytes = part_bytes
        self._endpoint_url = endpoint_url or None
        self._session = aioboto3.Session(
            aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None,
            region_name=region or None,
        )
        # Path-style addressing works with every S3-compatible server (MinIO, Ceph, moto) on a bare endpoint.
        self._config = Config(
            s3={"addressing_style": "path"} if endpoint_url else {},
            max_pool_connections=32,
            retries={"mode": "standard", "max_attempts": 5},
        )
        self._client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._stack: AsyncExitStack | None = None
        self._lock: asyncio.Lock | None = None

    # --- the client: one per process and event loop, opened on first use -------------------------------

    async def _s3(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is not None and self._client_loop is loop:
            return self._client
        if self._lock is None or self._client_loop is not loop:
            # A client belongs to one event loop: a new loop (another asyncio.run) gets its own.
            self._lock = asyncio.Lock()
            self._client, self._client_loop, self._stack = None, loop, None
        async with self._lock:
            if self._client is None:
                stack = AsyncExitStack()
                client = await stack.enter_async_context(
                    self._session.client("s3", endpoint_url=self._endpoint_url, config=self._config)
                )
                await self._create_bucket_if_missing(client)
                self._client, self._stack = client, stack
        return self._client

    async def _create_bucket_if_missing(self, client: Any) -> None:
        try:
            await client.head_bucket(Bucket=self.bucket)
        except ClientError as error:
            if _code(error) not in {"404", "NoSuchBucket", "NotFound"}:
                return  # e.g. 403: the credentials may write objects without seeing the bucket; let calls tell
            try:
                await client.create_bucket(Bucket=self.bucket)
            except ClientError as create_error:
                if _code(create_error) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                    raise

    async def close(self) -> None:
        """Close the HTTP client (a later call opens a new one)."""
        stack, self._client, self._stack = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    # --- listing --------------------------------------------------------------------------------------

    async def _head(self, key: str) -> int | None:
        s3 = await self._s3()
        try:
            response = await s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _code(error) in _NOT_FOUND:
                return None
            raise
        return int(response["ContentLength"])

    async def _list(self, prefix: str) -> AsyncIterator[dict[str, Any]]:
        s3 = await self._s3()
        async for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item

    async def _segments(self, key: str) -> tuple[list[_Piece], list[str]]:
        """The segments that hold the blob's bytes, in order, and the redundant ones a compaction left."""
        found = [
            _Piece(item["Key"], int(item["Key"].rsplit("/", 1)[1]), int(item["Size"]))
            async for item in self._list(key + SEGMENTS)
        ]
        found.sort(key=lambda piece: (piece.start, -piece.length))
        pieces: list[_Piece] = []
        stale: list[str] = []
        covered = 0
        for piece in found:
            if pieces and piece.end <= covered:
                stale.append(piece.name)
                continue
            if piece.start > covered:
                raise RuntimeError(f"blob {key!r} has no bytes at {covered}: concurrent appends?")
            skip = covered - piece.start
            pieces.append(_Piece(piece.name, covered, piece.length - skip, skip))
            covered = piece.end
        return pieces, stale

    async def _pieces(self, key: str, *, plain: bool = True) -> list[_Piece]:
        """Where the blob's bytes are; `plain=False` when the caller already found no plain object."""
        size = await self._head(key) if plain else None
        if size is not None:
            return [_Piece(key, 0, size)]
        pieces, _ = await self._segments(key)
        if not pieces:
            raise BlobNotFound(key)
        return pieces

    async def _delete_names(self, names: list[str]) -> None:
        s3 = await self._s3()
        for start in range(0, len(names), 1000):
            batch = [{"Key": name} for name in names[start : start + 1000]]
            response = await s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            if errors := response.get("Errors"):
                raise RuntimeError(f"could not delete {len(errors)} objects, e.g. {errors[0]}")

    # --- reading -------------------------------------------------------------------------------------

    async def _get(self, name: str, first: int, last: int | None) -> Any:
        """GET bytes `[first, last]` (inclusive; `last=None` = to the end) of one object; its body."""
        s3 = await self._s3()
        byte_range = f"bytes={first}-" if last is None else f"bytes={first}-{last}"
        response = await s3.get_object(Bucket=self.bucket, Key=name, Range=byte_range)
        return response["Body"]

    async def _read_piece(self, piece: _Piece, offset: int, end: int) -> bytes:
        """The blob's bytes `[offset, end)` that lie in `piece`."""
        first, last = max(offset, piece.start), min(end, piece.end)
        if first >= last:
            return b""
        body = await self._get(piece.name, piece.skip + first - piece.start, piece.skip + last - piece.start - 1)
        async with body:  # StreamingBody's own __aenter__ returns the raw response: keep the wrapper
            return bytes(await body.read())

    async def read(self, key: str, offset: int = 0, length: int | None = None) -> bytes:
        check_key(key)
        if offset < 0 or (length is not None and length < 0):
            raise ValueError("offset and length must not be negative")
        if length != 0:
            try:
                body = await self._get(key, offset, None if length is None else offset + length - 1)
                async with body:
                    return bytes(await body.read())
            except ClientError as error:
                if _code(error) in {"InvalidRange", "416"}:
                    return b""  # offset at or past the end of a plain object
                if _code(error) not in _NOT_FOUND:
                    raise
        pieces = await self._pieces(key, plain=length == 0)
        total = pieces[-1].end
        end = total if length is None else min(total, offset + length)
        return b"".join([await self._read_piece(piece, offset, end) for piece in pieces])

    async def stream(self, key: str, chunk_size: int = CHUNK) -> AsyncIterator[bytes]:
        check_key(key)
        for piece in await self._pieces(key):
            if piece.length == 0:
                continue
            body = await self._get(piece.name, piece.skip, piece.skip + piece.length - 1)
            async with body:
                async for chunk in body.iter_chunks(chunk_size):
                    yield chunk

    async def size(self, key: str) -> int:
        check_key(key)
        return (await self._pieces(key))[-1].end

    async def exists(self, key: str) -> bool:
        check_key(key)
        if await self._head(key) is not None:
            return True
        s3 = await self._s3()
        response = await s3.list_objects_v2(Bucket=self.bucket, Prefix=key + SEGMENTS, MaxKeys=1)
        return bool(response.get("Contents"))

    @asynccontextmanager
    async def local_copy(self, key: str) -> AsyncIterator[Path]:
        check_key(key)
        pieces = await self._pieces(key)  # BlobNotFound before any file is made
        with tempfile.TemporaryDirectory(prefix="hypha-s3-") as tmp:
            path = Path(tmp) / "blob"
            with path.open("wb") as fh:
                for piece in pieces:
                    if piece.length == 0:
                        continue
                    body = await self._get(piece.name, piece.skip, piece.skip + piece.length - 1)
                    async with body:
                        async for chunk in body.iter_chunks(CHUNK):
                            await asyncio.to_thread(fh.write, chunk)
            yield path

    # --- writing -------------------------------------------------------------------------------------

    async def append(self, key: str, data: bytes) -> int:
        check_key(key)
        s3 = await self._s3()
        pieces, stale = await self._segments(key)
        if not pieces:
            plain = await self._head(key)
            if plain is not None:
                await s3.copy({"Bucket": self.bucket, "Key": key}, self.bucket, _segment_name(key, 0))
                await s3.delete_object(Bucket=self.bucket, Key=key)
                pieces = [_Piece(_segment_name(key, 0), 0, plain)]
        end = pieces[-1].end if pieces else 0
        if not data and pieces:
            return end
        run: list[_Piece] = []
        for piece in reversed(pieces):
            if piece.skip or piece.length >= self.segment_bytes:
                break
            run.insert(0, piece)
        run_bytes = sum(piece.length for piece in run)
        if run and run_bytes + len(data) >= self.segment_bytes:
            held = [await self._read_piece(piece, piece.start, piece.end) for piece in run]
            held.append(data)
            await s3.put_object(Bucket=self.bucket, Key=run[0].name, Body=b"".join(held))
            await self._delete_names([piece.name for piece in run[1:]] + stale)
        else:
            await s3.put_object(Bucket=self.bucket, Key=_segment_name(key, end), Body=data)
        return end + len(data)

    async def write(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        check_key(key)
        s3 = await self._s3()
        buffer = bytearray()
        size = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []

        async def upload_part(body: bytes) -> None:
            number = len(parts) + 1
            response = await s3.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
            )
            parts.append({"PartNumber": number, "ETag": response["ETag"]})

        try:
            async for chunk in chunks:
                buffer += chunk
                size += len(chunk)
                while len(buffer) >= self.part_bytes:
                    if upload_id is None:
                        created = await s3.create_multipart_upload(Bucket=self.bucket, Key=key)
                        upload_id = created["UploadId"]
                    await upload_part(bytes(buffer[: self.part_bytes]))
                    del buffer[: self.part_bytes]
            if upload_id is None:
                await s3.put_object(Bucket=self.bucket, Key=key, Body=bytes(buffer))
            else:
                if buffer:
                    await upload_part(bytes(buffer))
                await s3.complete_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
        except BaseException:
            if upload_id is not None:
                await s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise
        # The plain object wins over segments for readers, so drop an appended blob of the same key only now.
        await self._delete_names([item["Key"] async for item in self._list(key + SEGMENTS)])
        return size

    async def delete(self, key: str) -> None:
        check_key(key)
        names = [item["Key"] async for item in self._list(key + SEGMENTS)]
        await self._delete_names([key, *names])

    async def delete_prefix(self, prefix: str) -> None:
        check_key(prefix)
        await self._delete_names([item["Key"] async for item in self._list(prefix + "/")])
