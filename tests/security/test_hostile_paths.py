"""Path parameters a stranger makes up — a NUL byte, invalid UTF-8, dot segments — are a 4xx, never a 500.

Every route with a parameter in its path, from the route table, gets each hostile value in each of its
parameters (the others filled with something plausible), as a creator who is also staff, so that guards
let the request reach the handler. A NUL byte in a static file's name used to reach `os.stat` ("embedded
null byte") and answer 500.
"""

from __future__ import annotations

import re

from injector import Injector
from litestar.routes import HTTPRoute

from core.db import Database
from core.settings import Settings
from core.web import SESSION_COOKIE
from features.bootstrap import create_app
from tests.conftest import app_client
from tests.security.conftest import Stage
from tests.support.videos import session_token
from tests.support.web import csrf_token

PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")
HOSTILE = ["%00", "a%00b", "%00.css", "x%2F%00", "%FF%FE", "%C0%AE%C0%AE", "..%00", "%2e%2e"]


async def test_hostile_path_parameters_are_never_a_server_error(pg: Injector, settings: Settings, stage: Stage) -> None:
    await pg.get(Database).execute("UPDATE users SET is_staff = true WHERE id = $1", stage.creator.id)
    plausible = {"public_id": stage.public_id, "video_id": stage.video_id, "creator_id": str(stage.creator.id)}
    app = create_app(settings, pg)
    routes = sorted(
        (method, route.path)
        for route in app.routes
        if isinstance(route, HTTPRoute) and PARAM.search(route.path) and not route.path.startswith("/api/schema")
        for method in route.methods - {"OPTIONS", "HEAD"}
    )
    assert ("GET", "/static/{file_path:path}") in routes
    failures = []
    async with app_client(pg, settings) as client:
        client.cookies.set(SESSION_COOKIE, await session_token(pg, stage.creator))
        headers = {"x-csrftoken": await csrf_token(client, "/login"), "tus-resumable": "1.0.0"}
        for method, template in routes:
            names = PARAM.findall(template)
            for name in names:
                for value in HOSTILE:

                    def fill(match: re.Match[str], name: str = name, value: str = value) -> str:
                        return value if match.group(1) == name else plausible.get(match.group(1), "x")

                    path = PARAM.sub(fill, template)
                    response = await client.request(method, path, headers=headers)
                    if response.status_code >= 500:
                        failures.append(f"{method} {path} -> {response.status_code}")
    assert failures == [], "\n".join(failures)


async def test_a_nul_byte_in_a_static_file_name_is_a_404(pg: Injector, settings: Settings) -> None:
    async with app_client(pg, settings) as client:
        for path in ["/static/css/%00", "/static/css/hypha.css%00.html", "/static/%00/x"]:
            response = await client.get(path)
            assert response.status_code == 404, (path, response.status_code)
            assert response.headers["x-content-type-options"] == "nosniff"
        assert (await client.get("/static/css/hypha.css")).status_code == 200
