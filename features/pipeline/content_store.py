"""Content-addressed storage for published files (HLS playlists, segments, keys...): the adapters of
the `ContentStore` port (features.pipeline.ports; its errors are in features.pipeline.model).

Every store addresses a file by the CID that ``ipfs add --cid-version 1`` gives
it (see :mod:`features.pipeline.ipfs`), so an address handed out by the local
disk store, the in-memory store or a Kubo node is the same string for the same
bytes, and can be served by any IPFS gateway.

Only canonical addresses are accepted on the read side: CIDv1, sha2-256,
codec ``raw`` or ``dag-pb``, base32 — i.e. the strings :meth:`ContentStore.put_file`
returns.  Anything else (a CIDv0, another base, a malformed string, a path) is
treated as an address the store does not hold: ``has`` answers ``False`` and
``read``/``size`` raise :class:`ContentNotFound`.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Self

from multiformats import CID

from features.pipeline.ipfs import (
    CHUNK_SIZE,
    build_dag,
    cid_of_bytes,
    cid_of_file,
    iter_chunks,
)
from features.pipeline.model import ContentNotFound, ContentStoreError
from features.pipeline.ports import ContentStore

if TYPE_CHECKING:
    import httpx  # imported where used: httpx brings its CLI (rich, click, pygments) to every process

__all__ = [
    "KuboContentStore",
    "LocalContentStore",
    "MemoryContentStore",
    "is_canonical_cid",
]


def is_canonical_cid(cid: str) -> bool:
    """True if ``cid`` is a CID this module could have produced (v1, sha2-256, raw/dag-pb, base32)."""
    try:
        parsed = CID.decode(cid)
    except (ValueError, LookupError, TypeError):  # multiformats raises all three
        return False
    return (
        parsed.version == 1
        and parsed.codec.name in ("raw", "dag-pb")
        and parsed.hashfun.name == "sha2-256"
        and str(parsed.set(base="base32")) == cid
    )


def _require_cid(cid: str) -> str:
    if not is_canonical_cid(cid):
        raise ContentNotFound(cid)
    return cid


def _check_range(offset: int, length: int | None) -> None:
    if offset < 0:
        raise ValueError("offset must be >= 0")
    if length is not None and length < 0:
        raise ValueError("length must be >= 0 or None")


def _slice(data: bytes, offset: int, length: int | None) -> bytes:
    end = len(data) if length is None else min(len(data), offset + length)
    return data[offset:end]


# --------------------------------------------------------------------------
# In-memory
# --------------------------------------------------------------------------


class MemoryContentStore:
    """Keeps everything in a dict; for tests and development."""

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}

    async def put_file(self, path: Path) -> str:
        data = await asyncio.to_thread(Path(path).read_bytes)
        cid = cid_of_bytes(data)
        self._data.setdefault(cid, data)
        return cid

    async def has(self, cid: str) -> bool:
        return cid in self._data

    async def read(self, cid: str, offset: int = 0, length: int | None = None) -> bytes:
        _check_range(offset, length)
        try:
            data = self._data[cid]
        except KeyError:
            raise ContentNotFound(cid) from None
        return _slice(data, offset, length)

    async def size(self, cid: str) -> int:
        try:
            return len(self._data[cid])
        except KeyError:
            raise ContentNotFound(cid) from None

    async def remove(self, cid: str) -> None:
        self._data.pop(cid, None)


# --------------------------------------------------------------------------
# Local directory
# --------------------------------------------------------------------------

# "bafkrei" / "bafybei": multibase + CIDv1 + codec + sha2-256 header, same for every CID here.
_CID_PREFIX_LEN = len("bafkrei")


class LocalContentStore:
    """Files under ``root/<two chars after the CID prefix>/<cid>``, one copy per CID.

    Writes are atomic: a temporary file in the destination directory is
    written, fsynced and ``os.replace``-d into place, then the directory is
    fsynced, so a reader never sees a partial file under a CID.  The copy is
    hashed again as it is written and must match the CID computed first, so a
    source file modified meanwhile raises :class:`ContentStoreError` instead of
    being stored under the wrong name.  A crash can leave a ``.incoming-*.tmp``
    file behind, never a wrong or partial ``<cid>`` file.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, cid: str) -> Path:
        """Where ``cid`` lives (or would live). Raises :class:`ContentNotFound` for non-canonical CIDs."""
        _require_cid(cid)
        return self.root / cid[_CID_PREFIX_LEN : _CID_PREFIX_LEN + 2] / cid

    async def put_file(self, path: Path) -> str:
        return await asyncio.to_thread(self._put_file_sync, Path(path))

    def _put_file_sync(self, path: Path) -> str:
        cid = cid_of_file(path)
        target = self.path_for(cid)
        if target.exists():
            return cid
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".incoming-", suffix=".tmp")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
                copied = _root_cid(_tee(iter_chunks(src, CHUNK_SIZE), out))
                out.flush()
                os.fsync(out.fileno())
            if copied != cid:
                raise ContentStoreError(f"{path} changed while being stored ({cid} then {copied})")
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        return cid

    async def has(self, cid: str) -> bool:
        if not is_canonical_cid(cid):
            return False
        return await asyncio.to_thread(self.path_for(cid).is_file)

    async def read(self, cid: str, offset: int = 0, length: int | None = None) -> bytes:
        _check_range(offset, length)
        target = self.path_for(cid)
        return await asyncio.to_thread(self._read_sync, cid, target, offset, length)

    @staticmethod
    def _read_sync(cid: str, target: Path, offset: int, length: int | None) -> bytes:
        try:
            with open(target, "rb") as f:
                f.seek(offset)
                return f.read() if length is None else f.read(length)
        except FileNotFoundError:
            raise ContentNotFound(cid) from None

    async def size(self, cid: str) -> int:
        target = self.path_for(cid)
        try:
            return (await asyncio.to_thread(target.stat)).st_size
        except FileNotFoundError:
            raise ContentNotFound(cid) from None

    async def remove(self, cid: str) -> None:
        if is_canonical_cid(cid):
            await asyncio.to_thread(self.path_for(cid).unlink, True)


