"""tus uploads that lie: about their content (magic bytes), their size, or their file name.

Beyond tests/integration/test_studio_web.py (a text file, an audio file, a declared length over the
limit, one PATCH past the declared length): a PNG named .mp4, a forged MP4 header, an upload that grows
past its length over several PATCHes or a chunked body, malformed lengths, and file names that try to
escape the blob store.
"""

from __future__ import annotations

import base64
import os
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from injector import Injector

from core.db import Database
from core.di import get_port
from core.settings import Settings
from core.storage import BlobStorage
from features.studio.service import StudioService
from tests.support.studio import CreatedVideo, create_upload, create_video, sign_up_creator, tus_headers

OFFSET_STREAM = "application/offset+octet-stream"


def png() -> bytes:
    """A real (1×1) PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + (chunk(b"IEND", b""))
    )


async def patch(client: httpx.AsyncClient, location: str, content: object, offset: int = 0) -> httpx.Response:
    headers = tus_headers(client, **{"Upload-Offset": str(offset), "Content-Type": OFFSET_STREAM})
    return await client.patch(location, content=content, headers=headers)  # type: ignore[arg-type]


async def creator(client: httpx.AsyncClient, email: str) -> CreatedVideo:
    await sign_up_creator(client, email)
    return await create_video(client)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


async def test_a_png_named_mp4_and_a_forged_mp4_header_are_rejected_and_leave_no_bytes(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    await sign_up_creator(client, "sniff@example.com")
    storage = get_port(pg, BlobStorage)
    forged_mp4 = struct.pack(">I", 24) + b"ftypisom" + b"\x00\x00\x02\x00isomiso2" + os.urandom(4000)
    for title, data in [("Picture", png()), ("Forged", forged_mp4), ("Noise", os.urandom(3000))]:
        video = await create_video(client, title)
        headers = tus_headers(
            client,
            **{
                "Upload-Length": str(len(data)),
                "Upload-Metadata": f"video {b64(video.public_id.encode())},"
                f"filename {b64(b'holiday.mp4')},filetype {b64(b'video/mp4')}",
            },
        )
        created = await client.post("/uploads/", headers=headers)
        assert created.status_code == 201, created.text
        location = created.headers["location"]
        assert (await patch(client, location, data)).status_code == 204
        stored = await pg.get(StudioService).get_video(video.id)
        assert stored is not None
        assert stored.state.name == "REJECTED", title
        assert stored.failure_reason
        assert stored.source_key is None
        assert not await storage.exists(f"uploads/{location.rsplit('/', 1)[1]}")


async def test_an_upload_growing_past_its_declared_length_is_cut_off(client: httpx.AsyncClient, pg: Injector) -> None:
    video = await creator(client, "grow@example.com")
    location = (await create_upload(client, video, 1000)).headers["location"]
    assert (await patch(client, location, b"a" * 600)).status_code == 204
    over = await patch(client, location, b"b" * 600, offset=600)
    assert over.status_code == 413

    async def endless() -> AsyncIterator[bytes]:  # chunked: no Content-Length to judge by up front
        for _ in range(64):
            yield b"c" * 1024

    chunked = await patch(client, location, endless(), offset=600)
    assert chunked.status_code in (204, 413)
    storage = get_port(pg, BlobStorage)
    key = f"uploads/{location.rsplit('/', 1)[1]}"
    if await storage.exists(key):
        assert await storage.size(key) <= 1000
    head = await client.head(location, headers={"Tus-Resumable": "1.0.0"})
    if head.status_code == 200:
        assert int(head.headers["upload-offset"]) <= 1000


@pytest.mark.parametrize(
    ("length", "expected"),
    [("-1", 400), ("ten", 400), ("1e9", 400), ("", 400), (str(10**30), 413), ("0x10", 400)],
)
async def test_malformed_or_absurd_upload_lengths_are_refused_cleanly(
    client: httpx.AsyncClient, pg: Injector, length: str, expected: int
) -> None:
    video = await creator(client, f"len{abs(hash(length)) % 10**6}@example.com")
    headers = tus_headers(
        client, **{"Upload-Length": length, "Upload-Metadata": f"video {b64(video.public_id.encode())}"}
    )
    response = await client.post("/uploads/", headers=headers)
    assert response.status_code == expected
    assert await pg.get(Database).fetchval("SELECT count(*) FROM tus_uploads") == 0


async def test_a_declared_length_over_the_limit_is_refused_before_any_byte(
    client: httpx.AsyncClient, pg: Injector, settings: Settings
) -> None:
    video = await creator(client, "huge@example.com")
    response = await create_upload(client, video, settings.max_upload_bytes + 1)
    assert response.status_code == 413
    assert "location" not in response.headers
    assert await pg.get(Database).fetchval("SELECT count(*) FROM tus_uploads") == 0


TRAVERSAL_NAMES = [
    b"../../etc/passwd",
    b"../../../../../../../../tmp/hypha-escape.mp4",
    b"/etc/passwd",
    b"/tmp/hypha-absolute.mp4",
    b"..\\..\\windows\\win.ini",
    b"clip.mp4\x00.png",
    b"\x00",
    b"%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    b"uploads/../../escape.mp4",
    "名前\u202e4pm.exe".encode(),
    b"a" * 5000,
]


@pytest.mark.parametrize("name", TRAVERSAL_NAMES, ids=range(len(TRAVERSAL_NAMES)))
async def test_a_file_name_never_becomes_a_path(
    client: httpx.AsyncClient, pg: Injector, settings: Settings, name: bytes
) -> None:
    data_dir = settings.data_path.resolve()
    before_root, before_parent = tree(data_dir), set(os.listdir(data_dir.parent))
    passwd_before = Path("/etc/passwd").stat().st_mtime_ns
    video = await creator(client, "paths@example.com")
    payload = b"not a video at all\n" * 20
    headers = tus_headers(
        client,
        **{
            "Upload-Length": str(len(payload)),
            "Upload-Metadata": f"video {b64(video.public_id.encode())},filename {b64(name)}",
        },
    )
    created = await client.post("/uploads/", headers=headers)
    assert created.status_code in (201, 400), created.text
    if created.status_code == 201:
        location = created.headers["location"]
        upload_id = location.rsplit("/", 1)[1]
        assert upload_id.isalnum()
        written = await patch(client, location, payload[:100])
        assert written.status_code == 204
        new = tree(data_dir) - before_root
        assert new, "the bytes went somewhere"
        assert all(upload_id in path or not Path(data_dir, path).is_file() for path in new), new
        stored = await pg.get(Database).fetchval("SELECT filename FROM tus_uploads WHERE id = $1", upload_id)
        assert "\x00" not in stored
        assert len(stored) <= 255
        await client.delete(location, headers=tus_headers(client))
    for path in tree(data_dir) - before_root:
        assert "passwd" not in path
        assert "escape" not in path
        assert "win.ini" not in path
    assert set(os.listdir(data_dir.parent)) == before_parent
    assert not Path("/tmp/hypha-escape.mp4").exists()
    assert not Path("/tmp/hypha-absolute.mp4").exists()
    assert Path("/etc/passwd").stat().st_mtime_ns == passwd_before
