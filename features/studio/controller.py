"""The studio's pages, its live tiles (SSE), and the tus 1.0 endpoint that receives source files."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, MediaType, Request, Response, delete, get, head, post, route
from litestar.connection import ASGIConnection
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.enums import HttpMethod, RequestEncodingType
from litestar.exceptions import HTTPException, InternalServerException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Body, FromPath, QueryParameter, URLEncodedBody
from litestar.response import Template

from core.auth import creator_required, current_principal, staff_required
from core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from core.events import Event, EventBus
from core.identity import Principal
from core.numbers import InvalidNumber, NumberTooLarge, parse_optional_whole, parse_whole
from core.settings import Settings
from core.sse import EventStream, sse_response
from core.web import flash, inject, query_number, redirect
from features.studio.dto import NewVideoForm, QuotaForm
from features.studio.model import (
    InvalidCover,
    InvalidSubtitle,
    InvalidVideoDetails,
    TooManyVideos,
    Upload,
    UploadBusy,
    UploadExpired,
    UploadOffsetMismatch,
    UploadTooLarge,
    Video,
    size_text,
)
from features.studio.ports import LivePart
from features.studio.service import EVENT, StudioService, VideoTile, topic_for

MultipartData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]

TILE = "studio/_tile.html"
PANEL = "studio/_upload_panel.html"
EXTRAS = "studio/_extras.html"
FORM = "studio/_new_video_form.html"


def _me(request: Request[Any, Any, Any]) -> Principal:
    principal = current_principal(request)
    assert principal is not None  # the guard let the request through
    return principal


def _htmx(request: Request[Any, Any, Any]) -> bool:
    return bool(request.headers.get("hx-request"))


async def _file_bytes(value: Any) -> bytes | None:
    """The bytes of an uploaded form file, or None when no file was chosen."""
    if not isinstance(value, UploadFile) or not value.filename:
        return None
    data = await value.read()
    return data or None


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
    ) -> Template:
        tiles = await studio.tiles_for_owner(_me(request).id, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
        return Template(
            template_name="studio/index.html",
            context={
                "quota": await studio.quota_usage(_me(request).id),
                "size_text": size_text,
                "tiles": tiles[:PAGE_SIZE],
                "page": page,
                "older_page": page + 1 if len(tiles) > PAGE_SIZE else None,
                "newer_page": page - 1 if page > 1 else None,
                "video": panel_video,
                "form": form or {},
                "errors": errors or {},
                "extras_errors": {},
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
            video = await studio.create_video(_me(request).id, form.title, form.description)
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
        return await self._page(request, studio)

    @get("/videos/{video_id:uuid}/upload")
    async def upload_panel(
        self, request: Request[Any, Any, Any], studio: NamedDependency[StudioService], video_id: FromPath[UUID]
    ) -> Template:
        video = await studio.owned_video(_me(request).id, video_id)
        if _htmx(request):
            return Template(PANEL, context={"video": video, "extras_errors": {}})
        return await self._page(request, studio, panel_video=video)

    @get("/videos/{video_id:uuid}/tile")
    async def tile(
        self, request: Request[Any, Any, Any], studio: NamedDependency[StudioService], video_id: FromPath[UUID]
    ) -> Template:
        video = await studio.owned_video(_me(request).id, video_id)
        return Template(TILE, context={"tile": await studio.tile(video)})

    @post("/videos/{video_id:uuid}/subtitles", request_max_body_size=4 * 1024 * 1024)
    async def add_subtitle(
        self,
        request: Request[Any, Any, Any],
        studio: NamedDependency[StudioService],
        video_id: FromPath[UUID],
        data: MultipartData,
    ) -> Response[Any]:
        me = _me(request).id
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
            video = await studio.remove_subtitle(_me(request).id, video_id, language)
        except Conflict as error:
            errors["subtitle"] = error.message
            video = await studio.owned_video(_me(request).id, video_id)
        return self._extras(request, video, errors)

    @post("/videos/{video_id:uuid}/cover", request_max_body_size=8 * 1024 * 1024)
    async def set_cover(
        self,
        request: Request[Any, Any, Any],
        studio: NamedDependency[StudioService],
        video_id: FromPath[UUID],
        data: MultipartData,
    ) -> Response[Any]:
        me = _me(request).id
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
        form: dict[str, str] | None = None,
    ) -> Response[Any]:
        """The extras panel again: with the inline error and what was typed (422), or a confirmation."""
        status = 422 if errors else 200
        if _htmx(request):
            context = {"video": video, "extras_errors": errors, "extras_notice": notice, "extras_form": form or {}}
            return Template(EXTRAS, context=context, status_code=status)
        response = redirect(f"/studio/videos/{video.id}/upload", request)
        if errors:
            return flash(response, " ".join(errors.values()), "error")
        return flash(response, notice or "Saved.")

    @get("/videos/{video_id:uuid}/cover", media_type="image/*")
    async def cover(
        self, request: Request[Any, Any, Any], studio: NamedDependency[StudioService], video_id: FromPath[UUID]
    ) -> Response[bytes]:
        video = await studio.owned_video(_me(request).id, video_id)
        found = await studio.cover(video)
        if found is None:
            raise NotFound("This video has no cover yet.")
        content, content_type = found
        return Response(content, media_type=content_type, headers={"Cache-Control": "private, max-age=300"})

    @post("/videos/{video_id:uuid}/retry")
    async def retry(
        self, request: Request[Any, Any, Any], studio: NamedDependency[StudioService], video_id: FromPath[UUID]
    ) -> Response[Any]:
        video = await studio.retry(_me(request).id, video_id)
        if _htmx(request):
            return Template(TILE, context={"tile": await studio.tile(video)})
        return flash(redirect("/studio", request), "The video is back in the queue.", "info")

    @get("/events", dependencies={"bus": inject(EventBus)})  # type: ignore[type-abstract]
    async def events(
        self,
        request: Request[Any, Any, Any],
        studio: NamedDependency[StudioService],
        bus: NamedDependency[Any],  # an EventBus; Litestar cannot check a Protocol at run time
    ) -> EventStream:
        """The owner's tiles, re-rendered whenever one of their videos changes (htmx swaps them by id),
        and other features' live parts of the page (LivePart) — all on this one connection."""
        me = _me(request).id
        events: EventBus = bus
        engine = request.app.template_engine
        assert engine is not None
        template = engine.get_template(TILE)
        parts = request.app.state.injector.get(list[LivePart])

        async def render(event: Event) -> str | None:
            if event.name != EVENT:
                html = [
                    engine.get_template(fragment.template).render(**fragment.context, oob=True, request=request)
                    for part in parts
                    for fragment in await part.fragments(me, event)
                ]
                return "".join(html) or None
            try:
                video_id = UUID(str(event.data.get("video_id")))
            except ValueError:
                return None
            video = await studio.get_video(video_id)
            if video is None or video.owner_id != me:
                return None
            return str(template.render(tile=await studio.tile(video), oob=True, request=request))

        return sse_response(request, events, [topic_for(me)], render)


