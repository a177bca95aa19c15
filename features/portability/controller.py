"""Pages of portability: the creator's library as IPFS directories and CAR files, and the watch
page's IPFS details.

GET /studio/export                          the creator's published videos, their roots, the downloads
GET /studio/export/library.car              one CARv1 file of every published video (one root each)
GET /studio/export/library.json             the JSON manifest (titles, prices, dates, roots, files)
GET /studio/export/videos/{video_id}/car    one video's CARv1 file (another creator's: 404)
GET /studio/export/videos/{video_id}/json   one video's manifest
GET /v/{public_id}/ipfs                     {"root", "gateway"} for a viewer with full access

All GETs that change nothing (a root computed is stored, as a cache), so no CSRF token is needed.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Stream, Template

from core.auth import creator_required, current_principal
from core.identity import Principal
from core.web import inject
from features.portability.model import CarExport
from features.portability.service import PortabilityService

NO_STORE = {"Cache-Control": "no-store"}
CAR_TYPE = "application/vnd.ipld.car; version=1"


def _me(request: Request[Any, Any, Any]) -> Principal:
    principal = current_principal(request)
    assert principal is not None  # creator_required ran
    return principal


def _download(export: CarExport) -> Stream:
    headers = {
        **NO_STORE,
        "Content-Disposition": f'attachment; filename="{export.filename}"',
        "X-Car-Roots": ",".join(export.roots[:50]),
    }
    return Stream(export.chunks, media_type=CAR_TYPE, headers=headers)


def _json(body: dict[str, Any], filename: str) -> Response[dict[str, Any]]:
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(body, media_type="application/json", headers=headers)


class ExportController(Controller):
    path = "/studio/export"
    guards = [creator_required]
    dependencies = {"portability": inject(PortabilityService)}

    @get("/")
    async def page(self, request: Request[Any, Any, Any], portability: NamedDependency[PortabilityService]) -> Template:
        entries = await portability.library(_me(request).id)
        return Template(template_name="portability/export.html", context={"entries": entries}, headers=NO_STORE)

    @get("/library.car")
    async def library_car(
        self,
        request: Request[Any, Any, Any],
        portability: NamedDependency[PortabilityService],
    ) -> Stream:
        return _download(await portability.car(_me(request).id))

    @get("/library.json")
    async def library_json(
        self,
        request: Request[Any, Any, Any],
        portability: NamedDependency[PortabilityService],
    ) -> Response[dict[str, Any]]:
        return _json(await portability.manifest(_me(request).id), "hypha-library.json")

    @get("/videos/{video_id:uuid}/car")
    async def video_car(
        self,
        request: Request[Any, Any, Any],
        video_id: FromPath[UUID],
        portability: NamedDependency[PortabilityService],
    ) -> Stream:
        return _download(await portability.car(_me(request).id, video_id))

    @get("/videos/{video_id:uuid}/json")
    async def video_json(
        self,
        request: Request[Any, Any, Any],
        video_id: FromPath[UUID],
        portability: NamedDependency[PortabilityService],
    ) -> Response[dict[str, Any]]:
        return _json(await portability.manifest(_me(request).id, video_id), f"hypha-{video_id}.json")


class ViewerIpfsController(Controller):
    path = "/v"
    include_in_schema = False
    dependencies = {"portability": inject(PortabilityService)}

    @get("/{public_id:str}/ipfs")
    async def ipfs(
        self,
        request: Request[Any, Any, Any],
        public_id: FromPath[str],
        portability: NamedDependency[PortabilityService],
    ) -> Response[dict[str, Any]]:
        principal = current_principal(request)
        root = await portability.for_viewer(principal.id if principal else None, public_id)
        gateway = request.app.state.settings.ipfs_gateway_url.rstrip("/") or None  # the CSP allows this origin
        return Response({"root": root, "gateway": gateway}, headers=NO_STORE)
