"""IPFS-compatible content addressing (UnixFS v1 files, exactly like ``ipfs add``).

The CIDs computed here are identical to what Kubo prints for
``ipfs add --cid-version 1 <file>`` with default settings, and to what
js-ipfs / ``ipfs-unixfs-importer`` produce with ``{cidVersion: 1, rawLeaves: true}``:

* fixed-size chunker, 256 KiB (262144 byte) chunks;
* raw leaves: every chunk is its own block, codec ``raw`` (0x55);
* balanced DAG layout with at most 174 links per node: the leaves are grouped
  174 at a time under ``dag-pb`` parent nodes, those parents are grouped again
  174 at a time, and so on until a single root remains (all leaves at the same
  depth, left subtrees full);
* a file that fits in one chunk (including the empty file) is *not* wrapped:
  its CID is the raw leaf itself (``bafkrei...``); anything larger has a
  ``dag-pb`` root (``bafybei...``);
* sha2-256 multihash, CIDv1, rendered in multibase base32 (lower case).

CID, multihash and multibase handling is delegated to the ``multiformats``
library.  The two protobuf messages involved are written by hand below because
only three tiny shapes are ever needed; see :func:`_encode_pb_node` and
:func:`_encode_unixfs_file`.

Everything streams: :func:`cid_of_file` reads one chunk at a time and keeps only
one pending list of at most 174 links per tree level (a 1 TiB file has a
5-level tree), so memory stays flat whatever the file size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from multiformats import multibase, multicodec, multihash, varint

__all__ = [
    "CHUNK_SIZE",
    "MAX_LINKS",
    "Block",
    "DagBuilder",
    "Directory",
    "DirectoryTooLarge",
    "FileEntry",
    "build_dag",
    "cid_of_bytes",
    "cid_of_file",
    "directory_dag",
    "iter_blocks",
    "iter_chunks",
    "tsize_of_size",
]

CHUNK_SIZE = 262_144
"""Kubo's default fixed-size chunker (``size-262144``)."""

MAX_LINKS = 174
"""Kubo's / js-ipfs' default maximum number of links per balanced-DAG node."""


class Block(NamedTuple):
    """One IPFS block: its CID (CIDv1, base32) and its exact bytes."""

    cid: str
    data: bytes


# --------------------------------------------------------------------------
# Minimal protobuf encoding
#
# dag-pb (https://ipld.io/specs/codecs/dag-pb/spec/):
#
#     message PBLink { optional bytes Hash = 1; optional string Name = 2;
#                      optional uint64 Tsize = 3; }
#     message PBNode { repeated PBLink Links = 2; optional bytes Data = 1; }
#
# The canonical byte form writes every Links entry (field 2) *before* Data
# (field 1), i.e. not in field-number order; inside a PBLink the fields are in
# order Hash, Name, Tsize.  The UnixFS importers always set Name to "" and it is
# still emitted (tag 0x12, length 0), and always set Tsize.
#
# UnixFS (https://github.com/ipfs/specs/blob/main/UNIXFS.md), proto2:
#
#     message Data { required DataType Type = 1; optional bytes Data = 2;
#                    optional uint64 filesize = 3; repeated uint64 blocksizes = 4;
#                    ... }            # DataType.File == 2
#
# For an intermediate file node with raw leaves only Type, filesize and one
# (unpacked, proto2) ``blocksizes`` entry per child are written; the Data field
# is absent.
# --------------------------------------------------------------------------

_WIRE_VARINT = 0
_WIRE_LEN = 2
_UNIXFS_FILE = 2


def _varint(value: int) -> bytes:
    """Protobuf base-128 varint of a non-negative integer."""
    if value < 0:
        raise ValueError("protobuf varints here are unsigned")
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint((field << 3) | wire_type)


def _len_field(field: int, payload: bytes) -> bytes:
    return _key(field, _WIRE_LEN) + _varint(len(payload)) + payload


def _uint_field(field: int, value: int) -> bytes:
    return _key(field, _WIRE_VARINT) + _varint(value)


def _encode_unixfs_file(filesize: int, blocksizes: Iterable[int]) -> bytes:
    """UnixFS ``Data`` message for a File node without inline data."""
    out = bytearray(_uint_field(1, _UNIXFS_FILE))
    out += _uint_field(3, filesize)
    for size in blocksizes:
        out += _uint_field(4, size)
    return bytes(out)


