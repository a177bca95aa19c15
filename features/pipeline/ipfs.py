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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

from multiformats import multibase, multicodec, multihash, varint

__all__ = [
    "CHUNK_SIZE",
    "MAX_LINKS",
    "Block",
    "build_dag",
    "cid_of_bytes",
    "cid_of_file",
    "iter_blocks",
    "iter_chunks",
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


def _raw_leaf(chunk: bytes) -> tuple[Block, _Link]:
    cid, binary = _cid("raw", chunk)
    return Block(cid, chunk), _Link(binary, len(chunk), len(chunk))


def _parent(children: list[_Link]) -> tuple[Block, _Link]:
    unixfs = _encode_unixfs_file(sum(c.filesize for c in children), (c.filesize for c in children))
    node = _encode_pb_node(children, unixfs)
    cid, binary = _cid("dag-pb", node)
    link = _Link(
        binary,
        len(node) + sum(c.tsize for c in children),
        sum(c.filesize for c in children),
    )
    return Block(cid, node), link


def build_dag(chunks: Iterable[bytes], *, max_links: int = MAX_LINKS) -> Iterator[Block]:
    """Yield every block of the balanced UnixFS DAG built over ``chunks``.

    Blocks come out children-first; the **last** block yielded is always the
    root, so its CID is the file's CID.  ``chunks`` are used as leaves as
    given (use :func:`iter_chunks` for Kubo's chunking); empty chunks are
    ignored, and no data at all gives the empty raw leaf, as for ``ipfs add``
    of an empty file.

    Streaming: ``levels[i]`` holds the not-yet-parented links at depth ``i``
    (0 = leaves).  A level is only folded into a parent when a 175th link
    arrives, so a level holding exactly ``max_links`` links at the end does
    not grow an extra layer, exactly like the importers' batch-and-reduce.
    """
    if max_links < 2:
        raise ValueError("max_links must be at least 2")
    levels: list[list[_Link]] = [[]]

    def push(depth: int, link: _Link) -> Iterator[Block]:
        if depth == len(levels):
            levels.append([])
        if len(levels[depth]) == max_links:
            block, parent = _parent(levels[depth])
            levels[depth] = []
            yield block
            yield from push(depth + 1, parent)
        levels[depth].append(link)

    saw_chunk = False
    for chunk in chunks:
        if not chunk:
            continue  # zero-length leaves carry nothing; the importers drop such links too
        saw_chunk = True
        block, link = _raw_leaf(chunk)
        yield block
        yield from push(0, link)

    if not saw_chunk:
        # Empty input: a single empty raw leaf, like `ipfs add` of an empty file.
        yield _raw_leaf(b"")[0]
        return

    depth = 0
    while True:
        pending = levels[depth]
        is_top = depth == len(levels) - 1
        if is_top and len(pending) == 1:
            # Single remaining node: the root.  For a one-chunk file that's the raw
            # leaf itself (already yielded); otherwise the parent yielded just before.
            return
        block, parent = _parent(pending)
        levels[depth] = []
        yield block
        yield from push(depth + 1, parent)
        depth += 1


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
