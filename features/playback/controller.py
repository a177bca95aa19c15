"""HLS for the player: playlists and segments, the AES key, the free preview, and heartbeats.

GET  /v/{public_id}/hls/{path}      published files, to viewers with full access
GET  /v/{public_id}/preview/{path}  the free preview (cut playlists, decrypted preview segments)
GET  /v/{public_id}/key             the AES-128 key, checked on every request, never cached
POST /v/{public_id}/heartbeat       {"position": seconds, "session": id} every 10 s while playing
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, SerializationException
from litestar.params import FromPath

from core.auth import current_principal
from core.errors import DomainError, InvalidInput
from core.web import DOMAIN_STATUS, inject
from features.playback.model import MediaFile
from features.playback.service import PlaybackService

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _viewer(request: Request[Any, Any, Any]) -> Any:
    principal = current_principal(request)
    return principal.id if principal else None


def _file(found: MediaFile) -> Response[bytes]:
    return Response(content=found.body, media_type=found.content_type, headers={"Cache-Control": found.cache_control})


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
        return _file(await playback.media_file(_viewer(request), public_id, path.lstrip("/")))

    @get("/{public_id:str}/preview/{path:path}")
    async def preview(
        self,
        request: Request[Any, Any, Any],
        public_id: FromPath[str],
        path: FromPath[str],
        playback: NamedDependency[PlaybackService],
    ) -> Response[bytes]:
        return _file(await playback.preview_file(_viewer(request), public_id, path.lstrip("/")))

    @get("/{public_id:str}/key")
    async def key(
        self, request: Request[Any, Any, Any], public_id: FromPath[str], playback: NamedDependency[PlaybackService]
    ) -> Response[bytes]:
        try:
            key = await playback.key(_viewer(request), public_id)
        except DomainError as error:  # a refusal must not be cached either: the next request may succeed
            status = next((code for family, code in DOMAIN_STATUS if isinstance(error, family)), 400)
            raise HTTPException(status_code=status, detail=error.message, headers=dict(NO_STORE)) from error
        return Response(
            content=key,
            media_type="application/octet-stream",
            headers=NO_STORE,
        )

    @post("/{public_id:str}/heartbeat", status_code=204)
    async def heartbeat(
        self, request: Request[Any, Any, Any], public_id: FromPath[str], playback: NamedDependency[PlaybackService]
    ) -> None:
        try:
            body = await request.json()
        except (ValueError, SerializationException) as error:  # litestar raises the latter on bad JSON
            raise InvalidInput("Send the heartbeat as JSON.") from error
        if not isinstance(body, dict):
            raise InvalidInput("Send the heartbeat as a JSON object.")
        client = request.client.host if request.client else "unknown"
        await playback.heartbeat(
            _viewer(request), public_id, body.get("session", ""), body.get("position", -1), client=client
        )