def _encode_pb_node(links: Iterable[_Link], data: bytes) -> bytes:
    """Canonical dag-pb ``PBNode``: all Links (field 2) first, then Data (field 1)."""
    out = bytearray()
    for link in links:
        pb_link = _len_field(1, link.cid_bytes) + _len_field(2, b"") + _uint_field(3, link.tsize)
        out += _len_field(2, pb_link)
    out += _len_field(1, data)
    return bytes(out)


# --------------------------------------------------------------------------
# Balanced DAG builder
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Link:
    cid_bytes: bytes  # binary CID (no multibase prefix), as stored in PBLink.Hash
    tsize: int  # cumulative size of the linked block and everything below it
    filesize: int  # number of file bytes below this link (UnixFS blocksizes entry)


# The CID pieces come from ``multiformats``, resolved once: building a
# ``multiformats.CID`` object per block is slower than hashing the block, and
# its runtime type validation raises and catches exceptions internally, whose
# tracebacks keep the caller's frames (and thus 256 KiB chunks) alive until the
# cycle collector runs.  ``tests/unit/test_ipfs_cid.py`` checks that this gives
# exactly ``str(CID("base32", 1, codec, multihash))`` and ``bytes(...)``.
_SHA2_256 = multihash.get("sha2-256")
_BASE32 = multibase.get("base32")
_CIDV1_HEADER = {codec: varint.encode(1) + varint.encode(multicodec.get(codec).code) for codec in ("raw", "dag-pb")}


def _cid(codec: str, block: bytes) -> tuple[str, bytes]:
    """CIDv1 of ``block`` (sha2-256): (base32 string, binary form)."""
    binary = _CIDV1_HEADER[codec] + _SHA2_256.wrap(hashlib.sha256(block).digest())
    return _BASE32.encode(binary), binary


_PLACEHOLDER_CID = bytes(len(_CIDV1_HEADER["raw"]) + 34)  # same length as every sha2-256 CIDv1 here


class DagBuilder:
    """Push-style balanced DAG builder: :meth:`add` each chunk, then :meth:`finish`.

    ``levels[i]`` holds the not-yet-parented links at depth ``i`` (0 = leaves).  A level is only
    folded into a parent when a 175th link arrives, so a level holding exactly ``max_links`` links
    at the end does not grow an extra layer, exactly like the importers' batch-and-reduce.  The
    blocks come out children-first; the last block :meth:`finish` returns is the root, and
    :attr:`root` is its link (CID, ``Tsize``, file size) once finished.

    With ``hashing=False`` no block is hashed: every CID is a placeholder of the real length, so
    the node sizes, and thus the root's ``Tsize``, are exact (see :func:`tsize_of_size`).
    """

    def __init__(self, *, max_links: int = MAX_LINKS, hashing: bool = True) -> None:
        if max_links < 2:
            raise ValueError("max_links must be at least 2")
        self.max_links = max_links
        self.hashing = hashing
        self.levels: list[list[_Link]] = [[]]
        self.root: _Link | None = None
        self._saw_chunk = False

    def _block(self, codec: str, data: bytes) -> tuple[str, bytes]:
        if self.hashing:
            return _cid(codec, data)
        return "", _PLACEHOLDER_CID

    def _leaf(self, chunk: bytes) -> tuple[Block, _Link]:
        cid, binary = self._block("raw", chunk)
        return Block(cid, chunk), _Link(binary, len(chunk), len(chunk))

    def _parent(self, children: list[_Link]) -> tuple[Block, _Link]:
        filesize = sum(c.filesize for c in children)
        node = _encode_pb_node(children, _encode_unixfs_file(filesize, (c.filesize for c in children)))
        cid, binary = self._block("dag-pb", node)
        return Block(cid, node), _Link(binary, len(node) + sum(c.tsize for c in children), filesize)

    def _push(self, depth: int, link: _Link, out: list[Block]) -> None:
        if depth == len(self.levels):
            self.levels.append([])
        if len(self.levels[depth]) == self.max_links:
            block, parent = self._parent(self.levels[depth])
            self.levels[depth] = []
            out.append(block)
            self._push(depth + 1, parent, out)
        self.levels[depth].append(link)

    def add(self, chunk: bytes) -> list[Block]:
        """Add the next chunk (a leaf); returns the blocks completed by it (the leaf first)."""
        if self.root is not None:
            raise RuntimeError("the DAG is finished")
        if not chunk:
            return []  # zero-length leaves carry nothing; the importers drop such links too
        self._saw_chunk = True
        block, link = self._leaf(chunk)
        out = [block]
        self._push(0, link, out)
        return out

    def finish(self) -> list[Block]:
        """The remaining blocks; the last one is the root."""
        if self.root is not None:
            raise RuntimeError("the DAG is finished")
        if not self._saw_chunk:
            # Empty input: a single empty raw leaf, like `ipfs add` of an empty file.
            block, self.root = self._leaf(b"")
            return [block]
        out: list[Block] = []
        depth = 0
        while True:
            pending = self.levels[depth]
            if depth == len(self.levels) - 1 and len(pending) == 1:
                # Single remaining node: the root.  For a one-chunk file that's the raw
                # leaf itself (already returned); otherwise the parent returned just before.
                self.root = pending[0]
                return out
            block, parent = self._parent(pending)
            self.levels[depth] = []
            out.append(block)
            self._push(depth + 1, parent, out)
            depth += 1


