"""The studio page and its parts: the video tiles, the new-video form, the upload panel with its
subtitles and cover, and retry. The tiles stay live over core's event stream (core/live.py), which
sends them again through the studio's live part (service/live.py)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter, URLEncodedBody
from litestar.response import Template

from core.auth import creator_required
from core.errors import Conflict, NotFound
from core.web import flash, inject, query_number, redirect, wants_fragment
from features.studio.controller.base import MultipartData, signed_in
from features.studio.dto import NewVideoForm
from features.studio.model import (
    InvalidAudioTrack,
    InvalidCover,
    InvalidSubtitle,
    InvalidVideoDetails,
    TooManyVideos,
    Video,
    size_text,
)
from features.studio.service import StudioService
from features.studio.service.live import TILE

PANEL = "studio/_upload_panel.html"
EXTRAS = "studio/_extras.html"
FORM = "studio/_new_video_form.html"


def _htmx(request: Request[Any, Any, Any]) -> bool:
    return wants_fragment(request)


async def _file_bytes(value: Any) -> bytes | None:
    """The bytes of an uploaded form file (b"" for an empty one: its check says so), or None when no
    file was chosen."""
    if not isinstance(value, UploadFile) or not value.filename:
        return None
    return await value.read()


ADDED_AUDIO_MAX_BYTES = 200 * 1024 * 1024  # an added audio track (a feature-length WAV is more: compress it)
PAGE_SIZE = 24  # video tiles per studio page, newest first
LAST_PAGE = 100_000


class StudioController(Controller):
    path = "/studio"
    guards = [creator_required]
    dependencies = {"studio": inject(StudioService)}

    @get("/")
    async def studio_page(
        self,
        request: Request[Any, Any, Any],
        studio: NamedDependency[StudioService],
        page: Annotated[
            str | None, QueryParameter(description=f"1 to {LAST_PAGE:,} in the digits 0-9; 1 when absent")
        ] = None,
    ) -> Template:
        number = query_number(page, name="page", minimum=1, maximum=LAST_PAGE) or 1
        return await self._page(request, studio, page=number)

    async def _page(
        self,
        request: Request[Any, Any, Any],
        studio: StudioService,
        panel_video: Video | None = None,
        status: int = 200,
        form: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        page: int = 1,
        title: str = "Studio",
    ) -> Template:
        tiles = await studio.tiles_for_owner(signed_in(request).id, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
        return Template(
            template_name="studio/index.html",
            context={
                "quota": await studio.quota_usage(signed_in(request).id),
                "size_text": size_text,
                "tiles": tiles[:PAGE_SIZE],
                "page": page,
                "older_page": page + 1 if len(tiles) > PAGE_SIZE else None,
                "newer_page": page - 1 if page > 1 else None,
                "video": panel_video,
                "form": form or {},
                "errors": errors or {},
                "extras_errors": {},
                "title": f"Upload · {panel_video.title} · Studio" if panel_video else title,
            },
            status_code=status,
        )

    @post("/videos")
    async def create_video(
        self,
        request: Request[Any, Any, Any],
        studio: NamedDependency[StudioService],
        data: URLEncodedBody[NewVideoForm],
    ) -> Response[Any]:
        form = data
        try:
            video = await studio.create_video(signed_in(request).id, form.title, form.description)
        except InvalidVideoDetails as error:
            values = {"title": form.title, "description": form.description}
            if _htmx(request):
                return Template(FORM, context={"form": values, "errors": error.errors}, status_code=422)
            return await self._page(request, studio, status=422, form=values, errors=error.errors)
        except TooManyVideos as error:  # the form again, with the limit's message and Retry-After
            values = {"title": form.title, "description": form.description}
            page: Response[Any]
            if _htmx(request):
                page = Template(FORM, context={"form": values, "errors": {"form": error.message}}, status_code=429)
            else:
                page = await self._page(request, studio, status=429, form=values, errors={"form": error.message})
            page.headers["Retry-After"] = str(max(1, error.retry_after))
            return page
        if not _htmx(request):
            return redirect(f"/studio/videos/{video.id}/upload", request)
        return Template(
            "studio/_created.html",
            context={"video": video, "tile": await studio.tile(video), "extras_errors": {}},
            status_code=201,
        )

    @get("/videos/new")
    async def new_video_form(self, request: Request[Any, Any, Any], studio: NamedDependency[StudioService]) -> Template:
        """The new-video form: a fragment for htmx, the whole studio page (which holds it) otherwise."""
        if _htmx(request):
            return Template(FORM, context={"form": {}, "errors": {}})
        return await self._page(request, studio, title="New video · Studio")

    @get("/videos/{video_id:uuid}/upload")
    async def upload_panel(
        self, request: Request[Any, Any, Any], studio: NamedDependency[StudioService], video_id: FromPath[UUID]
    ) -> Template:
        video = await studio.owned_video(signed_in(request).id, video_id)
        if _htmx(request):
            return Template(PANEL, context={"video": video, "extras_errors": {}})
        return await self._page(request, studio, panel_video=video)

    @get("/videos/{video_id:uuid}/tile")
    async def tile(
        self, request: Request[Any, Any, Any], studio: NamedDependency[StudioService], video_id: FromPath[UUID]
    ) -> Template:
        video = await studio.owned_video(signed_in(request).id, video_id)
        return Template(TILE, context={"tile": await studio.tile(video)})

    @post("/videos/{video_id:uuid}/subtitles", request_max_body_size=4 * 1024 * 1024)
    async def add_subtitle(
        self,
        request: Request[Any, Any, Any],
        studio: NamedDependency[StudioService],
        video_id: FromPath[UUID],
        data: MultipartData,
    ) -> Response[Any]:
        me = signed_in(request).id
        content = await _file_bytes(data.get("file"))
        language, label = str(data.get("language", "")), str(data.get("label", ""))
        errors: dict[str, str] = {}
        notice = ""
        try:
            if content is None:
                raise InvalidSubtitle("Choose an SRT or WebVTT file.")
            video = await studio.add_subtitle(me, video_id, content, language, label)
        except (InvalidSubtitle, Conflict) as error:
            errors["subtitle"] = error.message
            video = await studio.owned_video(me, video_id)
            form = {"language": language, "label": label}
            return self._extras(request, video, errors, form=form)
        added = video.subtitle_sources[-1]
        if video.is_playable:
            notice = f"{added.label} subtitles published: viewers can choose them in the player now."
        else:
            notice = f"{added.label} subtitles added: they are converted with the video."
        return self._extras(request, video, errors, notice=notice)

    @post("/videos/{video_id:uuid}/audio", request_max_body_size=ADDED_AUDIO_MAX_BYTES)
    async def add_audio_track(
        self,
        request: Request[Any, Any, Any],
        studio: NamedDependency[StudioService],
        video_id: FromPath[UUID],
        data: MultipartData,
    ) -> Response[Any]:
        """One more audio track (a language, a commentary) for a ready video, published at once."""
        me = signed_in(request).id
        content = await _file_bytes(data.get("file"))
        language, name = str(data.get("language", "")), str(data.get("name", ""))
        try:
            if content is None:
                raise InvalidAudioTrack("Choose a sound file (MP3, AAC, WAV, FLAC, Opus...).")
            video = await studio.add_audio_track(me, video_id, content, language, name)
        except (InvalidAudioTrack, Conflict) as error:
            video = await studio.owned_video(me, video_id)
            form = {"audio_language": language, "audio_name": name}
            return self._extras(request, video, {"audio": error.message}, form=form)
        added = video.audio_tracks[-1]
        notice = f"{added['name']} audio published: viewers can choose it in the player now."
        return self._extras(request, video, {}, audio_notice=notice)

    @post("/videos/{video_id:uuid}/subtitles/{language:str}/delete")
    async def remove_subtitle(
        self,
        request: Request[Any, Any, Any],
        studio: NamedDependency[StudioService],
        video_id: FromPath[UUID],
        language: FromPath[str],
    ) -> Response[Any]:
        errors: dict[str, str] = {}
        try:
            video = await studio.remove_subtitle(signed_in(request).id, video_id, language)
        except Conflict as error:
            errors["subtitle"] = error.message
            video = await studio.owned_video(signed_in(request).id, video_id)
        return self._extras(request, video, errors)

    @post("/videos/{video_id:uuid}/cover", request_max_body_size=8 * 1024 * 1024)
    async def set_cover(
        self,
        request: Request[Any, Any, Any],
        studio: NamedDependency[StudioService],
        video_id: FromPath[UUID],
        data: MultipartData,
    ) -> Response[Any]:
        me = signed_in(request).id
        content = await _file_bytes(data.get("file"))
        errors: dict[str, str] = {}
        try:
            if content is None:
                raise InvalidCover("Choose a JPEG or PNG image.")
            video = await studio.set_cover(me, video_id, content)
        except (InvalidCover, Conflict) as error:
            errors["cover"] = error.message
            video = await studio.owned_video(me, video_id)
        return self._extras(request, video, errors)

    def _extras(
        self,
        request: Request[Any, Any, Any],
        video: Video,
        errors: dict[str, str],
        *,
        notice: str = "",
        audio_notice: str = "",
        form: dict[str, str] | None = None,
    ) -> Response[Any]:
        """The extras panel again: with the inline error and what was typed (422), or a confirmation."""
        status = 422 if errors else 200
        if _htmx(request):
            context = {
                "video": video,
                "extras_errors": errors,
                "extras_notice": notice,
                "extras_audio_notice": audio_notice,
                "extras_form": form or {},
            }
            return Template(EXTRAS, context=context, status_code=status)
        response = redirect(f"/studio/videos/{video.id}/upload", request)
        if errors:
            return flash(response, " ".join(errors.values()), "error")
        return flash(response, notice or audio_notice or "Saved.")

    @get("/videos/{video_id:uuid}/cover", media_type="image/*")
    async def cover(
        self, request: Request[Any, Any, Any], studio: NamedDependency[StudioService], video_id: FromPath[UUID]
    ) -> Response[bytes]:
        video = await studio.owned_video(signed_in(request).id, video_id)
        found = await studio.cover(video)
        if found is None:
            raise NotFound("This video has no cover yet.")
        content, content_type = found
        return Response(content, media_type=content_type, headers={"Cache-Control": "private, max-age=300"})

    @post("/videos/{video_id:uuid}/retry")
    async def retry(
        self, request: Request[Any, Any, Any], studio: NamedDependency[StudioService], video_id: FromPath[UUID]
    ) -> Response[Any]:
        video = await studio.retry(signed_in(request).id, video_id)
        if _htmx(request):
            return Template(TILE, context={"tile": await studio.tile(video)})
        return flash(redirect("/studio", request), "The video is back in the queue.", "info")
