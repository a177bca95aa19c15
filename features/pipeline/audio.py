"""Several audio tracks: which audio renditions a source gets, what each is called, which is the default.

Pure rules, no I/O. Every audio stream of the source becomes one HLS audio rendition of the master's
audio group: its LANGUAGE the stream's language tag as an RFC 5646 tag (ISO 639-2 "fra" → "fr", as
RFC 8216 asks), its NAME the stream's title or else the language's name, exactly one DEFAULT=YES
(the stream the source marks default, commentaries last), AUTOSELECT=NO for commentaries (a player
never picks one by the viewer's language alone).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from features.pipeline.model import AudioStream

# ISO 639-2 (bibliographic and terminology codes) → ISO 639-1, for the languages a source is likely
# to carry; RFC 5646 wants the two-letter code where one exists. Other three-letter codes stay as they are.
_ISO639_2_TO_1 = {
    "ara": "ar",
    "bul": "bg",
    "cat": "ca",
    "ces": "cs",
    "cze": "cs",
    "chi": "zh",
    "zho": "zh",
    "dan": "da",
    "deu": "de",
    "ger": "de",
    "ell": "el",
    "gre": "el",
    "eng": "en",
    "spa": "es",
    "est": "et",
    "eus": "eu",
    "baq": "eu",
    "fas": "fa",
    "per": "fa",
    "fin": "fi",
    "fra": "fr",
    "fre": "fr",
    "gle": "ga",
    "glg": "gl",
    "heb": "he",
    "hin": "hi",
    "hrv": "hr",
    "hun": "hu",
    "ind": "id",
    "isl": "is",
    "ice": "is",
    "ita": "it",
    "jpn": "ja",
    "kor": "ko",
    "lit": "lt",
    "lav": "lv",
    "msa": "ms",
    "may": "ms",
    "nld": "nl",
    "dut": "nl",
    "nor": "no",
    "nob": "nb",
    "nno": "nn",
    "pol": "pl",
    "por": "pt",
    "ron": "ro",
    "rum": "ro",
    "rus": "ru",
    "slk": "sk",
    "slo": "sk",
    "slv": "sl",
    "srp": "sr",
    "swe": "sv",
    "tha": "th",
    "tur": "tr",
    "ukr": "uk",
    "vie": "vi",
    "cym": "cy",
    "wel": "cy",
}

# Names a viewer recognizes in the menu, in the language itself (what players and stores show).
_NAMES = {
    "ar": "العربية",
    "cs": "Čeština",
    "da": "Dansk",
    "de": "Deutsch",
    "el": "Ελληνικά",
    "en": "English",
    "es": "Español",
    "fi": "Suomi",
    "fr": "Français",
    "he": "עברית",
    "hi": "हिन्दी",
    "hu": "Magyar",
    "it": "Italiano",
    "ja": "日本語",
    "ko": "한국어",
    "nl": "Nederlands",
    "no": "Norsk",
    "pl": "Polski",
    "pt": "Português",
    "ro": "Română",
    "ru": "Русский",
    "sv": "Svenska",
    "tr": "Türkçe",
    "uk": "Українська",
    "zh": "中文",
}

_TAG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
MAX_NAME = 60


def hls_language(tag: str | None) -> str | None:
    """`tag` as an RFC 5646 language tag for a playlist ("fra" → "fr", "pt-BR" stays), None when it is
    missing, undetermined ("und", "mis", "mul", "zxx") or not a language tag at all."""
    if not tag:
        return None
    tag = tag.strip().replace("_", "-")
    if not _TAG.match(tag):
        return None
    primary, _, rest = tag.partition("-")
    primary = primary.lower()
    if primary in {"und", "mis", "mul", "zxx", "qaa"}:
        return None
    primary = _ISO639_2_TO_1.get(primary, primary)
    return f"{primary}-{rest}" if rest else primary


def language_name(language: str | None) -> str | None:
    if language is None:
        return None
    return _NAMES.get(language.split("-", 1)[0].lower())


def clean_name(name: str | None) -> str:
    """A NAME safe in a quoted playlist attribute: no quotes or line breaks, spaces collapsed, ≤ 60 chars."""
    if not name:
        return ""
    return " ".join(name.replace('"', "'").split())[:MAX_NAME].strip()


@dataclass(frozen=True)
class AudioPlan:
    """One audio rendition to make: from source stream `stream` (None: a silent track for a source
    without sound), into `folder` ("audio" for the first, "audio-<n>" after)."""

    stream: int | None
    folder: str
    name: str
    language: str | None
    default: bool
    autoselect: bool
    channels: int = 2
    characteristics: str | None = None

    @property
    def playlist(self) -> str:
        return f"{self.folder}/index.m3u8"


def audio_folder(position: int) -> str:
    """The folder of the `position`-th audio rendition: "audio" keeps single-audio videos as they were."""
    return "audio" if position == 0 else f"audio-{position}"


def default_stream(streams: Sequence[AudioStream]) -> int:
    """The position of the stream to mark DEFAULT=YES: the first the source marks default that is not a
    commentary, else the first that is not a commentary, else the first."""
    for candidates in (
        [i for i, s in enumerate(streams) if s.default and not s.commentary],
        [i for i, s in enumerate(streams) if not s.commentary],
    ):
        if candidates:
            return candidates[0]
    return 0


def unique_names(names: Sequence[str]) -> list[str]:
    """RFC 8216: the renditions of one group have different NAMEs; a repeat gets " 2", " 3"..."""
    used: set[str] = set()
    out: list[str] = []
    for name in names:
        candidate, count = name, 1
        while candidate in used:
            count += 1
            candidate = f"{name} {count}"
        used.add(candidate)
        out.append(candidate)
    return out


def stream_name(stream: AudioStream, position: int) -> str:
    """The stream's title; else its language's name (saying "commentary" or "audio description" when
    it is one); else a number."""
    title = clean_name(stream.title)
    if title:
        return title
    named = language_name(hls_language(stream.language)) or hls_language(stream.language)
    if stream.commentary:
        return f"Commentary ({named})" if named else "Commentary"
    if characteristics(stream) == DESCRIBES_VIDEO:
        return f"Audio description ({named})" if named else "Audio description"
    if named:
        return named
    return "Original" if position == 0 else f"Track {position + 1}"


def plan_audio(streams: Sequence[AudioStream]) -> list[AudioPlan]:
    """The audio renditions of a source with `streams` (none: one silent rendition, so every video has
    the same shape and plays in hls.js like any other)."""
    if not streams:
        return [AudioPlan(None, audio_folder(0), "Silent", None, True, True)]
    default = default_stream(streams)
    names = unique_names([stream_name(s, i) for i, s in enumerate(streams)])
    return [
        AudioPlan(
            stream=stream.index,
            folder=audio_folder(position),
            name=names[position],
            language=hls_language(stream.language),
            default=position == default,
            autoselect=position == default or not stream.commentary,
            characteristics=characteristics(stream),
        )
        for position, stream in enumerate(streams)
    ]


DESCRIBES_VIDEO = "public.accessibility.describes-video"


def characteristics(stream: AudioStream) -> str | None:
    """The HLS CHARACTERISTICS of a stream: an audio description (a "visual impaired" or "descriptions"
    disposition) is marked so players can offer it to viewers who need it (RFC 8216 4.3.4.1)."""
    if {"visual_impaired", "descriptions"} & set(stream.dispositions):
        return DESCRIBES_VIDEO
    return None