def build_dag(chunks: Iterable[bytes], *, max_links: int = MAX_LINKS) -> Iterator[Block]:
    """Yield every block of the balanced UnixFS DAG built over ``chunks``.

    Blocks come out children-first; the **last** block yielded is always the
    root, so its CID is the file's CID.  ``chunks`` are used as leaves as
    given (use :func:`iter_chunks` for Kubo's chunking); empty chunks are
    ignored, and no data at all gives the empty raw leaf, as for ``ipfs add``
    of an empty file.
    """
    builder = DagBuilder(max_links=max_links)
    for chunk in chunks:
        yield from builder.add(chunk)
    yield from builder.finish()


def tsize_of_size(size: int, *, chunk_size: int = CHUNK_SIZE, max_links: int = MAX_LINKS) -> int:
    """``Tsize`` of a file of ``size`` bytes: its bytes plus every ``dag-pb`` node above them.

    A directory links each file with this cumulative size.  It depends only on the size, because
    every CID here has the same length; computed without hashing (one small node per 174 chunks).
    """
    if size < 0:
        raise ValueError("size must be >= 0")
    builder = DagBuilder(max_links=max_links, hashing=False)
    full, rest = divmod(size, chunk_size)
    # Leaves are never kept, only their links: reuse one chunk object per distinct length.
    chunk = bytes(chunk_size) if full else b""
    for _ in range(full):
        builder.add(chunk)
    if rest:
        builder.add(bytes(rest))
    builder.finish()
    assert builder.root is not None
    return builder.root.tsize


