"""Videos for unlock and playback tests: people, points, and playable videos.

`add_synthetic_video` publishes a small hand-made AES-128 HLS (master, a video and an audio rendition,
English subtitles) through the real ports — ContentStore, KeyStore, VideoRepository — in milliseconds,
on memory or PostgreSQL injectors alike. `transcode_video` runs the real studio + pipeline on a clip.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from injector import Injector

from core.clock import Clock
from core.di import get_port
from core.identity import Principal
from core.ids import public_id, uuid7
from core.settings import Settings
from features.accounts.service import AccountService
from features.ledger.model import AccountRef, Leg
from features.ledger.service import LedgerService
from features.pipeline.model import VideoKey
from features.pipeline.ports import ContentStore, KeyStore
from features.studio.model import Video, VideoState
from features.studio.ports import VideoRepository
from features.studio.service import StudioService
from features.unlocks.model import Offer
from features.unlocks.service import PricingService
from tests.support.media import make_clip

PASSWORD = "correct horse battery"


async def person(injector: Injector, name: str, *, creator: bool = False, verified: bool = True) -> Principal:
    """A signed-up person; `verified` (the default, for tests not about verification) confirms the address."""
    accounts = injector.get(AccountService)
    handle = "".join(ch for ch in name.lower() if ch.isalnum()) or "someone"
    user = await accounts.sign_up(f"{handle}-{secrets.token_hex(3)}@example.com", PASSWORD, name)
    if verified:
        user = await accounts.mark_email_verified(user.id)
    if creator:
        user = await accounts.become_creator(user.id)
    return user.principal()


async def fund(injector: Injector, user_id: UUID, points: int) -> None:
    """Points bought from the payment vendor, as the wallet feature records a pack purchase."""
    await injector.get(LedgerService).transfer(
        f"test-purchase:{uuid7()}", "purchase", [Leg(AccountRef.vendor_clearing(), AccountRef.wallet(user_id), points)]
    )


async def balances(injector: Injector, viewer_id: UUID, creator_id: UUID) -> tuple[int, int, int]:
    """(viewer wallet, creator earnings, platform revenue)."""
    ledger = injector.get(LedgerService)
    found = await ledger.balances(
        [AccountRef.wallet(viewer_id), AccountRef.earnings(creator_id), AccountRef.platform_revenue()]
    )
    return tuple(found.values())  # type: ignore[return-value]


@dataclass
class SyntheticVideo:
    video: Video
    key: VideoKey
    clear: dict[str, bytes] = field(default_factory=dict)  # segment path → bytes before encryption
    published: dict[str, bytes] = field(default_factory=dict)  # manifest path → bytes as published


def _encrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padder.update(data) + padder.finalize()) + encryptor.finalize()


async def add_synthetic_video(
    injector: Injector,
    owner_id: UUID,
    *,
    title: str = "Tides at dawn",
    segments: int = 3,
    segment_seconds: float = 4.0,
    state: VideoState = VideoState.READY,
    subtitles: Mapping[str, str | bytes] | None = None,
) -> SyntheticVideo:
    """A READY (or `state`) video whose published HLS holds `segments` encrypted segments per track.

    `subtitles` maps a language to a WebVTT document (default: English, one cue), each published as one
    WebVTT file spanning the whole video (`subs/<language>.vtt`), as the pipeline publishes them."""
    video_id, pid = uuid7(), public_id()
    key = await get_port(injector, KeyStore).ensure(
        str(video_id), VideoKey(secrets.token_bytes(16), secrets.token_bytes(16))
    )
    files: dict[str, bytes] = {}
    clear: dict[str, bytes] = {}
    counter = 0
    for track in ("480p", "audio"):
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:6",
            f"#EXT-X-TARGETDURATION:{int(segment_seconds)}",
            "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-PLAYLIST-TYPE:VOD",
        ]
        for index in range(segments):
            iv = ((int.from_bytes(key.iv, "big") + counter) % (1 << 128)).to_bytes(16, "big")
            counter += 1
            name = f"seg_{index:05d}.ts"
            data = b"\x47" + f"{track} segment {index} {video_id}".encode() * 40
            clear[f"{track}/{name}"] = data
            files[f"{track}/{name}"] = _encrypt(data, key.key, iv)
            lines += [
                f'#EXT-X-KEY:METHOD=AES-128,URI="/v/{pid}/key",IV=0x{iv.hex()}',
                f"#EXTINF:{segment_seconds:.6f},",
            ]
            lines.append(name)
        lines.append("#EXT-X-ENDLIST")
        files[f"{track}/index.m3u8"] = ("\n".join(lines) + "\n").encode()
    duration = segments * segment_seconds
    tracks = subtitles if subtitles is not None else {"en": "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nHello\n"}
    master = ["#EXTM3U", "#EXT-X-VERSION:4"]
    master.append(
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Original",DEFAULT=YES,AUTOSELECT=YES,URI="audio/index.m3u8"'
    )
    for index, (language, vtt) in enumerate(tracks.items()):
        files[f"subs/{language}.vtt"] = vtt.encode()
        files[f"subs/{language}.m3u8"] = (
            f"#EXTM3U\n#EXT-X-TARGETDURATION:{int(duration)}\n#EXT-X-PLAYLIST-TYPE:VOD\n"
            f"#EXTINF:{duration:.3f},\n{language}.vtt\n#EXT-X-ENDLIST\n"
        ).encode()
        name = "English" if language == "en" else language
        master.append(
            f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="{name}",LANGUAGE="{language}",'
            f'DEFAULT={"YES" if index == 0 else "NO"},AUTOSELECT=YES,URI="subs/{language}.m3u8"'
        )
    master += [
        '#EXT-X-STREAM-INF:BANDWIDTH=500000,RESOLUTION=854x480,CODECS="avc1.4d401f,mp4a.40.2",AUDIO="audio",'
        'SUBTITLES="subs"',
        "480p/index.m3u8",
    ]
    files["master.m3u8"] = ("\n".join(master) + "\n").encode()
    files["cover.jpg"] = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 16 + b"\xff\xd9"
    content = get_port(injector, ContentStore)
    manifest: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path, data in files.items():
            local = Path(tmp) / path.replace("/", "_")
            local.write_bytes(data)
            manifest[path] = await content.put_file(local)
    now = get_port(injector, Clock).now()
    video = Video(
        id=video_id,
        public_id=pid,
        owner_id=owner_id,
        title=title,
        description="The sea at first light.\nFilmed in one take.",
        state=state,
        created_at=now,
        updated_at=now,
        playlist=manifest["master.m3u8"],
        manifest=manifest,
        video_tracks=[
            {"name": "480p", "width": 854, "height": 480, "bandwidth": 500_000, "playlist": "480p/index.m3u8"}
        ],
        audio_tracks=[{"name": "Original", "language": "und", "playlist": "audio/index.m3u8"}],
        subtitle_tracks=[
            {
                "language": language,
                "label": "English" if language == "en" else language,
                "playlist": f"subs/{language}.m3u8",
            }
            for language in tracks
        ],
        fallback_cover_image=manifest["cover.jpg"],
        duration=duration,
    )
    await get_port(injector, VideoRepository).add(video)
    return SyntheticVideo(video, key, clear, files)


async def price_and_publish(
    injector: Injector,
    owner_id: UUID,
    video: Video,
    *,
    free: bool = False,
    rent_day: int | None = 50,
    rent_month: int | None = 200,
    lifetime: int | None = 500,
    preview: int = 0,
) -> Video:
    pricing = injector.get(PricingService)
    prices = {
        Offer.RENT_DAY: "" if rent_day is None else str(rent_day),
        Offer.RENT_MONTH: "" if rent_month is None else str(rent_month),
        Offer.LIFETIME: "" if lifetime is None else str(lifetime),
    }
    await pricing.set_prices(owner_id, video.public_id, free=free, prices=prices, preview=str(preview))
    return await pricing.publish(owner_id, video.public_id)


async def _chunks(data: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def transcode_video(
    injector: Injector,
    owner_id: UUID,
    *,
    title: str = "A tone and bars",
    seconds: float = 4.0,
    subtitles: Mapping[str, str | bytes] | None = None,
    clip: Callable[[Path], Path] | None = None,
) -> Video:
    """A READY video made by the real studio and pipeline from a lavfi clip with a tone (and `subtitles`:
    language → SRT or WebVTT text or file bytes, attached before the upload as a creator would); `clip` makes another
    source file (it is given the path to write, and returns the file it wrote)."""
    studio = injector.get(StudioService)
    video = await studio.create_video(owner_id, title, "Test bars and a 440 Hz tone.")
    for language, text in (subtitles or {}).items():
        data = text if isinstance(text, bytes) else text.encode()
        await studio.add_subtitle(owner_id, video.id, data, language, language.upper())
    with tempfile.TemporaryDirectory() as tmp:
        if clip is None:
            made = make_clip(Path(tmp) / "clip.mp4", width=320, height=240, seconds=seconds, tone=True)
        else:
            made = clip(Path(tmp) / "clip.mp4")
        data = made.read_bytes()
    upload = await studio.create_upload(owner_id, video.public_id, len(data), "clip.mp4")
    await studio.receive(owner_id, upload.id, 0, _chunks(data), len(data))
    done = await studio.process(video.id)
    assert done is not None, "the uploaded clip was not accepted"
    assert done.state is VideoState.READY, done.failure_reason
    return done


async def session_token(injector: Injector, who: Principal) -> str:
    """A logged-in session for `who`, as the log-in page would open it (set it as the hypha_session cookie)."""
    accounts = injector.get(AccountService)
    user = await accounts.get_user(who.id)
    assert user is not None
    return await accounts.open_session(user)


async def staff_person(injector: Injector, name: str = "Stella Staff") -> Principal:
    """A user with the staff flag (set in the database: no page grants it)."""
    from core.db import Database

    who = await person(injector, name)
    await injector.get(Database).execute("UPDATE users SET is_staff = true WHERE id = $1", who.id)
    return who


async def openapi_document(injector: Injector, settings: Settings) -> dict[str, Any]:
    """The app's OpenAPI document, fetched as staff (the document and its viewers are for staff only)."""
    from core.web import SESSION_COOKIE
    from tests.conftest import app_client

    token = await session_token(injector, await staff_person(injector, "Schema Reader"))
    async with app_client(injector, settings) as staff:
        staff.cookies.set(SESSION_COOKIE, token)
        response = await staff.get("/api/schema/openapi.json")
    assert response.status_code == 200, response.text[:300]
    document: dict[str, Any] = response.json()
    return document