def _tee(chunks: Iterator[bytes], out: IO[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        out.write(chunk)
        yield chunk


def _root_cid(chunks: Iterator[bytes]) -> str:
    root = ""
    for block in build_dag(chunks):
        root = block.cid
    return root


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------
# Kubo (go-ipfs) RPC API
# --------------------------------------------------------------------------

ADD_PARAMS: dict[str, str] = {
    # Pin every parameter that shapes the DAG, so the node's config cannot change the CID.
    "cid-version": "1",
    "raw-leaves": "true",
    "chunker": f"size-{CHUNK_SIZE}",
    "hash": "sha2-256",
    "trickle": "false",
    "inline": "false",
    "wrap-with-directory": "false",
    "pin": "true",
    "quieter": "true",
    "progress": "false",
}
"""Query string of ``/api/v0/add`` (``ipfs add --cid-version 1 --pin ...``)."""


class KuboContentStore:
    """Stores files in a Kubo node through its RPC API (``/api/v0``), pinned.

    * ``put_file``: ``POST /api/v0/add`` (multipart, streamed from disk) with
      :data:`ADD_PARAMS`; the CID Kubo answers must equal the one computed
      locally, otherwise :class:`ContentStoreError` is raised and the CID is
      never returned (a node configured differently, e.g. another chunker or
      link fan-out, is caught here).
    * ``has``: ``POST /api/v0/pin/ls?arg=<cid>&type=recursive`` — held means
      pinned recursively, i.e. complete and safe from garbage collection.
    * ``read``: ``POST /api/v0/cat?arg=<cid>&offset=&length=``; full reads are
      re-hashed and must give back ``cid``, partial reads are length-checked.
    * ``size``: ``POST /api/v0/files/stat?arg=/ipfs/<cid>`` (the UnixFS size).

    Reads and stats are sent with ``offline=true`` so that an absent CID fails
    at once instead of being searched for on the network.

    ``api_url`` is the RPC base, e.g. ``http://127.0.0.1:5001``.  If no
    ``client`` is given one is created and closed by :meth:`aclose` (or by
    ``async with``); a given client is left to its owner.
    """

    def __init__(
        self,
        api_url: str,
        client: httpx.AsyncClient | None = None,
        *,
        timeout: float = 300.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        import httpx

        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- RPC plumbing -------------------------------------------------------

    def _url(self, command: str) -> str:
        return f"{self.api_url}/api/v0/{command}"

    async def _post(self, command: str, params: dict[str, str], **kwargs: Any) -> httpx.Response:
        import httpx

        try:
            return await self._client.post(self._url(command), params=params, **kwargs)
        except httpx.HTTPError as exc:
            raise ContentStoreError(f"Kubo {command} failed: {exc!r}") from exc

    @staticmethod
    def _error_message(response: httpx.Response) -> str:
        """Kubo answers errors as ``{"Message": ..., "Code": ..., "Type": "error"}``."""
        try:
            body = response.json()
        except ValueError:
            return response.text.strip()
        if isinstance(body, dict) and isinstance(body.get("Message"), str):
            return str(body["Message"])
        return response.text.strip()

    def _fail(self, command: str, cid: str, response: httpx.Response) -> ContentStoreError:
        message = self._error_message(response)
        lowered = message.lower()
        if response.status_code == 500 and ("not found" in lowered or "could not find" in lowered):
            return ContentNotFound(f"{cid}: {message}")
        return ContentStoreError(f"Kubo {command} {cid}: HTTP {response.status_code}: {message}")

    # -- ContentStore ---------------------------------------------------------

    async def put_file(self, path: Path) -> str:
        path = Path(path)
        expected = await asyncio.to_thread(cid_of_file, path)
        body = await asyncio.to_thread(path.open, "rb")
        try:
            # httpx streams the multipart body from the file in 64 KiB reads.
            upload = {"file": ("file", body, "application/octet-stream")}
            response = await self._post("add", ADD_PARAMS, files=upload)
        finally:
            body.close()
        if response.status_code != 200:
            raise ContentStoreError(f"Kubo add {path}: HTTP {response.status_code}: {self._error_message(response)}")
        got = _last_json_line(response.text).get("Hash")
        if got != expected:
            raise ContentStoreError(
                f"Kubo returned CID {got!r} for {path}, but its bytes hash to {expected}; refusing to publish it"
            )
        return expected

    async def has(self, cid: str) -> bool:
        if not is_canonical_cid(cid):
            return False
        response = await self._post("pin/ls", {"arg": cid, "type": "recursive", "offline": "true"})
        if response.status_code == 200:
            body = _last_json_line(response.text)
            keys = body.get("Keys")
            return (isinstance(keys, dict) and cid in keys) or body.get("Cid") == cid
        error = self._fail("pin/ls", cid, response)
        # Kubo: 500 "path '/ipfs/<cid>' is not pinned" (or a not-found error for an absent block).
        if isinstance(error, ContentNotFound) or (
            response.status_code == 500 and "not pinned" in self._error_message(response)
        ):
            return False
        raise error

    async def read(self, cid: str, offset: int = 0, length: int | None = None) -> bytes:
        _check_range(offset, length)
        _require_cid(cid)
        params = {
            "arg": cid,
            "offset": str(offset),
            "progress": "false",
            "offline": "true",
        }
        if length is not None:
            if length == 0:
                await self.size(cid)  # still report absent content
                return b""
            params["length"] = str(length)
        response = await self._post("cat", params)
        if response.status_code != 200:
            raise self._fail("cat", cid, response)
        data = response.content
        # Kubo reports errors that happen mid-stream only in an HTTP trailer, which
        # httpx drops, so check what we got instead of trusting the status code.
        if offset == 0 and length is None:
            if cid_of_bytes(data) != cid:
                raise ContentStoreError(f"Kubo cat {cid} returned bytes that do not hash to it")
        else:
            total = await self.size(cid)
            expected = max(0, total - offset) if length is None else max(0, min(length, total - offset))
            if len(data) != expected:
                raise ContentStoreError(f"Kubo cat {cid} returned {len(data)} bytes, expected {expected}")
        return data

    async def size(self, cid: str) -> int:
        _require_cid(cid)
        response = await self._post("files/stat", {"arg": f"/ipfs/{cid}", "offline": "true"})
        if response.status_code != 200:
            raise self._fail("files/stat", cid, response)
        size = _last_json_line(response.text).get("Size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ContentStoreError(f"Kubo files/stat {cid}: unexpected answer {response.text[:200]!r}")
        return size

    async def remove(self, cid: str) -> None:
        """Unpin ``cid``: the node's garbage collector may then drop its blocks (those no other pin holds)."""
        if not is_canonical_cid(cid):
            return
        response = await self._post("pin/rm", {"arg": cid})
        if response.status_code == 200:
            return
        error = self._fail("pin/rm", cid, response)
        if isinstance(error, ContentNotFound) or "not pinned" in self._error_message(response):
            return
        raise error


def _last_json_line(text: str) -> dict[str, Any]:
    """Kubo streams newline-delimited JSON; the last object is the final answer."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ContentStoreError("empty answer from Kubo")
    try:
        value = json.loads(lines[-1])
    except ValueError as exc:
        raise ContentStoreError(f"unparsable answer from Kubo: {lines[-1][:200]!r}") from exc
    if not isinstance(value, dict):
        raise ContentStoreError(f"unexpected answer from Kubo: {lines[-1][:200]!r}")
    return value


if TYPE_CHECKING:  # mypy checks that every implementation satisfies the protocol

    def _implementations(root: Path) -> list[ContentStore]:
        return [
            MemoryContentStore(),
            LocalContentStore(root),
            KuboContentStore("http://127.0.0.1:5001"),
        ]
