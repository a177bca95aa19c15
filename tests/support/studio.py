"""Helpers for driving the studio over HTTP: creators, videos, and tus requests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from uuid import UUID

import httpx

from tests.support.web import post_form, sign_up

TUS = {"Tus-Resumable": "1.0.0"}


@dataclass(frozen=True)
class CreatedVideo:
    id: UUID
    public_id: str


async def sign_up_creator(client: httpx.AsyncClient, email: str) -> None:
    await sign_up(client, email)
    response = await post_form(client, "/me/creator", {})
    assert response.status_code in (200, 303), response.text


async def create_video(client: httpx.AsyncClient, title: str = "Night trains") -> CreatedVideo:
    response = await post_form(client, "/studio/videos", {"title": title, "description": ""}, htmx=True)
    assert response.status_code == 201, response.text
    public = re.search(r'data-video="([^"]+)"', response.text)
    video_id = re.search(r'data-video-id="([^"]+)"', response.text)
    assert public is not None
    assert video_id is not None
    return CreatedVideo(UUID(video_id.group(1)), public.group(1))


def tus_headers(client: httpx.AsyncClient, **extra: str) -> dict[str, str]:
    token = client.cookies.get("csrftoken")
    assert token, "log in first: no CSRF cookie"
    return {**TUS, "x-csrftoken": token, **extra}


def metadata(**values: str) -> str:
    import base64

    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


async def create_upload(client: httpx.AsyncClient, video: CreatedVideo, length: int) -> httpx.Response:
    return await client.post(
        "/uploads/",
        headers=tus_headers(
            client, **{"Upload-Length": str(length), "Upload-Metadata": metadata(video=video.public_id)}
        ),
    )
