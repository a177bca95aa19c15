"""The BlobStorage port and its local-filesystem and in-memory adapters.

Keys are chosen by the application (ids, never user-supplied file names) and validated: only
`[A-Za-z0-9._-]` segments separated by `/`, no `..`, no leading `/`.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Protocol

_SEGMENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
CHUNK = 1024 * 1024


class BlobNotFound(Exception):
    """Raised when a key has no blob."""


class InvalidKey(ValueError):
    """Raised for a key that could escape the store or is not in the allowed alphabet."""


def check_key(key: str) -> str:
    parts = key.split("/")
    if not key or any(not _SEGMENT.match(p) or p in {".", ".."} for p in parts):
        raise InvalidKey(f"invalid blob key: {key!r}")
    return key


class BlobStorage(Protocol):
    """Stores byte blobs by key; writes stream in chunks so memory stays flat."""

    async def append(self, key: str, data: bytes) -> int:
        """Append bytes to the blob (created if missing); return its new size."""
        ...

    async def write(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Replace the blob with the streamed chunks; return its size."""
        ...

    async def read(self, key: str, offset: int = 0, length: int | None = None) -> bytes:
        """Read a range; raise BlobNotFound if missing."""
        ...

    def stream(self, key: str, chunk_size: int = CHUNK) -> AsyncIterator[bytes]:
        """Stream the whole blob; raise BlobNotFound if missing."""
        ...

    async def size(self, key: str) -> int:
        """Size in bytes; raise BlobNotFound if missing."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Delete the blob if present (no error if missing)."""
        ...

    async def delete_prefix(self, prefix: str) -> None:
        """Delete every blob under `prefix/`."""
        ...

    def local_copy(self, key: str) -> AbstractAsyncContextManager[Path]:
        """Async context manager yielding a local file path with the blob's bytes (for ffmpeg)."""
        ...


class LocalBlobStorage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def append(self, key: str, data: bytes) -> int:
        path = self.path(key)

        def _append() -> int:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as fh:
                fh.write(data)
                return fh.tell()

        return await asyncio.to_thread(_append)

    async def write(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        size = 0
        try:
            with os.fdopen(fd, "wb") as fh:
                async for chunk in chunks:
                    await asyncio.to_thread(fh.write, chunk)
                    size += len(chunk)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return size

    async def read(self, key: str, offset: int = 0, length: int | None = None) -> bytes:
        path = self.path(key)

        def _read() -> bytes:
            try:
                with path.open("rb") as fh:
                    fh.seek(offset)
                    return fh.read() if length is None else fh.read(length)
            except FileNotFoundError as error:
                raise BlobNotFound(key) from error

        return await asyncio.to_thread(_read)

    async def stream(self, key: str, chunk_size: int = CHUNK) -> AsyncIterator[bytes]:
        path = self.path(key)
        if not path.is_file():
            raise BlobNotFound(key)
        with path.open("rb") as fh:
            while chunk := await asyncio.to_thread(fh.read, chunk_size):
                yield chunk

    async def size(self, key: str) -> int:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError as error:
            raise BlobNotFound(key) from error

    async def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    async def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    async def delete_prefix(self, prefix: str) -> None:
        path = self.path(prefix)
        await asyncio.to_thread(shutil.rmtree, path, True)

    @asynccontextmanager
    async def local_copy(self, key: str) -> AsyncIterator[Path]:
        path = self.path(key)
        if not path.is_file():
            raise BlobNotFound(key)
        yield path


class MemoryBlobStorage:
    def __init__(self) -> None:
        self.blobs: dict[str, bytearray] = {}

    async def append(self, key: str, data: bytes) -> int:
        blob = self.blobs.setdefault(check_key(key), bytearray())
        blob.extend(data)
        return len(blob)

    async def write(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        blob = bytearray()
        async for chunk in chunks:
            blob.extend(chunk)
        self.blobs[check_key(key)] = blob
        return len(blob)

    async def read(self, key: str, offset: int = 0, length: int | None = None) -> bytes:
        try:
            blob = self.blobs[check_key(key)]
        except KeyError as error:
            raise BlobNotFound(key) from error
        end = len(blob) if length is None else offset + length
        return bytes(blob[offset:end])

    async def stream(self, key: str, chunk_size: int = CHUNK) -> AsyncIterator[bytes]:
        data = await self.read(key)
        for start in range(0, len(data), chunk_size):
            yield data[start : start + chunk_size]

    async def size(self, key: str) -> int:
        try:
            return len(self.blobs[check_key(key)])
        except KeyError as error:
            raise BlobNotFound(key) from error

    async def exists(self, key: str) -> bool:
        return check_key(key) in self.blobs

    async def delete(self, key: str) -> None:
        self.blobs.pop(check_key(key), None)

    async def delete_prefix(self, prefix: str) -> None:
        check_key(prefix)
        for key in [k for k in self.blobs if k.startswith(prefix + "/")]:
            del self.blobs[key]

    @asynccontextmanager
    async def local_copy(self, key: str) -> AsyncIterator[Path]:
        data = await self.read(key)
        with tempfile.TemporaryDirectory(prefix="hypha-blob-") as tmp:
            path = Path(tmp) / "blob"
            path.write_bytes(data)
            yield path
