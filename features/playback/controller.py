"""HLS for the player: playlists and segments, the AES key, the free preview, and heartbeats.

GET  /v/{public_id}/hls/{path}      published files, to viewers with full access
GET  /v/{public_id}/preview/{path}  the free preview (cut playlists, decrypted preview segments)
GET  /v/{public_id}/thumbnails.vtt  the seek previews' WebVTT track (only the free preview's without access)
GET  /v/{public_id}/storyboard/{sprite}  one sprite of thumbnails (403 past the free preview without access)
GET  /v/{public_id}/chapters.vtt    the chapters track (anyone who may see the video)
GET  /v/{public_id}/key             the AES-128 key, checked on every request, never cached, counted
GET  /staff/key-fetches             staff: viewers who fetched one video's key unusually often in a day
GET  /staff/key-fetches/{viewer}    staff: one viewer's key fetches per video per day
POST /v/{public_id}/heartbeat       {"position": seconds, "session": id} every 10 s while playing

A visitor's first playlist also sets `hypha_device`, a device id the server signs: a visitor's views are
counted per device (or, without a valid one, per address), never per client-chosen session id.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.params import FromPath, JSONBody
from litestar.response import Template

from core.auth import current_principal, staff_required
from core.errors import DomainError
from core.web import DOMAIN_STATUS, inject, is_https
from features.playback.dto import HeartbeatBody
from features.playback.model import DEVICE_COOKIE, MediaFile, is_playlist
from features.playback.service import KeyAuditService, PlaybackService
from features.studio.service.chapters import ChapterService

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
DEVICE_MAX_AGE = 365 * 24 * 3600


def _viewer(request: Request[Any, Any, Any]) -> Any:
    principal = current_principal(request)
    return principal.id if principal else None


def _client(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


async def _file(
    request: Request[Any, Any, Any], playback: PlaybackService, path: str, found: MediaFile
) -> Response[bytes]:
    """The file; a playlist also hands a visitor without one a signed device cookie, so its heartbeats
    count as one device's views rather than its address's."""
    response = Response(
        content=found.body, media_type=found.content_type, headers={"Cache-Control": found.cache_control}
    )
    if is_playlist(path):
        device = await playback.new_device(_viewer(request), request.cookies.get(DEVICE_COOKIE), _client(request))
        if device is not None:
            response.set_cookie(
                DEVICE_COOKIE,
                device,
                max_age=DEVICE_MAX_AGE,
                path="/",
                httponly=True,
                samesite="lax",
                secure=is_https(request.scope, request.app.state.settings),
            )
    return response


def _gateway_cors(request: Request[Any, Any, Any]) -> dict[str, str]:
    """CORS for the key, to pages of the configured IPFS gateway only (IPFS_GATEWAY_URL): hls.js playing
    `<gateway>/ipfs/<root>/master.m3u8` fetches the key here, the same access checks applying (a gateway
    on a subdomain of the site is same-site, so the session cookie comes along)."""
    gateway = request.app.state.settings.ipfs_gateway_url
    origin = request.headers.get("origin")
    if not gateway or not origin:
        return {}
    parts = urlsplit(gateway)
    if origin != f"{parts.scheme}://{parts.netloc}":
        return {"Vary": "Origin"}
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}


class PlaybackController(Controller):
    path = "/v"
    include_in_schema = False
    dependencies = {"playback": inject(PlaybackService)}

    @get("/{public_id:str}/hls/{path:path}")
    async def hls(
        self,
        request: Request[Any, Any, Any],
        public_id: FromPath[str],
        path: FromPath[str],
        playback: NamedDependency[PlaybackService],
    ) -> Response[bytes]:
        path = path.lstrip("/")
        return await _file(request, playback, path, await playback.media_file(_viewer(request), public_id, path))

    @get("/{public_id:str}/preview/{path:path}")
    async def preview(
        self,
        request: Request[Any, Any, Any],
        public_id: FromPath[str],
        path: FromPath[str],
        playback: NamedDependency[PlaybackService],
    ) -> Response[bytes]:
        path = path.lstrip("/")
        return await _file(request, playback, path, await playback.preview_file(_viewer(request), public_id, path))

    @get("/{public_id:str}/thumbnails.vtt")
    async def thumbnails(
        self, request: Request[Any, Any, Any], public_id: FromPath[str], playback: NamedDependency[PlaybackService]
    ) -> Response[bytes]:
        found = await playback.thumbnails(_viewer(request), public_id)
        headers = {"Cache-Control": "private, no-store"}  # what it lists changes with the viewer's access
        return Response(content=found.body, media_type=found.content_type, headers=headers)

    @get("/{public_id:str}/storyboard/{name:str}")
    async def storyboard(
        self,
        request: Request[Any, Any, Any],
        public_id: FromPath[str],
        name: FromPath[str],
        playback: NamedDependency[PlaybackService],
    ) -> Response[bytes]:
        found = await playback.storyboard_sprite(_viewer(request), public_id, name)
        headers = {"Cache-Control": found.cache_control}
        return Response(content=found.body, media_type=found.content_type, headers=headers)

    @get("/{public_id:str}/chapters.vtt", dependencies={"chapters": inject(ChapterService)})
    async def chapters(
        self,
        request: Request[Any, Any, Any],
        public_id: FromPath[str],
        playback: NamedDependency[PlaybackService],
        chapters: NamedDependency[ChapterService],
    ) -> Response[str]:
        video, _access = await playback.access(_viewer(request), public_id)
        return Response(
            content=await chapters.track(video), media_type="text/vtt", headers={"Cache-Control": "private, no-cache"}
        )

    @get("/{public_id:str}/key")
    async def key(
        self, request: Request[Any, Any, Any], public_id: FromPath[str], playback: NamedDependency[PlaybackService]
    ) -> Response[bytes]:
        headers = {**NO_STORE, **_gateway_cors(request)}
        try:
            key = await playback.key(_viewer(request), public_id)
        except DomainError as error:  # a refusal must not be cached either: the next request may succeed
            status = next((code for family, code in DOMAIN_STATUS if isinstance(error, family)), 400)
            raise HTTPException(status_code=status, detail=error.message, headers=headers) from error
        return Response(content=key, media_type="application/octet-stream", headers=headers)

    @post("/{public_id:str}/heartbeat", status_code=204)
    async def heartbeat(
        self,
        request: Request[Any, Any, Any],
        public_id: FromPath[str],
        playback: NamedDependency[PlaybackService],
        data: JSONBody[HeartbeatBody],
    ) -> None:
        """Litestar decodes the body into HeartbeatBody: bad JSON or a field of the wrong type is a 422 (naming it)."""
        await playback.heartbeat(
            _viewer(request),
            public_id,
            data.session,
            data.position,
            client=_client(request),
            device=request.cookies.get(DEVICE_COOKIE),
        )


class KeyFetchesController(Controller):
    """The key-fetch audit, for staff: who fetched which video's key how often (see KeyAuditService)."""

    path = "/staff/key-fetches"
    guards = [staff_required]
    include_in_schema = False
    dependencies = {"audit": inject(KeyAuditService)}

    @get("/")
    async def unusual(self, audit: NamedDependency[KeyAuditService]) -> Template:
        context = {"lines": await audit.unusual(days=7), "threshold": audit.alert_per_day, "days": 7, "viewer": None}
        return Template(template_name="playback/key_fetches.html", context=context, headers=NO_STORE)

    @get("/{viewer_id:uuid}")
    async def of_viewer(self, viewer_id: FromPath[UUID], audit: NamedDependency[KeyAuditService]) -> Template:
        lines = await audit.of_viewer(viewer_id, days=30)
        context = {"lines": lines, "threshold": audit.alert_per_day, "days": 30, "viewer": viewer_id}
        return Template(template_name="playback/key_fetches.html", context=context, headers=NO_STORE)
