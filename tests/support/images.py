"""Small real pictures for tests, written in Python (zlib): covers are decoded when uploaded."""

from __future__ import annotations

import struct
import zlib


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header(width: int, height: int) -> bytes:
    """A PNG's signature and IHDR chunk (8-bit RGB) — a picture's header without its pixels."""
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))


def tiny_png(width: int = 4, height: int = 3, colour: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    """A complete PNG of one colour that any decoder reads."""
    row = b"\x00" + bytes(colour) * width  # filter type 0, then the row's pixels
    return png_header(width, height) + _chunk(b"IDAT", zlib.compress(row * height)) + _chunk(b"IEND", b"")
