"""The studio over HTTP on real PostgreSQL: pages, who may do what, and the tus endpoint's answers."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import httpx
from injector import Injector

from core.db import Database
from core.di import get_port
from core.jobs import JobQueue
from core.settings import Settings
from core.storage import BlobStorage
from features.studio.service import StudioService
from tests.conftest import app_client
from tests.support.images import png_header, tiny_png
from tests.support.media import make_clip, make_tone
from tests.support.studio import TUS, create_upload, create_video, sign_up_creator, tus_headers
from tests.support.web import post_form, sign_up


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def upload_bytes(client: httpx.AsyncClient, location: str, data: bytes, offset: int = 0) -> httpx.Response:
    return await client.patch(
        location,
        content=data,
        headers=tus_headers(
            client, **{"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
        ),
    )


async def test_only_creators_open_the_studio(client: httpx.AsyncClient) -> None:
    anonymous = await client.get("/studio", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/login?next=/studio"
    await sign_up(client, "viewer@example.com")
    assert (await client.get("/studio")).status_code == 403
    assert 'href="/studio"' not in (await client.get("/me")).text
    await post_form(client, "/me/creator", {})
    page = await client.get("/studio")
    assert page.status_code == 200
    assert "No videos yet" in page.text
    assert 'sse-connect="/studio/events"' in page.text
    assert 'href="/studio"' in page.text  # the nav link


async def test_a_new_video_needs_a_title_and_then_shows_its_upload_panel(client: httpx.AsyncClient) -> None:
    await sign_up_creator(client, "ada@example.com")
    bad = await post_form(client, "/studio/videos", {"title": "  ", "description": "x"}, htmx=True)
    assert bad.status_code == 422
    assert "Give your video a title." in bad.text
    assert "<html" not in bad.text
    too_long = await post_form(client, "/studio/videos", {"title": "x" * 121}, htmx=True)
    assert too_long.status_code == 422
    assert "No videos yet" in (await client.get("/studio")).text

    video = await create_video(client, "Night trains")
    page = await client.get("/studio")
    assert "Night trains" in page.text
    assert f'id="video-{video.id}"' in page.text
    assert "Draft" in page.text
    plain = await post_form(client, "/studio/videos", {"title": "Plain form"})
    assert plain.status_code == 303
    assert plain.headers["location"].endswith("/upload")


async def test_tus_options_announce_the_protocol_and_the_size_limit(client: httpx.AsyncClient) -> None:
    response = await client.options("/uploads/")
    assert response.status_code == 204
    assert response.headers["tus-version"] == "1.0.0"
    assert response.headers["tus-resumable"] == "1.0.0"
    assert set(response.headers["tus-extension"].split(",")) == {"creation", "termination", "expiration"}
    assert int(response.headers["tus-max-size"]) == 4 * 1024**3


async def test_a_full_upload_over_http_is_queued_and_head_reports_the_offset(
    client: httpx.AsyncClient, pg: Injector, tmp_path: Path
) -> None:
    await sign_up_creator(client, "grace@example.com")
    video = await create_video(client)
    clip = make_clip(tmp_path / "clip.mp4", seconds=1.0).read_bytes()
    created = await create_upload(client, video, len(clip))
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert location.startswith("/uploads/")
    assert created.headers["tus-resumable"] == "1.0.0"

    first = await upload_bytes(client, location, clip[:1000])
    assert first.status_code == 204
    assert first.headers["upload-offset"] == "1000"
    head = await client.head(location, headers=TUS)
    assert head.status_code == 200
    assert (head.headers["upload-offset"], head.headers["upload-length"]) == ("1000", str(len(clip)))
    assert head.headers["cache-control"] == "no-store"

    rest = await upload_bytes(client, location, clip[1000:], offset=1000)
    assert rest.status_code == 204
    assert rest.headers["upload-offset"] == str(len(clip))
    stored = await pg.get(StudioService).get_video(video.id)
    assert stored is not None
    assert stored.state.name == "UPLOADED"
    assert stored.src_meta is not None
    assert stored.src_meta["video_codec"] == "h264"
    assert stored.source_key is not None
    assert await get_port(pg, BlobStorage).size(stored.source_key) == len(clip)
    jobs = await pg.get(Database).fetch("SELECT key, job FROM saq_jobs")
    assert [r["key"] for r in jobs] == [f"transcode:{video.id}"]
    done = await client.head(location, headers=TUS)  # a finished upload still answers, until it expires
    assert done.status_code == 200
    assert done.headers["upload-offset"] == done.headers["upload-length"] == str(len(clip))


async def test_a_wrong_offset_is_a_409_and_changes_nothing(client: httpx.AsyncClient) -> None:
    await sign_up_creator(client, "linus@example.com")
    video = await create_video(client)
    location = (await create_upload(client, video, 5000)).headers["location"]
    assert (await upload_bytes(client, location, b"a" * 100)).status_code == 204
    conflict = await upload_bytes(client, location, b"b" * 100, offset=0)
    assert conflict.status_code == 409
    assert (await client.head(location, headers=TUS)).headers["upload-offset"] == "100"
    wrong_type = await client.patch(
        location,
        content=b"c",
        headers=tus_headers(client, **{"Upload-Offset": "100", "Content-Type": "application/octet-stream"}),
    )
    assert wrong_type.status_code == 415


async def test_a_declared_length_over_the_limit_is_a_413(client: httpx.AsyncClient, settings: Settings) -> None:
    await sign_up_creator(client, "big@example.com")
    video = await create_video(client)
    response = await create_upload(client, video, settings.max_upload_bytes + 1)
    assert response.status_code == 413
    assert response.headers["tus-max-size"] == str(settings.max_upload_bytes)


async def test_bytes_past_the_declared_length_are_refused(client: httpx.AsyncClient) -> None:
    await sign_up_creator(client, "over@example.com")
    video = await create_video(client)
    location = (await create_upload(client, video, 100)).headers["location"]
    response = await upload_bytes(client, location, b"z" * 150)
    assert response.status_code == 413


async def test_a_wrong_tus_version_is_a_412(client: httpx.AsyncClient) -> None:
    await sign_up_creator(client, "old@example.com")
    video = await create_video(client)
    headers = tus_headers(client, **{"Upload-Length": "10", "Tus-Resumable": "0.2.2"})
    response = await client.post("/uploads/", headers=headers)
    assert response.status_code == 412
    assert response.headers["tus-version"] == "1.0.0"
    missing = {k: v for k, v in tus_headers(client, **{"Upload-Length": "10"}).items() if k != "Tus-Resumable"}
    assert (await client.post("/uploads/", headers=missing)).status_code == 412
    good = tus_headers(client, **{"Upload-Length": "10", "Upload-Metadata": f"video {b64(video.public_id)}"})
    assert (await client.post("/uploads/", headers=good)).status_code == 201


async def test_uploads_need_the_csrf_header(client: httpx.AsyncClient) -> None:
    await sign_up_creator(client, "csrf@example.com")
    video = await create_video(client)
    headers = {**TUS, "Upload-Length": "10", "Upload-Metadata": f"video {b64(video.public_id)}"}
    assert (await client.post("/uploads/", headers=headers)).status_code == 403


async def test_strangers_cannot_touch_an_upload(client: httpx.AsyncClient, pg: Injector, settings: Settings) -> None:
    await sign_up_creator(client, "owner@example.com")
    video = await create_video(client)
    location = (await create_upload(client, video, 5000)).headers["location"]

    async with app_client(pg, settings) as other:
        assert (await create_upload_as_anonymous(other, video.public_id)).status_code == 401
        assert (await other.head(location, headers=TUS)).status_code == 401
        await sign_up(other, "viewer2@example.com")
        assert (await create_upload(other, video, 10)).status_code == 403
        assert (await other.head(location, headers=TUS)).status_code == 403
        await post_form(other, "/me/creator", {})
        assert (await create_upload(other, video, 10)).status_code == 404
        assert (await other.head(location, headers=TUS)).status_code == 404
        assert (await upload_bytes(other, location, b"x" * 10)).status_code == 404
        assert (await other.delete(location, headers=tus_headers(other))).status_code == 404
        assert (await other.get(f"/studio/videos/{video.id}/tile")).status_code == 404
        retry = await post_form(other, f"/studio/videos/{video.id}/retry", {}, htmx=True)
        assert retry.status_code == 404
    assert (await client.head(location, headers=TUS)).headers["upload-offset"] == "0"


async def create_upload_as_anonymous(client: httpx.AsyncClient, public_id: str) -> httpx.Response:
    await client.get("/login")
    headers = tus_headers(client, **{"Upload-Length": "10", "Upload-Metadata": f"video {b64(public_id)}"})
    return await client.post("/uploads/", headers=headers)


async def test_termination_deletes_the_bytes_and_returns_the_video_to_draft(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    await sign_up_creator(client, "quit@example.com")
    video = await create_video(client)
    location = (await create_upload(client, video, 5000)).headers["location"]
    await upload_bytes(client, location, b"a" * 2000)
    key = f"uploads/{location.rsplit('/', 1)[1]}"
    storage = get_port(pg, BlobStorage)
    assert await storage.exists(key)
    deleted = await client.delete(location, headers=tus_headers(client))
    assert deleted.status_code == 204
    assert not await storage.exists(key)
    assert (await client.head(location, headers=TUS)).status_code == 404
    stored = await pg.get(StudioService).get_video(video.id)
    assert stored is not None
    assert stored.state.name == "DRAFT"


async def test_a_text_file_and_an_audio_file_are_rejected_and_leave_no_bytes(
    client: httpx.AsyncClient, pg: Injector, tmp_path: Path
) -> None:
    await sign_up_creator(client, "reject@example.com")
    storage = get_port(pg, BlobStorage)
    queue = get_port(pg, JobQueue)
    for title, data, reason in [
        ("Notes", b"Dear diary, this is not a video.\n" * 50, "not a video"),
        ("Song", make_tone(tmp_path / "tone.m4a").read_bytes(), "video"),
    ]:
        video = await create_video(client, title)
        location = (await create_upload(client, video, len(data))).headers["location"]
        assert (await upload_bytes(client, location, data)).status_code == 204
        stored = await pg.get(StudioService).get_video(video.id)
        assert stored is not None
        assert stored.state.name == "REJECTED"
        assert reason in (stored.failure_reason or "").lower()
        assert not await storage.exists(f"uploads/{location.rsplit('/', 1)[1]}")
        tile = await client.get(f"/studio/videos/{video.id}/tile")
        assert "Rejected" in tile.text
        assert (stored.failure_reason or "")[:20] in tile.text
    assert queue is not None


async def test_subtitles_and_a_cover_are_checked_and_attached(client: httpx.AsyncClient, pg: Injector) -> None:
    await sign_up_creator(client, "subs@example.com")
    video = await create_video(client)
    token = client.cookies.get("csrftoken") or ""
    headers = {"x-csrftoken": token, "hx-request": "true"}
    bad = await client.post(
        f"/studio/videos/{video.id}/subtitles",
        data={"language": "en"},
        files={"file": ("notes.srt", b"not subtitles at all", "application/x-subrip")},
        headers=headers,
    )
    assert bad.status_code == 422
    assert "SRT or WebVTT" in bad.text
    good = await client.post(
        f"/studio/videos/{video.id}/subtitles",
        data={"language": "fr", "label": "Français"},
        files={"file": ("../../etc/passwd", b"1\n00:00:00,000 --> 00:00:01,000\nBonjour\n", "text/plain")},
        headers=headers,
    )
    assert good.status_code == 200
    assert "Français" in good.text
    stored = await pg.get(StudioService).get_video(video.id)
    assert stored is not None
    assert [(s.key, s.format) for s in stored.subtitle_sources] == [(f"subtitles/{video.id}/fr.srt", "srt")]

    gif = await client.post(
        f"/studio/videos/{video.id}/cover",
        files={"file": ("cover.png", b"GIF89a" + b"\0" * 20, "image/png")},
        headers=headers,
    )
    assert gif.status_code == 422
    assert "JPEG or PNG" in gif.text
    for damaged, says in (
        (png_header(640, 360), "cannot be read"),  # a header without its pixels
        (tiny_png()[:60], "cannot be read"),  # cut short
        (png_header(100_000, 100_000) + tiny_png()[33:], "at most 8,000 pixels"),  # refused before decoding
    ):
        refused = await client.post(
            f"/studio/videos/{video.id}/cover", files={"file": ("x.png", damaged, "image/png")}, headers=headers
        )
        assert refused.status_code == 422
        assert says in refused.text
    assert (await client.get(f"/studio/videos/{video.id}/cover")).status_code == 404  # none was kept
    png = tiny_png()
    ok = await client.post(
        f"/studio/videos/{video.id}/cover", files={"file": ("x.png", png, "image/png")}, headers=headers
    )
    assert ok.status_code == 200
    cover = await client.get(f"/studio/videos/{video.id}/cover")
    assert cover.status_code == 200
    assert cover.headers["content-type"] == "image/png"
    assert cover.content == png


async def test_the_studio_pages_through_many_videos_newest_first(client: httpx.AsyncClient, pg: Injector) -> None:
    await sign_up_creator(client, "prolific@example.com")
    studio = pg.get(StudioService)
    first = await create_video(client, "Video 00")
    owner_id = (await studio.get_video(first.id)).owner_id  # type: ignore[union-attr]
    for n in range(1, 30):
        await studio.create_video(owner_id, f"Video {n:02d}")

    newest = await client.get("/studio")
    titles = list(dict.fromkeys(re.findall(r"Video \d\d", newest.text)))  # a tile names its video more than once
    assert titles[:2] == ["Video 29", "Video 28"]
    assert len(set(titles)) == 24
    assert 'data-testid="older"' in newest.text
    assert 'data-testid="newer"' not in newest.text

    older = await client.get("/studio?page=2")
    assert sorted(set(re.findall(r"Video \d\d", older.text))) == [f"Video {n:02d}" for n in range(6)]
    assert 'data-testid="newer"' in older.text
    assert 'data-testid="older"' not in older.text

    beyond = await client.get("/studio?page=9")
    assert beyond.status_code == 200
    assert "No videos on this page" in beyond.text
    assert (await client.get("/studio?page=0")).status_code == 400
    assert (await client.get("/studio?page=abc")).status_code == 400
