"""Known-answer tests: our CIDs must equal what IPFS itself computes.

How the reference CIDs below were produced (node v20.20.2, npm 10):

    cd tests/reference/ipfs-only-hash && npm ci      # ipfs-only-hash 4.0.0
                                                     # -> ipfs-unixfs-importer 7.0.3
    node hash.js FILE                                # DEFAULT_VECTORS
    node hash.js FILE 1000 3                         # SMALL_TREE_VECTORS

``hash.js`` calls ``Hash.of(bytes, {cidVersion: 1, rawLeaves: true})``, i.e. the
``ipfs add --cid-version 1`` defaults (262144-byte fixed chunks, raw leaves,
balanced layout, 174 links per node, sha2-256); its two optional arguments set
``maxChunkSize`` and ``maxChildrenPerNode``.  FILE held exactly
``_vector_bytes(label, size)``, i.e. ``hashlib.shake_256(b"hypha-ipfs-vector:"
+ label).digest(size)``: deterministic, so no test data is stored in the repo.
The well-known empty and "hello world" raw CIDs double as independent checks.
"""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from pathlib import Path

import pytest
from multiformats import CID, multihash

from features.pipeline.ipfs import (
    CHUNK_SIZE,
    MAX_LINKS,
    _cid,
    build_dag,
    cid_of_bytes,
    cid_of_file,
    iter_blocks,
    iter_chunks,
)

K = CHUNK_SIZE


def _vector_bytes(label: str, size: int) -> bytes:
    if size == 0:
        return b""
    return hashlib.shake_256(f"hypha-ipfs-vector:{label}".encode()).digest(size)


# (label, size, CID from ipfs-only-hash with Kubo's defaults)
DEFAULT_VECTORS = [
    ("empty", 0, "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"),
    ("one", 1, "bafkreibybemlsrvfezsauqg7lxhnmulhstz5s655tzv3ku6qg7cehhzrym"),
    ("chunk", K, "bafkreictg3bpcbkecjkfqbn3omwqyao4lukhyfaotcjzju32ynp5yt4t3m"),
    (
        "chunk_plus_1",
        K + 1,
        "bafybeidjitoipm3e3nn2doslvloh3y65qichvb4kxi4minzwsbioity3yi",
    ),
    (
        "three_mib",
        3 * 1024 * 1024 + 12345,
        "bafybeihtx2jme2ika3tzrb7ns76jng7uinigwd7ttnijbcrywb7hbegvlq",
    ),
    # 174 leaves: one root with exactly MAX_LINKS links, no extra layer.
    (
        "max_links_full",
        174 * K,
        "bafybeie7g6kg36czkeattacert2ytxtkszuv4faaxxh36iogopwaapszvm",
    ),
    # 175 leaves: a second dag-pb level (root -> [174 leaves], [1 leaf]).
    (
        "two_levels",
        174 * K + 1,
        "bafybeicxnb4k5sdynytbbyghgkpvxtlp3zebcat6aaz3uci4ycoyhypx5u",
    ),
]

# Same importer with 1000-byte chunks and at most 3 links per node, to check
# deep (4-level) trees without gigabytes of data.
SMALL_TREE_VECTORS = [
    (
        "deep_full",
        27 * 1000,
        "bafybeigs4mdxwmdua7mwywg4xrynhezz6hm7bu4etytcr5n62cpaiylmwe",
    ),
    (
        "deep_plus_1",
        27 * 1000 + 1,
        "bafybeiautnslawimd6fam2rbnivjfbs47ql7vrc54rzwskfdc3yoen3k2u",
    ),
    (
        "deep_ragged",
        10 * 1000 + 500,
        "bafybeiennzuck6m46afs2pqvyo3e2cyqit743qtblvlh55ubpxothguefq",
    ),
]


def test_kubo_defaults() -> None:
    assert CHUNK_SIZE == 262_144
    assert MAX_LINKS == 174


def test_well_known_cids() -> None:
    # Raw CIDv1 of sha2-256(""): what `ipfs add --cid-version 1` prints for an empty file.
    assert cid_of_bytes(b"") == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    assert cid_of_bytes(b"hello world") == "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"


@pytest.mark.parametrize(("label", "size", "expected"), DEFAULT_VECTORS, ids=[v[0] for v in DEFAULT_VECTORS])
def test_reference_vectors_bytes_and_file(tmp_path: Path, label: str, size: int, expected: str) -> None:
    data = _vector_bytes(label, size)
    assert len(data) == size
    assert cid_of_bytes(data) == expected
    path = tmp_path / f"{label}.bin"
    path.write_bytes(data)
    assert cid_of_file(path) == expected


