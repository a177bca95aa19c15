"""What the master playlist declares matches what is served (RFC 8216 §4.3.4.2), on real transcodes.

BANDWIDTH must be at least the peak segment bit rate of the variant as served — the sealed (AES-128,
PKCS#7-padded) segments, the audio rendition of its group included — and AVERAGE-BANDWIDTH, an average,
can never exceed it. Checked through HTTP, as a player fetches the files, with the `m3u8` parser.
"""

from __future__ import annotations

import httpx
import m3u8
import pytest
from injector import Injector

from core.identity import Principal
from core.settings import Settings
from core.web import SESSION_COOKIE
from tests.conftest import app_client
from tests.support.videos import person, session_token, transcode_video


async def served_peak_and_average(client: httpx.AsyncClient, base: str, playlist_uri: str) -> tuple[float, float]:
    """(max over segments of size*8/duration, total size*8/total duration) of a media playlist as served."""
    folder = playlist_uri.rsplit("/", 1)[0]
    playlist = m3u8.loads((await client.get(f"{base}/{playlist_uri}")).text)
    assert playlist.segments
    rates: list[float] = []
    total_bytes = 0
    total_seconds = 0.0
    for segment in playlist.segments:
        served = await client.get(f"{base}/{folder}/{segment.uri}")
        assert served.status_code == 200
        size = len(served.content)
        assert size % 16 == 0  # sealed: AES-128-CBC with PKCS#7 padding
        rates.append(size * 8 / segment.duration)
        total_bytes += size
        total_seconds += segment.duration
    return max(rates), total_bytes * 8 / total_seconds


@pytest.mark.parametrize("seconds", [4.0, 5.5])
async def test_declared_bandwidth_covers_the_sealed_segments_as_served(
    pg: Injector, settings: Settings, seconds: float
) -> None:
    creator: Principal = await person(pg, "Creator", creator=True)
    video = await transcode_video(pg, creator.id, seconds=seconds)
    base = f"/v/{video.public_id}/hls"
    async with app_client(pg, settings) as client:
        client.cookies.set(SESSION_COOKIE, await session_token(pg, creator))
        master = m3u8.loads((await client.get(f"{base}/master.m3u8")).text)
        audio = {m.group_id: m.uri for m in master.media if m.type == "AUDIO"}
        assert master.playlists
        for variant in master.playlists:
            info = variant.stream_info
            video_peak, video_average = await served_peak_and_average(client, base, variant.uri)
            audio_peak, audio_average = await served_peak_and_average(client, base, audio[info.audio])
            assert info.bandwidth >= video_peak + audio_peak, (variant.uri, info.bandwidth, video_peak, audio_peak)
            assert info.average_bandwidth is not None
            assert info.average_bandwidth <= info.bandwidth
            assert info.average_bandwidth >= video_average + audio_average - 2  # rounded up, never under
            assert info.average_bandwidth <= (video_average + audio_average) * 1.01 + 2  # and not padded either