def iter_chunks(stream: BinaryIO, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Fixed-size chunker: full ``chunk_size`` pieces, then the remainder (if any)."""
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    while True:
        buf = stream.read(chunk_size)
        if not buf:
            return
        while len(buf) < chunk_size:  # short read (pipes, sockets): keep filling
            more = stream.read(chunk_size - len(buf))
            if not more:
                break
            buf += more
        yield buf
        if len(buf) < chunk_size:
            return


def _split(data: bytes, chunk_size: int) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), chunk_size):
        yield bytes(view[start : start + chunk_size])


def iter_blocks(path: Path | str, *, chunk_size: int = CHUNK_SIZE, max_links: int = MAX_LINKS) -> Iterator[Block]:
    """Yield all blocks of the file at ``path`` (children first, root last).

    Suitable for filling a local block store; reads the file lazily, one chunk
    at a time.  The file is kept open until the iterator is exhausted or closed.
    """
    with open(path, "rb") as stream:
        yield from build_dag(iter_chunks(stream, chunk_size), max_links=max_links)


def _root(blocks: Iterable[Block]) -> str:
    root: str | None = None
    for block in blocks:
        root = block.cid
    if root is None:  # pragma: no cover - build_dag always yields at least one block
        raise RuntimeError("no blocks produced")
    return root


def cid_of_bytes(data: bytes, *, chunk_size: int = CHUNK_SIZE, max_links: int = MAX_LINKS) -> str:
    """CID that ``ipfs add --cid-version 1`` would print for a file holding ``data``."""
    return _root(build_dag(_split(data, chunk_size), max_links=max_links))


def cid_of_file(path: Path | str, *, chunk_size: int = CHUNK_SIZE, max_links: int = MAX_LINKS) -> str:
    """CID that ``ipfs add --cid-version 1`` would print for the file at ``path``.

    Streams the file in ``chunk_size`` pieces; memory use does not depend on
    the file size.
    """
    return _root(iter_blocks(path, chunk_size=chunk_size, max_links=max_links))


# --------------------------------------------------------------------------
# Directories (what `ipfs add -r --cid-version 1 --raw-leaves` makes of a tree)
#
# A directory is a dag-pb node whose Data is the UnixFS message {Type: Directory} (bytes 08 01)
# and whose Links name its entries, sorted by name (byte order, as dag-pb requires), each with the
# entry's cumulative size as Tsize: a file's `tsize_of_size`, a sub-directory's node length plus
# its links' Tsizes.  Kubo and the js importer switch to a sharded (HAMT) directory once a node
# would pass 256 KiB (some thousands of entries); that layout is not written here, and such a
# directory raises DirectoryTooLarge instead of getting a CID the reference would not give.
# --------------------------------------------------------------------------

_UNIXFS_DIRECTORY = 1
DIRECTORY_NODE_LIMIT = 262_144
"""Largest plain directory node written; the importers shard (HAMT) above about this size."""


class DirectoryTooLarge(ValueError):
    """A directory has so many entries that IPFS would shard it (HAMT), which is not supported here."""


class FileEntry(NamedTuple):
    """A file in a directory: its CID (CIDv1, base32) and its ``Tsize`` (see :func:`tsize_of_size`)."""

    cid: str
    tsize: int


class Directory(NamedTuple):
    """A directory DAG: its root CID and its dag-pb nodes (sub-directories first, the root last).

    The files' own blocks are not included: they are wherever the files are.
    """

    root: str
    blocks: list[Block]


def _encode_directory(links: list[tuple[bytes, bytes, int]]) -> bytes:
    """dag-pb node of a plain UnixFS directory; ``links`` are (name, binary CID, Tsize), sorted."""
    out = bytearray()
    for name, cid_bytes, tsize in links:
        pb_link = _len_field(1, cid_bytes) + _len_field(2, name) + _uint_field(3, tsize)
        out += _len_field(2, pb_link)
    out += _len_field(1, _uint_field(1, _UNIXFS_DIRECTORY))
    return bytes(out)


def _path_parts(path: str) -> list[str]:
    parts = path.split("/")
    if not path or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"{path!r} is not a relative path of a file")
    return parts


def directory_dag(files: Mapping[str, FileEntry]) -> Directory:
    """The UnixFS directory tree holding ``files`` (relative POSIX paths; sub-directories are made
    from the paths), built like ``ipfs add -r --cid-version 1 --raw-leaves``: the root CID equals
    what it prints for the top directory.  An empty mapping gives the empty directory.

    Raises ValueError for a path that is not a plain relative path or that is both a file and a
    directory, DirectoryTooLarge for a directory that IPFS would shard.
    """
    tree: dict[str, Any] = {}
    for path, entry in files.items():
        parts = _path_parts(path)
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"{path!r}: {part!r} is a file")
            node = child
        if parts[-1] in node:
            raise ValueError(f"{path!r} is both a file and a directory")
        node[parts[-1]] = entry
    blocks: list[Block] = []

    def build(node: dict[str, Any]) -> tuple[str, bytes, int]:
        links: list[tuple[bytes, bytes, int]] = []
        for name, child in node.items():
            if isinstance(child, dict):
                _, binary, tsize = build(child)
            else:
                binary, tsize = multibase.decode(child.cid), child.tsize
            links.append((name.encode("utf-8"), binary, tsize))
        links.sort(key=lambda link: link[0])
        data = _encode_directory(links)
        if len(data) > DIRECTORY_NODE_LIMIT:
            raise DirectoryTooLarge(f"a directory of {len(links)} entries would be sharded (HAMT)")
        cid, binary = _cid("dag-pb", data)
        blocks.append(Block(cid, data))
        return cid, binary, len(data) + sum(link[2] for link in links)

    root, _, _ = build(tree)
    return Directory(root, blocks)
