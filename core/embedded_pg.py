"""A local PostgreSQL for `hypha up` and tests when DATABASE_URL is unset (pgserver's binaries)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _forget_dead_handles(pgdata: Path) -> None:
    """pgserver stops the server when its last handle exits; a killed process never removes its
    handle, which would keep the server running forever after. Drop handles of dead processes."""
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text())
    except ValueError:
        pids = []
    alive = [pid for pid in pids if isinstance(pid, int) and _alive(pid)]
    handles.write_text(json.dumps(alive))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EmbeddedPostgres:
    """Starts (or reuses) a PostgreSQL server whose data lives in `pgdata`; `stop()` shuts it down."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.resolve()
        self._server: Any = None

    def start(self) -> str:
        import warnings

        logging.getLogger("pgserver").setLevel(logging.WARNING)
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.pgdata.parent / "run"))
        (self.pgdata.parent / "run").mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver  # type: ignore[attr-defined,unused-ignore]

        self.pgdata.mkdir(parents=True, exist_ok=True)
        _forget_dead_handles(self.pgdata)
        self._server = pgserver.get_server(self.pgdata, cleanup_mode="stop")  # type: ignore[attr-defined,unused-ignore]
        uri: str = self._server.get_uri()
        return uri

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
