"""Forms of the offers pages: codes and bundle purchases on viewer pages, bundles and codes in the studio."""

from __future__ import annotations

from core.forms import Form


class CodeEntryForm(Form):
    code: str = ""


class CodeUnlockForm(Form):
    offer: str = ""
    key: str = ""
    price: str = ""  # the reduced price the button showed; only that exact price is ever charged
    code: str = ""


class BundleBuyForm(Form):
    key: str = ""
    price: str = ""  # the price the button showed (after the code, if any)
    code: str = ""
    videos: str = ""  # the public ids of the videos the page listed, space-separated ("": not checked)


class BundleForm(Form):
    title: str = ""
    description: str = ""
    price: str = ""


class BundleVideoForm(Form):
    video: str = ""  # the video's public id


class CodeForm(Form):
    code: str = ""
    kind: str = "percent"
    amount: str = ""
    target: str = ""  # "video:<public id>", "bundle:<public id>" or "tier:<tier id>"
    max_uses: str = ""
    expires: str = ""


class TierCodeForm(Form):
    creator: str = ""  # the creator whose membership panel the code box is in
    video: str = ""  # the video page the panel is on (its public id), if any
    code: str = ""


class TierJoinForm(Form):
    tier: str = ""
    key: str = ""
    price: str = ""  # the first month's reduced price the button showed; only that price is charged
    video: str = ""
    code: str = ""
