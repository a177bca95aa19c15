"""The send-a-gift form."""

from __future__ import annotations

from typing import Annotated

import msgspec

from core.forms import Form


class GiftForm(Form):
    amount: Annotated[str, msgspec.Meta(max_length=40)] = ""
    email: Annotated[str, msgspec.Meta(max_length=320)] = ""
    message: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    key: Annotated[str, msgspec.Meta(max_length=64)] = ""
