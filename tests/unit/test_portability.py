"""Portability's pure parts and its service on the in-memory adapters: the IPFS copy's key URL, the CAR
header, the gateway setting and CSP, stored roots following the manifest, and who may export what."""

from __future__ import annotations

import pytest
from injector import Injector
from multiformats import multibase, varint

from core.di import get_port
from core.settings import SettingsError, load_settings
from core.web import CSP, csp_for
from features.pipeline.hls import with_key_url
from features.portability.car import car_block, car_header
from features.portability.model import NothingToExport
from features.portability.ports import RootRepository
from features.portability.service import PortabilityService
from features.studio.model import VideoNotFound, VideoState
from features.studio.ports import VideoRepository
from tests.support.videos import add_synthetic_video, person

ROOT = "bafybeihc3vvszetjbyfwa2iomp2dpkjd3pnersegrnvqdolug3mj6rlxkq"

PLAYLIST = (
    "#EXTM3U\n#EXT-X-VERSION:6\n"
    '#EXT-X-KEY:METHOD=AES-128,URI="/v/abc/key",IV=0x000102\n#EXTINF:4.000000,\nseg_00000.ts\n'
    '#EXT-X-KEY:METHOD=AES-128,URI="/v/abc/key",IV=0x000103\n#EXTINF:4.000000,\nseg_00001.ts\n'
    "#EXT-X-ENDLIST\n"
)


def test_the_ipfs_copy_names_the_key_by_its_absolute_url_and_changes_nothing_else() -> None:
    copy = with_key_url(PLAYLIST, "https://hypha.example/v/abc/key")
    assert copy == PLAYLIST.replace('URI="/v/abc/key"', 'URI="https://hypha.example/v/abc/key"')
    assert copy.count("https://hypha.example/v/abc/key") == 2
    assert with_key_url("#EXTM3U\nseg.ts\n", "https://x/key") == "#EXTM3U\nseg.ts\n"
    with pytest.raises(ValueError, match="cannot quote"):
        with_key_url(PLAYLIST, 'https://x/"key')


def test_the_car_header_is_the_dag_cbor_map_of_roots_and_version() -> None:
    header = car_header([ROOT])
    length, size = varint.decode_raw(header)[:2]
    body = header[size:]
    assert length == len(body)
    cid = multibase.decode(ROOT)
    # {"roots": [CID], "version": 1}: map(2), "roots", array(1), tag 42, bytes(0x00 + CID), "version", 1
    assert body == b"\xa2eroots\x81\xd8\x2a\x58" + bytes([len(cid) + 1]) + b"\x00" + cid + b"gversion\x01"
    assert car_block(ROOT, b"data") == varint.encode(len(cid) + 4) + cid + b"data"
    with pytest.raises(ValueError, match="at least one root"):
        car_header([])


@pytest.mark.parametrize(
    "value",
    ["ftp://gw.example", "gw.example", "https://", "https://gw.example/?x=1", "https://gw.example/#top", "https://g w"],
)
def test_a_bad_gateway_url_stops_start_up(value: str) -> None:
    with pytest.raises(SettingsError, match="IPFS_GATEWAY_URL"):
        load_settings({"IPFS_GATEWAY_URL": value})


def test_the_gateway_origin_is_allowed_in_connect_src_only_when_set() -> None:
    assert load_settings({"IPFS_GATEWAY_URL": "https://gw.example:8443/base"}).ipfs_gateway_url
    assert csp_for("") == CSP
    assert "connect-src 'self' https://gw.example:8443;" in csp_for("https://gw.example:8443/base")
    assert csp_for("https://gw.example").count("gw.example") == 1


async def test_the_stored_root_follows_the_manifest(memory: Injector) -> None:
    creator = await person(memory, "Creator", creator=True)
    made = await add_synthetic_video(memory, creator.id)
    portability = memory.get(PortabilityService)
    root = await portability.root_of(made.video)
    stored = await get_port(memory, RootRepository).get_many([made.video.id])
    assert stored[made.video.id].root_cid == root
    assert await portability.root_of(made.video) == root  # read back, not recomputed
    [entry] = await portability.library(creator.id)
    assert (entry.title, entry.root_cid) == (made.video.title, root)

    # A file more (a subtitle added later, a sprite …): another root, stored in place of the first.
    made.video.manifest = {**made.video.manifest, "subs/extra.vtt": made.video.manifest["subs/en.vtt"]}
    await get_port(memory, VideoRepository).save(made.video)
    changed = await portability.root_of(made.video)
    assert changed != root
    assert (await get_port(memory, RootRepository).get_many([made.video.id]))[made.video.id].root_cid == changed


async def test_only_the_owner_exports_and_only_what_plays(memory: Injector) -> None:
    creator = await person(memory, "Creator", creator=True)
    other = await person(memory, "Other", creator=True)
    made = await add_synthetic_video(memory, creator.id)
    converting = await add_synthetic_video(memory, creator.id, state=VideoState.CONVERTING)
    portability = memory.get(PortabilityService)
    with pytest.raises(VideoNotFound):
        await portability.car(other.id, made.video.id)
    with pytest.raises(NothingToExport):
        await portability.car(creator.id, converting.video.id)
    with pytest.raises(NothingToExport):
        await portability.car(other.id)  # nothing of theirs
    export = await portability.car(creator.id)
    assert export.filename == "hypha-library.car"
    assert len(export.roots) == 1
    assert [e.video_id for e in await portability.library(creator.id)] == [made.video.id]
