"""A video's chapters in the studio: GET shows the form, POST saves them (422 with the form again and
the reason beside it when a line breaks a rule; nothing changes then)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Template

from core.auth import creator_required
from core.web import flash, inject, page_or_fragment, redirect, wants_fragment
from features.studio.controller.base import signed_in
from features.studio.dto import ChaptersForm
from features.studio.model import Video
from features.studio.model.chapters import (
    CHAPTERS_MAX,
    DESCRIPTION_MIN,
    DESCRIPTION_MIN_LENGTH,
    TITLE_MAX,
    Chapter,
    InvalidChapters,
    chapters_text,
)
from features.studio.service.chapters import ChapterService, VideoChapters

PAGE = "studio/chapters.html"
FORM = "studio/_chapters_form.html"
NO_STORE = {"Cache-Control": "no-store"}


def _context(
    video: Video, text: str, errors: dict[str, str], shown: VideoChapters, saved: bool = False
) -> dict[str, Any]:
    return {
        "video": video,
        "form": {"chapters": text},
        "errors": errors,
        "shown": shown,
        "saved": saved,
        "rules": {
            "title_max": TITLE_MAX,
            "chapters_max": CHAPTERS_MAX,
            "description_min": DESCRIPTION_MIN,
            "description_min_length": DESCRIPTION_MIN_LENGTH,
        },
    }


class ChaptersController(Controller):
    path = "/studio/videos/{video_id:uuid}/chapters"
    guards = [creator_required]
    dependencies = {"chapter_service": inject(ChapterService)}

    @get("/")
    async def chapters_page(
        self,
        request: Request[Any, Any, Any],
        video_id: FromPath[UUID],
        chapter_service: NamedDependency[ChapterService],
    ) -> Template:
        video, own = await chapter_service.own_chapters(signed_in(request).id, video_id)
        context = _context(video, chapters_text(own), {}, await chapter_service.of_video(video))
        return page_or_fragment(request, page=PAGE, fragment=FORM, context=context, headers=NO_STORE)

    @post("/")
    async def save_chapters(
        self,
        request: Request[Any, Any, Any],
        video_id: FromPath[UUID],
        chapter_service: NamedDependency[ChapterService],
        data: URLEncodedBody[ChaptersForm],
    ) -> Response[Any]:
        me = signed_in(request).id
        try:
            video, saved = await chapter_service.set_chapters(me, video_id, data.chapters)
        except InvalidChapters as error:
            video, _own = await chapter_service.own_chapters(me, video_id)
            context = _context(video, data.chapters, error.errors, await chapter_service.of_video(video))
            return page_or_fragment(
                request, page=PAGE, fragment=FORM, context=context, status_code=422, headers=NO_STORE
            )
        if not wants_fragment(request):
            return flash(redirect(f"/studio/videos/{video_id}/chapters", request), _saved_words(saved))
        context = _context(video, chapters_text(saved), {}, await chapter_service.of_video(video), saved=True)
        return Template(FORM, context=context, headers=NO_STORE)


def _saved_words(saved: list[Chapter]) -> str:
    if not saved:
        return "Chapters removed: the description's chapters apply, if it lists them."
    return f"{len(saved)} chapter{'s' if len(saved) != 1 else ''} saved."
