"""The player's JSON bodies (msgspec at the edge; the rules stay in the model's check_heartbeat)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import msgspec


class HeartbeatBody(msgspec.Struct, forbid_unknown_fields=False):
    """`{"position": seconds, "session": id}`: a position may arrive as a JSON number or as ASCII digits
    ("12.5"); anything else (a boolean, null, an object) is refused here, naming the field."""

    session: str = ""
    position: float | int | str = -1

    messages: ClassVar[Mapping[str, str]] = {
        "session": "The playback session id is not valid.",
        "position": "The position is not a number of seconds.",
        "form": "Send the heartbeat as a JSON object.",
    }