# -- tus 1.0 -----------------------------------------------------------------------------------

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination,expiration"
TUS = {"Tus-Resumable": TUS_VERSION}
OFFSET_STREAM = "application/offset+octet-stream"


def tus_resumable(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if connection.headers.get("tus-resumable") != TUS_VERSION:
        raise HTTPException(
            status_code=412,
            detail=f"This server speaks tus {TUS_VERSION}; send Tus-Resumable: {TUS_VERSION}.",
            headers={"Tus-Version": TUS_VERSION, **TUS},
        )


def tus_error(_: Request[Any, Any, Any], error: DomainError) -> Response[str]:
    """Domain errors in the statuses the tus protocol names."""
    if isinstance(error, UploadTooLarge):
        status = 413
    elif isinstance(error, UploadOffsetMismatch):
        status = 409
    elif isinstance(error, UploadBusy):
        status = 423
    elif isinstance(error, UploadExpired):
        status = 410
    elif isinstance(error, NotFound):
        status = 404
    elif isinstance(error, Forbidden):
        status = 403
    elif isinstance(error, Conflict):
        status = 409
    elif isinstance(error, InvalidInput):
        status = 400
    else:
        status = 400
    return Response(error.message, status_code=status, media_type=MediaType.TEXT, headers=TUS)


def _tus_bad_request(message: str, status: int = 400) -> Response[str]:
    return Response(message, status_code=status, media_type=MediaType.TEXT, headers=TUS)


def _header_int(request: Request[Any, Any, Any], name: str) -> int | None:
    """A numeric header (strict ASCII digits, within bigint), None when absent; raises InvalidNumber
    (a 400 with its message, NumberTooLarge for a value past any limit)."""
    return parse_optional_whole(request.headers.get(name), name=name.title())


def _expires(upload: Upload) -> dict[str, str]:
    """tus `expiration`: when the upload will be forgotten, as an HTTP date (RFC 7231)."""
    return {"Upload-Expires": _http_date(upload.expires_at)} if upload.expires_at is not None else {}


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def parse_metadata(header: str) -> dict[str, str]:
    """tus Upload-Metadata: comma-separated `key base64(value)` pairs. Raises ValueError if malformed."""
    metadata: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in header.split(","))):
        key, _, encoded = pair.partition(" ")
        if not key or " " in encoded.strip():
            raise ValueError(pair)
        try:
            metadata[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8") if encoded else ""
        except (binascii.Error, UnicodeDecodeError) as error:
            raise ValueError(pair) from error
    return metadata


async def _body(request: Request[Any, Any, Any]) -> AsyncIterator[bytes]:
    """The request body as it arrives; a client that drops the connection simply ends it."""
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except InternalServerException:
        return


class TusController(Controller):
    """tus 1.0 (core, creation, termination) for a video's source file; only its creator may write."""

    path = "/uploads"
    dependencies = {"studio": inject(StudioService), "settings": inject(Settings)}
    exception_handlers = {DomainError: tus_error}

    # Litestar registers a controller's handlers in name order and adds its own OPTIONS handler to a
    # path that has none yet: this one's name must sort before `create` to be the path's OPTIONS.
    @route("/", http_method=[HttpMethod.OPTIONS], status_code=204, include_in_schema=False)
    async def advertise_protocol(self, settings: NamedDependency[Settings]) -> Response[None]:
        return Response(
            None,
            status_code=204,
            headers={
                **TUS,
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": TUS_EXTENSIONS,
                "Tus-Max-Size": str(settings.max_upload_bytes),
            },
        )

    @post("/", guards=[tus_resumable, creator_required])
    async def create(
        self,
        request: Request[Any, Any, Any],
        studio: NamedDependency[StudioService],
        settings: NamedDependency[Settings],
    ) -> Response[Any]:
        if request.headers.get("upload-defer-length"):
            return _tus_bad_request("Deferred upload lengths are not supported.")
        try:
            length = parse_whole(request.headers.get("upload-length", ""), name="Upload-Length")
        except NumberTooLarge:
            return Response(
                f"This file is larger than the limit of {settings.max_upload_bytes:,} bytes.",
                status_code=413,
                media_type=MediaType.TEXT,
                headers={**TUS, "Tus-Max-Size": str(settings.max_upload_bytes)},
            )
        except InvalidNumber as error:
            return _tus_bad_request(f"{error.message} (Upload-Length: the file's size in bytes)")
        try:
            metadata = parse_metadata(request.headers.get("upload-metadata", ""))
        except ValueError:
            return _tus_bad_request("Upload-Metadata is malformed.")
        video = metadata.get("video", "")
        if not video:
            return _tus_bad_request("Upload-Metadata must name the video (key `video`).")
        try:
            upload = await studio.create_upload(_me(request).id, video, length, metadata.get("filename", ""))
        except UploadTooLarge as error:
            return Response(
                error.message,
                status_code=413,
                media_type=MediaType.TEXT,
                headers={**TUS, "Tus-Max-Size": str(settings.max_upload_bytes)},
            )
        return Response(None, status_code=201, headers={**TUS, "Location": f"/uploads/{upload.id}", **_expires(upload)})

    @head("/{upload_id:str}", guards=[tus_resumable, creator_required])
    async def status(
        self, request: Request[Any, Any, Any], studio: NamedDependency[StudioService], upload_id: FromPath[str]
    ) -> Response[None]:
        upload = await studio.upload_status(_me(request).id, upload_id)
        return Response(
            None,
            status_code=200,
            headers={
                **TUS,
                "Upload-Offset": str(upload.offset),
                "Upload-Length": str(upload.length),
                "Cache-Control": "no-store",
                **_expires(upload),
            },
        )

    @route(
        "/{upload_id:str}",
        http_method=[HttpMethod.PATCH],
        guards=[tus_resumable, creator_required],
        request_max_body_size=None,  # bounded by the upload's declared length instead
    )
    async def append(
        self, request: Request[Any, Any, Any], studio: NamedDependency[StudioService], upload_id: FromPath[str]
    ) -> Response[Any]:
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != OFFSET_STREAM:
            return _tus_bad_request(f"Send the bytes as {OFFSET_STREAM}.", 415)
        try:
            offset = parse_whole(request.headers.get("upload-offset", ""), name="Upload-Offset")
            content_length = _header_int(request, "content-length")
        except InvalidNumber as error:
            return _tus_bad_request(error.message)
        upload = await studio.receive(_me(request).id, upload_id, offset, _body(request), content_length)
        return Response(None, status_code=204, headers={**TUS, "Upload-Offset": str(upload.offset), **_expires(upload)})

    @delete("/{upload_id:str}", guards=[tus_resumable, creator_required], status_code=204)
    async def terminate(
        self, request: Request[Any, Any, Any], studio: NamedDependency[StudioService], upload_id: FromPath[str]
    ) -> Response[None]:
        await studio.terminate_upload(_me(request).id, upload_id)
        return Response(None, status_code=204, headers=TUS)


__all__ = ["StudioController", "TusController", "VideoTile"]


MB = 1024 * 1024
MAX_QUOTA_MB = 1024 * 1024 * 1024  # 1 EiB: far above any disk, well inside bigint


def _quota_field(value: str, label: str, errors: dict[str, str], name: str) -> int | None:
    """Whole megabytes as bytes; blank is None (the default). Adds an inline error for anything else."""
    if value == "":
        return None
    if not value.isascii() or not value.isdigit() or int(value) > MAX_QUOTA_MB:
        errors[name] = f"{label} must be a whole number of megabytes (0 to {MAX_QUOTA_MB}), or blank for the default."
        return None
    return int(value) * MB


class StaffQuotaController(Controller):
    """Staff: see and override one creator's storage quota and daily upload allowance."""

    path = "/staff/quotas"
    guards = [staff_required]
    dependencies = {"studio": inject(StudioService)}

    @get("/{creator_id:uuid}")
    async def quota_page(self, studio: NamedDependency[StudioService], creator_id: FromPath[UUID]) -> Template:
        return await self._page(studio, creator_id, {}, {})

    @post("/{creator_id:uuid}")
    async def set_quota(
        self,
        request: Request[Any, Any, Any],
        studio: NamedDependency[StudioService],
        creator_id: FromPath[UUID],
        data: URLEncodedBody[QuotaForm],
    ) -> Response[Any]:
        form = data
        errors: dict[str, str] = {}
        storage = _quota_field(form.storage_mb, "Storage", errors, "storage_mb")
        daily = _quota_field(form.daily_upload_mb, "Daily uploads", errors, "daily_upload_mb")
        values = {"storage_mb": form.storage_mb, "daily_upload_mb": form.daily_upload_mb}
        if errors:
            return await self._page(studio, creator_id, values, errors, status=422)
        await studio.set_quota(creator_id, storage, daily)
        return flash(redirect(f"/staff/quotas/{creator_id}", request), "The quota was saved.")

    async def _page(
        self,
        studio: StudioService,
        creator_id: UUID,
        form: dict[str, str],
        errors: dict[str, str],
        status: int = 200,
    ) -> Template:
        usage = await studio.quota_usage(creator_id)
        storage, daily = await studio.quotas.override(creator_id)
        shown = {
            "storage_mb": "" if storage is None else str(storage // MB),
            "daily_upload_mb": "" if daily is None else str(daily // MB),
            **form,
        }
        return Template(
            template_name="studio/staff_quota.html",
            context={
                "creator_id": creator_id,
                "quota": usage,
                "defaults": studio.policy.quota,
                "form": shown,
                "errors": errors,
                "size_text": size_text,
            },
            status_code=status,
        )
