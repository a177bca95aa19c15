"""The whole web app with one more route, `POST /v/{public_id}/floor`, that answers a fixed player panel:
what a click costs the server before the product does anything (bench.unlock's "floor").

    python -m bench.floor PORT      (the settings from the environment, as `hypha web`)

The route runs behind everything the real unlock runs behind — uvicorn as `hypha web` configures it
(core.server.Server), every middleware, the session cookie → user, the CSRF check, the verified-address
guard, the form parsed into the unlock's own form type — and then returns a constant, as the raw
baseline does. The real click's CPU minus this is what the unlock itself costs.
"""

from __future__ import annotations

import sys
from typing import Any

from litestar import MediaType, Request, post
from litestar.params import URLEncodedBody

from core.auth import verified_required
from core.server import Server, web_config
from core.settings import load_settings
from features.bootstrap import create_app
from features.unlocks.dto import UnlockForm

FIXED = '<div class="player"><video data-src="/v/floor/hls/master.m3u8"></video></div>'


@post("/v/{public_id:str}/floor", guards=[verified_required], media_type=MediaType.HTML, status_code=200)
async def floor(request: Request[Any, Any, Any], public_id: str, data: URLEncodedBody[UnlockForm]) -> str:
    return FIXED


def main() -> None:
    settings = load_settings()
    app = create_app(settings)
    app.register(floor)
    Server(web_config(app, settings, "127.0.0.1", int(sys.argv[1]))).run()


if __name__ == "__main__":
    main()
