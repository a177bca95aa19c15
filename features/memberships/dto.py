"""Forms of the memberships pages."""

from __future__ import annotations

from core.forms import Form


class TierForm(Form):
    name: str = ""
    price: str = ""
    scope: str = "all"  # "all": every video, those uploaded later too; "chosen": the ticked ones
    videos: list[str] | str = []

    @property
    def all_videos(self) -> bool:
        return self.scope != "chosen"

    @property
    def video_ids(self) -> list[str]:
        return [self.videos] if isinstance(self.videos, str) else list(self.videos)


class JoinForm(Form):
    tier: str = ""
    key: str = ""
    price: str = ""  # the amount the button showed; never more is charged
    video: str = ""  # the video page the click came from (its public id), if any


class CancelForm(Form):
    creator: str = ""
    video: str = ""
