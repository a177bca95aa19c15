"""The tus 1.0 endpoint (core, creation, termination, expiration) that receives a video's source file."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from litestar import Controller, MediaType, Request, Response, delete, head, post, route
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.enums import HttpMethod
from litestar.exceptions import HTTPException, InternalServerException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath

from core.auth import creator_required
from core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from core.numbers import InvalidNumber, NumberTooLarge, parse_optional_whole, parse_whole
from core.settings import Settings
from core.web import inject
from features.studio.controller.base import signed_in
from features.studio.model import (
    Upload,
    UploadBusy,
    UploadExpired,
    UploadOffsetMismatch,
    UploadTooLarge,
)
from features.studio.service import StudioService

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
            upload = await studio.create_upload(signed_in(request).id, video, length, metadata.get("filename", ""))
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
        upload = await studio.upload_status(signed_in(request).id, upload_id)
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
        upload = await studio.receive(signed_in(request).id, upload_id, offset, _body(request), content_length)
        return Response(None, status_code=204, headers={**TUS, "Upload-Offset": str(upload.offset), **_expires(upload)})

    @delete("/{upload_id:str}", guards=[tus_resumable, creator_required], status_code=204)
    async def terminate(
        self, request: Request[Any, Any, Any], studio: NamedDependency[StudioService], upload_id: FromPath[str]
    ) -> Response[None]:
        await studio.terminate_upload(signed_in(request).id, upload_id)
        return Response(None, status_code=204, headers=TUS)
