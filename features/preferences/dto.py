"""The favourite toggle's form."""

from __future__ import annotations

from core.forms import Form


class FavouriteForm(Form):
    favourite: str = ""  # the state asked for: "1" to keep the video, "0" to let it go

    @property
    def wanted(self) -> bool:
        return self.favourite.lower() in ("1", "on", "true", "yes")
