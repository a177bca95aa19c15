"""CARv1 (https://ipld.io/specs/transport/car/carv1/), the file `ipfs dag import` reads.

A CAR is a header — varint length, then the DAG-CBOR map ``{"roots": [CID...], "version": 1}`` —
followed by one section per block: varint(len(CID bytes) + len(block)), the binary CID, the block.
The header is written by hand (its shape never changes): DAG-CBOR sorts map keys by length then
bytes ("roots" before "version") and writes a CID as tag 42 over a byte string of 0x00 + the CID.
"""

from __future__ import annotations

from collections.abc import Sequence

from multiformats import multibase, varint

__all__ = ["car_block", "car_header"]


def _cbor_head(major: int, value: int) -> bytes:
    """A CBOR item head, in the shortest form (as DAG-CBOR requires)."""
    if value < 24:
        return bytes([major << 5 | value])
    for extra, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * size):
            return bytes([major << 5 | extra]) + value.to_bytes(size, "big")
    raise ValueError("CBOR length too large")


def _cbor_text(text: str) -> bytes:
    data = text.encode("utf-8")
    return _cbor_head(3, len(data)) + data


def _cbor_cid(cid: str) -> bytes:
    link = b"\x00" + multibase.decode(cid)
    return _cbor_head(6, 42) + _cbor_head(2, len(link)) + link


def car_header(roots: Sequence[str]) -> bytes:
    """The CARv1 header naming `roots` (CIDv1 strings, at least one)."""
    if not roots:
        raise ValueError("a CAR names at least one root")
    body = _cbor_head(5, 2) + _cbor_text("roots") + _cbor_head(4, len(roots))
    body += b"".join(_cbor_cid(root) for root in roots)
    body += _cbor_text("version") + _cbor_head(0, 1)
    return varint.encode(len(body)) + body


def car_block(cid: str, data: bytes) -> bytes:
    """One block section: its length, its binary CID, its bytes."""
    binary = multibase.decode(cid)
    return varint.encode(len(binary) + len(data)) + binary + data
