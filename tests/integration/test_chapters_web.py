"""Chapters over HTTP on real PostgreSQL: the studio form (422 with the reason, nothing stored), the
video page's chapter links, the chapters track, and chapters read from the description."""

from __future__ import annotations

from dataclasses import replace

from injector import Injector

from core.db import Database
from core.di import get_port
from core.settings import Settings
from core.web import SESSION_COOKIE
from features.studio.ports import VideoRepository
from tests.conftest import app_client
from tests.support.videos import add_synthetic_video, person, price_and_publish, session_token
from tests.support.web import csrf_token, post_form


async def rows(pg: Injector) -> list[tuple[int, int, str]]:
    found = await pg.get(Database).fetch("SELECT position, at_seconds, title FROM video_chapters ORDER BY 1")
    return [(r["position"], r["at_seconds"], r["title"]) for r in found]


async def test_a_creator_sets_chapters_with_inline_errors_and_viewers_get_links_and_a_track(
    pg: Injector, settings: Settings
) -> None:
    creator = await person(pg, "Chapter creator", creator=True)
    synthetic = await add_synthetic_video(pg, creator.id, segments=10)  # 40 s
    video = await price_and_publish(pg, creator.id, synthetic.video, free=True)
    path = f"/studio/videos/{video.id}/chapters"
    async with app_client(pg, settings) as owner:
        owner.cookies.set(SESSION_COOKIE, await session_token(pg, creator))
        page = await owner.get(path)
        assert page.status_code == 200
        assert 'name="chapters"' in page.text
        assert "YouTube" in page.text  # the description rule is documented on the page
        refused = {
            "0:00 Intro\n0:40 Too late": "the video is only 0:40 long",
            "0:00 Intro\n0:20 B\n0:10 C": "list the chapters in time order",
            "0:00 Intro\n0:00 Again": "two chapters cannot start at the same time",
            "0:00 " + "x" * 101: "keep the title to 100 characters",
            "Intro at the start": "start with a time",
        }
        for text, reason in refused.items():
            answer = await post_form(owner, path, {"chapters": text}, htmx=True)
            assert answer.status_code == 422, text
            assert reason in answer.text
            assert "<html" not in answer.text  # the form again, in place
            assert 'aria-invalid="true"' in answer.text
            assert text.split("\n")[0][:20] in answer.text  # what was typed is kept
        plain = await post_form(owner, path, {"chapters": "0:00 A\n0:00 B"})
        assert plain.status_code == 422
        assert "<html" in plain.text
        assert await rows(pg) == []
        saved = await post_form(owner, path, {"chapters": "0:00 Intro\n0:12 The <middle>\n0:30 End"}, htmx=True)
        assert saved.status_code == 200
        assert "Chapters saved." in saved.text
        assert await rows(pg) == [(0, 0, "Intro"), (1, 12, "The <middle>"), (2, 30, "End")]
        done = await post_form(owner, path, {"chapters": "0:00 Intro\n0:15 Middle"})
        assert done.status_code == 303
        assert await rows(pg) == [(0, 0, "Intro"), (1, 15, "Middle")]

        stranger = await person(pg, "Other creator", creator=True)
        owner.cookies.set(SESSION_COOKIE, await session_token(pg, stranger))
        assert (await owner.get(path)).status_code == 404
        assert (await post_form(owner, path, {"chapters": "0:00 Mine"})).status_code == 404
        assert await rows(pg) == [(0, 0, "Intro"), (1, 15, "Middle")]

    async with app_client(pg, settings) as visitor:
        await csrf_token(visitor, "/login")
        watch = await visitor.get(f"/v/{video.public_id}")
        assert watch.status_code == 200
        assert f'href="/v/{video.public_id}?t=15" data-seek="15"' in watch.text
        assert 'kind="chapters"' in watch.text
        track = await visitor.get(f"/v/{video.public_id}/chapters.vtt")
        assert track.status_code == 200
        assert track.headers["content-type"].startswith("text/vtt")
        assert track.text == (
            "WEBVTT\n\nchapter-1\n00:00:00.000 --> 00:00:15.000\nIntro\n\n"
            "chapter-2\n00:00:15.000 --> 00:00:40.000\nMiddle\n"
        )
        assert (await visitor.post(path, data={"chapters": "0:00 X"})).status_code in (401, 403)
        assert (await visitor.get("/v/nope/chapters.vtt")).status_code == 404


async def test_without_chapters_of_its_own_a_video_takes_those_its_description_lists(
    pg: Injector, settings: Settings
) -> None:
    creator = await person(pg, "Description creator", creator=True)
    synthetic = await add_synthetic_video(pg, creator.id, segments=15)  # 60 s
    videos = get_port(pg, VideoRepository)
    await videos.save(replace(synthetic.video, description="Hello.\n0:00 Start\n0:20 Middle\n0:45 Finale\nBye."))
    video = await price_and_publish(pg, creator.id, synthetic.video, lifetime=100)  # paid: chapters stay public
    async with app_client(pg, settings) as visitor:
        await csrf_token(visitor, "/login")
        watch = await visitor.get(f"/v/{video.public_id}")
        assert 'data-testid="locked"' in watch.text
        assert watch.text.count('data-testid="chapter-link"') == 3
        track = (await visitor.get(f"/v/{video.public_id}/chapters.vtt")).text
        assert track.count("-->") == 3
        assert "00:00:45.000 --> 00:01:00.000\nFinale" in track
    async with app_client(pg, settings) as owner:
        owner.cookies.set(SESSION_COOKIE, await session_token(pg, creator))
        page = await owner.get(f"/studio/videos/{video.id}/chapters")
        assert "Read from the description." in page.text
        await post_form(owner, f"/studio/videos/{video.id}/chapters", {"chapters": "0:00 Only one"}, htmx=True)
        assert (await owner.get(f"/v/{video.public_id}/chapters.vtt")).text.count("-->") == 1
        cleared = await post_form(owner, f"/studio/videos/{video.id}/chapters", {"chapters": ""}, htmx=True)
        assert cleared.status_code == 200
        assert (await owner.get(f"/v/{video.public_id}/chapters.vtt")).text.count("-->") == 3