@pytest.mark.parametrize(
    ("label", "size", "expected"),
    SMALL_TREE_VECTORS,
    ids=[v[0] for v in SMALL_TREE_VECTORS],
)
def test_reference_vectors_deep_trees(label: str, size: int, expected: str) -> None:
    assert cid_of_bytes(_vector_bytes(label, size), chunk_size=1000, max_links=3) == expected


def test_cid_shape() -> None:
    small = CID.decode(cid_of_bytes(b"x"))
    assert (small.version, small.codec.name, small.hashfun.name, small.base.name) == (
        1,
        "raw",
        "sha2-256",
        "base32",
    )
    big = CID.decode(cid_of_bytes(b"x" * (K + 1)))
    assert (big.version, big.codec.name, big.hashfun.name) == (1, "dag-pb", "sha2-256")


def test_iter_blocks_root_last_and_all_blocks_addressed(tmp_path: Path) -> None:
    data = _vector_bytes("two_levels", 174 * K + 1)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    blocks = list(iter_blocks(path))
    # 175 raw leaves + 2 level-1 parents + 1 root
    assert len(blocks) == 175 + 2 + 1
    assert blocks[-1].cid == "bafybeicxnb4k5sdynytbbyghgkpvxtlp3zebcat6aaz3uci4ycoyhypx5u"
    leaves = [b for b in blocks if b.cid.startswith("bafkrei")]
    assert b"".join(b.data for b in leaves) == data
    for block in blocks:
        cid = CID.decode(block.cid)
        assert cid.digest[2:] == hashlib.sha256(block.data).digest()
        # Kubo's default block size limit (1 MiB) is respected by every block.
        assert len(block.data) <= 1024 * 1024


def test_dag_pb_node_encoding_is_canonical() -> None:
    # Two leaves: check the exact bytes of the root against the dag-pb/UnixFS layout.
    data = b"a" * K + b"b"
    blocks = list(build_dag([data[:K], data[K:]]))
    leaf_a, leaf_b, root = blocks
    ca, cb = bytes(CID.decode(leaf_a.cid)), bytes(CID.decode(leaf_b.cid))
    assert len(ca) == len(cb) == 36

    def link(cid: bytes, tsize: bytes) -> bytes:
        # PBLink: Hash (field 1), Name (field 2) = "", Tsize (field 3)
        body = b"\x0a\x24" + cid + b"\x12\x00" + b"\x18" + tsize
        return b"\x12" + bytes([len(body)]) + body  # PBNode.Links (field 2)

    # UnixFS Data: Type=File, filesize=262145, blocksizes=[262144, 1]
    unixfs = b"\x08\x02" + b"\x18\x81\x80\x10" + b"\x20\x80\x80\x10" + b"\x20\x01"
    expected = link(ca, b"\x80\x80\x10") + link(cb, b"\x01") + b"\x0a" + bytes([len(unixfs)]) + unixfs
    assert root.data == expected


def test_iter_chunks_fills_short_reads() -> None:
    class Trickle(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._buf = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            return self._buf.read(min(size, 7) if size >= 0 else 7)

    data = bytes(range(256)) * 10
    chunks = list(iter_chunks(Trickle(data), 1000))  # type: ignore[arg-type]
    assert [len(c) for c in chunks] == [1000, 1000, 560]
    assert b"".join(chunks) == data


def test_cid_of_file_memory_is_flat(tmp_path: Path) -> None:
    # 40 MiB file (160 leaves): peak Python allocations stay around a few chunks.
    path = tmp_path / "big.bin"
    with open(path, "wb") as f:
        f.writelines(hashlib.shake_256(i.to_bytes(4, "big")).digest(K) for i in range(160))
    tracemalloc.start()
    try:
        cid_of_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * K, peak


def test_cid_fast_path_matches_multiformats_cid() -> None:
    for codec, block in [("raw", b""), ("raw", b"abc"), ("dag-pb", b"\x0a\x02\x08\x02")]:
        text, binary = _cid(codec, block)
        reference = CID("base32", 1, codec, multihash.digest(block, "sha2-256"))
        assert text == str(reference)
        assert binary == bytes(reference)


def test_invalid_parameters() -> None:
    with pytest.raises(ValueError, match="max_links"):
        cid_of_bytes(b"abc", max_links=1)
    with pytest.raises(ValueError, match="chunk_size"):
        list(iter_chunks(io.BytesIO(b"abc"), 0))
