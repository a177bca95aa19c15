"""The Video aggregate: its life-cycle, what a creator may change, and the rules for titles,
subtitles and covers.

A Video moves through a finite-state machine:

    DRAFT → UPLOADING → UPLOADED → CONVERTING → READY → PUBLISHED
                  ↘ REJECTED          ↘ FAILED (retry → UPLOADED / CONVERTING)
    (any but ARCHIVED) → ARCHIVED

Every change of state goes through `Video._move`, so an illegal transition raises
`IllegalVideoTransition` (a Conflict the web layer turns into 409) and leaves the video as it was.

A video becomes READY when its first rendition is published (`publish_rendition`): it plays, can be
priced and published, while its higher renditions still convert. Until they are done it is
"upgrading" (`pending_renditions`, beside the state, not a state of its own: a READY or PUBLISHED
video may be upgrading). A failed upgrade (`upgrade_failure`) never makes a playable video FAILED:
it keeps playing at what was published, and its owner may retry the upgrade.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from core.errors import Conflict, InvalidInput, NotFound, TooManyRequests
from core.fsm import FSM, IllegalTransition
from core.text import one_line, tidy
from features.studio.model.processing import ProcessingProgress, SourceMeta, Transcoded

TITLE_MAX = 120
DESCRIPTION_MAX = 5000
SUBTITLE_MAX_BYTES = 2 * 1024 * 1024
SUBTITLES_PER_VIDEO = 8
AUDIO_TRACKS_PER_VIDEO = 8
COVER_MAX_BYTES = 5 * 1024 * 1024
LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


REMOVED_TITLE = "Removed video"


class VideoState(StrEnum):
    DRAFT = "draft"
    UPLOADING = "uploading"
    UPLOADED = "uploaded"
    CONVERTING = "converting"
    READY = "ready"
    PUBLISHED = "published"
    FAILED = "failed"
    REJECTED = "rejected"
    ARCHIVED = "archived"

    @property
    def label(self) -> str:
        return STATE_LABELS[self]


STATE_LABELS = {
    VideoState.DRAFT: "Draft",
    VideoState.UPLOADING: "Uploading",
    VideoState.UPLOADED: "Waiting",
    VideoState.CONVERTING: "Processing",
    VideoState.READY: "Ready",
    VideoState.PUBLISHED: "Published",
    VideoState.FAILED: "Failed",
    VideoState.REJECTED: "Rejected",
    VideoState.ARCHIVED: "Archived",
}

S = VideoState
TRANSITIONS: Mapping[VideoState, frozenset[VideoState]] = {
    S.DRAFT: frozenset({S.UPLOADING, S.ARCHIVED}),
    # A terminated upload returns to DRAFT; a new file may replace a rejected one.
    S.UPLOADING: frozenset({S.UPLOADED, S.REJECTED, S.DRAFT, S.ARCHIVED}),
    S.UPLOADED: frozenset({S.CONVERTING, S.FAILED, S.ARCHIVED}),
    S.CONVERTING: frozenset({S.READY, S.FAILED, S.ARCHIVED}),
    S.READY: frozenset({S.PUBLISHED, S.ARCHIVED}),
    S.PUBLISHED: frozenset({S.READY, S.ARCHIVED}),
    S.FAILED: frozenset({S.UPLOADED, S.CONVERTING, S.ARCHIVED}),
    S.REJECTED: frozenset({S.UPLOADING, S.ARCHIVED}),
    S.ARCHIVED: frozenset(),
}

# States in which the creator may still send (or replace) the source file and its subtitles.
ACCEPTS_SOURCE = frozenset({S.DRAFT, S.UPLOADING, S.REJECTED})
# States whose work is still ahead: the tile shows a progress figure.
IN_PROGRESS = frozenset({S.UPLOADED, S.CONVERTING})
# States in which a video plays (once it has a master playlist); it may still be upgrading in them.
PLAYABLE = frozenset({S.READY, S.PUBLISHED})


class IllegalVideoTransition(Conflict, IllegalTransition):
    """A change the video's current state does not allow (HTTP 409)."""

    def __init__(self, current: VideoState, target: VideoState) -> None:
        # Not cooperative: the two bases take different arguments.
        self.message = f"This video is {current.label.lower()} and cannot become {target.label.lower()}."
        Exception.__init__(self, self.message)
        self.current = current
        self.target = target


class VideoNotFound(NotFound):
    message = "We could not find that video."


class TooManyVideos(TooManyRequests):
    message = "You have created many videos in the last hour. Please wait a while before creating more."


class InvalidVideoDetails(InvalidInput):
    """Title or description out of bounds; `errors` maps field names to messages."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = dict(errors)


class InvalidSubtitle(InvalidInput):
    message = "Subtitles must be an SRT or WebVTT text file."


class InvalidAudioTrack(InvalidInput):
    message = "An audio track must be a sound file (MP3, AAC, WAV, FLAC, Opus...)."


class InvalidCover(InvalidInput):
    message = "The cover must be a JPEG or PNG image."


UPLOAD_EXPIRED_REASON = "The upload did not finish in time and its bytes were deleted. Upload the file again."


@dataclass(frozen=True)
class Subtitle:
    """A subtitle file the creator sent, kept in blob storage until the pipeline converts it."""

    key: str
    language: str
    label: str
    format: str  # "srt" or "vtt"

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "language": self.language, "label": self.label, "format": self.format}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Subtitle:
        return cls(str(data["key"]), str(data["language"]), str(data["label"]), str(data["format"]))


@dataclass
class Video:
    """The aggregate a creator uploads, the pipeline converts and viewers eventually watch."""

    id: UUID
    public_id: str
    owner_id: UUID
    title: str
    description: str
    state: VideoState
    created_at: datetime
    updated_at: datetime
    src_meta: dict[str, Any] | None = None
    source_key: str | None = None
    source_size: int | None = None
    playlist: str | None = None
    manifest: dict[str, str] = field(default_factory=dict)
    video_tracks: list[dict[str, Any]] = field(default_factory=list)
    audio_tracks: list[dict[str, Any]] = field(default_factory=list)
    subtitle_tracks: list[dict[str, Any]] = field(default_factory=list)
    subtitle_sources: list[Subtitle] = field(default_factory=list)
    cover_image: str | None = None
    cover_type: str | None = None
    fallback_cover_image: str | None = None
    duration: float | None = None
    failure_reason: str | None = None
    progress: ProcessingProgress | None = None
    queued_at: datetime | None = None
    published_bytes: int = 0
    fair_tag: int = 0  # its place in the fair transcoding queue (see StudioService)
    transcode_job: str | None = None  # the key of the job that claimed it for conversion
    # Renditions still converting while the video already plays (smallest first); see `upgrading`.
    pending_renditions: list[str] = field(default_factory=list)
    upgrade_failure: str | None = None  # why the pending renditions stopped (the video still plays)
    # Moderation: set only through StudioService.take_down / restore / hide_owner (never by save()).
    taken_down_reason: str | None = None
    owner_suspended: bool = False

    @property
    def hidden(self) -> bool:
        """Hidden from everyone but its owner (and staff): taken down, or its owner is suspended."""
        return self.taken_down_reason is not None or self.owner_suspended

    # -- life-cycle ---------------------------------------------------------------------------

    def can(self, target: VideoState) -> bool:
        return target in TRANSITIONS[self.state]

    def _move(self, target: VideoState, now: datetime) -> None:
        machine = FSM(TRANSITIONS, self.state)
        try:
            machine.transition(target)
        except IllegalTransition as error:
            raise IllegalVideoTransition(self.state, target) from error
        self.state = machine.state
        self.updated_at = now

    def begin_upload(self, now: datetime) -> None:
        """A source upload starts (again): any earlier rejection is forgotten."""
        if self.state is not VideoState.UPLOADING:
            self._move(VideoState.UPLOADING, now)
        self.failure_reason = None
        self.src_meta = None
        self.source_key = None
        self.source_size = None

    def abandon_upload(self, now: datetime) -> None:
        """The upload was terminated: back to a draft."""
        self._move(VideoState.DRAFT, now)

    def expire_upload(self, now: datetime) -> None:
        """The upload was abandoned and expired: back to a draft that says so (a new upload clears it)."""
        self._move(VideoState.DRAFT, now)
        self.failure_reason = UPLOAD_EXPIRED_REASON

    def accept_source(self, key: str, size: int, meta: SourceMeta, now: datetime) -> None:
        """The uploaded file probed well and is within limits: it waits in the processing queue."""
        self._move(VideoState.UPLOADED, now)
        self.source_key = key
        self.source_size = size
        self.src_meta = meta.to_dict()
        self.duration = meta.duration
        self.queued_at = now
        self.progress = None
        self.failure_reason = None

    def reject_source(self, reason: str, now: datetime) -> None:
        """The uploaded file cannot be used; its bytes are deleted by the service."""
        self._move(VideoState.REJECTED, now)
        self.failure_reason = reason
        self.source_key = None
        self.source_size = None
        self.src_meta = None

    def start_converting(self, now: datetime) -> None:
        """A worker picked the video up. Idempotent: a retried job finds it already converting (or, if
        it already plays, upgrading: the job resumes its pending renditions)."""
        if self.converting:
            return
        self._move(VideoState.CONVERTING, now)
        self.failure_reason = None

    def record_progress(self, progress: ProcessingProgress) -> None:
        if not self.converting:
            raise IllegalVideoTransition(self.state, VideoState.CONVERTING)
        self.progress = progress
        self.updated_at = progress.updated_at

    def finish_converting(self, result: Transcoded, now: datetime) -> None:
        """Every rendition is published: a converting video becomes READY, an upgrading one (already
        READY or PUBLISHED) stays as it is, now complete."""
        if self.state in PLAYABLE:
            self.updated_at = now
        else:
            self._move(VideoState.READY, now)
        self._take(result)
        self.pending_renditions = []
        self.upgrade_failure = None
        if self.progress is not None:
            self.progress = replace(
                self.progress, percent=100.0, step="Ready", step_index=self.progress.steps, eta_seconds=0.0
            )
        self.failure_reason = None

    def _take(self, result: Transcoded) -> None:
        self.playlist = result.playlist
        self.manifest = dict(result.manifest)
        self.video_tracks = [dict(t) for t in result.video_tracks]
        self.audio_tracks = [dict(t) for t in result.audio_tracks]
        self.subtitle_tracks = [dict(t) for t in result.subtitle_tracks]
        self.fallback_cover_image = result.cover
        self.published_bytes = result.published_bytes
        if result.duration:
            self.duration = result.duration

    def publish_rendition(self, result: Transcoded, now: datetime) -> None:
        """The pipeline published the video as far as `result` says, while it converts the renditions
        `result.pending`. The first publication makes a converting video READY: it plays (at 480p),
        can be priced and published, and is upgrading until `finish_converting`; each later one swaps
        in the new master playlist and manifest (one row update: a viewer gets the old pair or the new
        one). Idempotent: a redone step after a crash tells of the same publication again.
        Raises IllegalVideoTransition when the video is neither converting nor upgrading."""
        if self.state is VideoState.CONVERTING:
            self._move(VideoState.READY, now)
        elif not self.upgrading:
            raise IllegalVideoTransition(self.state, VideoState.READY)
        self._take(result)
        self.pending_renditions = list(result.pending)
        self.failure_reason = None
        self.updated_at = now

    def fail(self, reason: str, now: datetime) -> None:
        """The conversion failed. A video that already plays is not FAILED: only its upgrade is (it
        keeps playing at what was published; `retry_upgrade` tries the rest again)."""
        if self.upgrading:
            self.upgrade_failure = reason
            self.updated_at = now
            return
        self._move(VideoState.FAILED, now)
        self.failure_reason = reason

    def retry_upgrade(self, now: datetime) -> None:
        """Queue the failed upgrade again (it resumes from its last completed step). Raises Conflict
        when there is no failed upgrade."""
        if self.state not in PLAYABLE or not self.pending_renditions or self.upgrade_failure is None:
            raise Conflict("This video has no failed conversion to retry.")
        self.upgrade_failure = None
        self.transcode_job = None
        self.progress = None
        self.queued_at = now
        self.updated_at = now

    def retry(self, now: datetime) -> None:
        """Put a failed video back in the queue (processing resumes from its last completed step)."""
        self._move(VideoState.UPLOADED, now)
        self.failure_reason = None
        self.queued_at = now

    def publish(self, now: datetime) -> None:
        self._move(VideoState.PUBLISHED, now)

    def unpublish(self, now: datetime) -> None:
        self._move(VideoState.READY, now)

    def archive(self, now: datetime) -> None:
        self._move(VideoState.ARCHIVED, now)
        self.pending_renditions = []
        self.upgrade_failure = None

    def strip(self, now: datetime) -> None:
        """Archive the video and forget its content and everything its creator wrote about it (the row
        stays, so purchases and statements that name its id still resolve to "Removed video")."""
        if self.state is not VideoState.ARCHIVED:
            self._move(VideoState.ARCHIVED, now)
        self.title = REMOVED_TITLE
        self.description = ""
        self.src_meta = None
        self.source_key = None
        self.source_size = None
        self.playlist = None
        self.manifest = {}
        self.video_tracks = []
        self.audio_tracks = []
        self.subtitle_tracks = []
        self.subtitle_sources = []
        self.cover_image = None
        self.cover_type = None
        self.fallback_cover_image = None
        self.failure_reason = None
        self.progress = None
        self.queued_at = None
        self.pending_renditions = []
        self.upgrade_failure = None
        self.updated_at = now

    @property
    def stripped(self) -> bool:
        return self.state is VideoState.ARCHIVED and self.title == REMOVED_TITLE and self.source_key is None

    # -- what the creator may change -----------------------------------------------------------

    @property
    def accepts_source(self) -> bool:
        return self.state in ACCEPTS_SOURCE

    @property
    def accepts_subtitles(self) -> bool:
        """Before processing (they go through the pipeline), or once every rendition is published (at
        once, as one more subtitles rendition); not while the pipeline works on the video (nor while
        renditions are pending: their next master would leave the new track out)."""
        return self.accepts_source or self.is_complete

    def check_new_subtitle(self, language: str) -> None:
        """Raises Conflict (not now) or InvalidSubtitle (too many, or the language is taken)."""
        if not self.accepts_subtitles:
            raise Conflict(
                "Subtitles can be added before the video is processed or once every quality is ready, not meanwhile."
            )
        if len(self.subtitle_sources) >= SUBTITLES_PER_VIDEO:
            raise InvalidSubtitle(f"A video can have at most {SUBTITLES_PER_VIDEO} subtitle files.")
        languages = {s.language for s in self.subtitle_sources} | {t.get("language") for t in self.subtitle_tracks}
        if language in languages:
            raise InvalidSubtitle(f"There is already a subtitle file in “{language}”.")

    def add_subtitle(self, subtitle: Subtitle, now: datetime) -> None:
        """A subtitle file for the pipeline to convert with the video."""
        if not self.accepts_source:
            raise Conflict("Subtitles can only be added before the video is processed.")
        self.check_new_subtitle(subtitle.language)
        self.subtitle_sources = [*self.subtitle_sources, subtitle]
        self.updated_at = now

    def add_published_subtitle(
        self, subtitle: Subtitle, manifest: Mapping[str, str], playlist: str, track: Mapping[str, Any], now: datetime
    ) -> None:
        """A subtitle file added to a ready video, already published as a new rendition: the video now
        plays from the new master playlist (same video and audio files)."""
        if not self.is_complete:
            raise Conflict(
                "Subtitles can be added before the video is processed or once every quality is ready, not meanwhile."
            )
        self.check_new_subtitle(subtitle.language)
        self.subtitle_sources = [*self.subtitle_sources, subtitle]
        self.subtitle_tracks = [*self.subtitle_tracks, dict(track)]
        self.manifest = dict(manifest)
        self.playlist = playlist
        self.updated_at = now

    def check_new_audio_track(self, name: str) -> None:
        """Raises Conflict (the video is not ready) or InvalidAudioTrack (too many, or the name is taken)."""
        if not self.is_complete:
            raise Conflict("An audio track can be added once every quality of the video is ready.")
        if len(self.audio_tracks) >= AUDIO_TRACKS_PER_VIDEO:
            raise InvalidAudioTrack(f"A video can have at most {AUDIO_TRACKS_PER_VIDEO} audio tracks.")
        if name and name in {t.get("name") for t in self.audio_tracks}:
            raise InvalidAudioTrack(f"This video already has an audio track named “{name}”: choose another name.")

    def add_published_audio_track(
        self,
        manifest: Mapping[str, str],
        playlist: str,
        track: Mapping[str, Any],
        now: datetime,
        published_bytes: int = 0,
    ) -> None:
        """An audio file added to a ready video, already published as a new audio rendition: the video
        now plays from the new master playlist (same video, other audio and subtitle files), and its
        published bytes (the creator's storage) grow by what the track added."""
        self.check_new_audio_track(str(track.get("name", "")))
        self.audio_tracks = [*self.audio_tracks, dict(track)]
        self.published_bytes += max(0, published_bytes)
        self.manifest = dict(manifest)
        self.playlist = playlist
        self.updated_at = now

    def set_cover(self, key: str, content_type: str, now: datetime) -> None:
        if self.state is VideoState.ARCHIVED:
            raise Conflict("An archived video cannot be changed.")
        self.cover_image = key
        self.cover_type = content_type
        self.updated_at = now

    # -- reading ------------------------------------------------------------------------------

    @property
    def is_playable(self) -> bool:
        """It plays (READY or PUBLISHED with a master playlist), perhaps still upgrading."""
        return self.state in PLAYABLE and self.playlist is not None

    @property
    def upgrading(self) -> bool:
        """Playable, with higher renditions still converting (not stopped by a failure)."""
        return self.state in PLAYABLE and bool(self.pending_renditions) and self.upgrade_failure is None

    @property
    def converting(self) -> bool:
        """The pipeline works on it: CONVERTING, or upgrading (the queue's job resumes either)."""
        return self.state is VideoState.CONVERTING or self.upgrading

    @property
    def is_complete(self) -> bool:
        """Playable with every rendition of its plan published."""
        return self.is_playable and not self.pending_renditions


@dataclass(frozen=True)
class VideoSummary:
    """A video as lists show it — enough for a card, without media, tracks or source details."""

    id: UUID
    public_id: str
    owner_id: UUID
    title: str
    state: VideoState
    duration: float | None
    created_at: datetime
    updated_at: datetime
    cover_image: str | None = None
    fallback_cover_image: str | None = None
    hidden: bool = False  # taken down or its owner suspended: shown to no one but its owner (Video.hidden)

    @classmethod
    def of(cls, video: Video) -> VideoSummary:
        return cls(
            id=video.id,
            public_id=video.public_id,
            owner_id=video.owner_id,
            title=video.title,
            state=video.state,
            duration=video.duration,
            created_at=video.created_at,
            updated_at=video.updated_at,
            cover_image=video.cover_image,
            fallback_cover_image=video.fallback_cover_image,
            hidden=video.hidden,
        )

    @property
    def has_cover(self) -> bool:
        return self.cover_image is not None or self.fallback_cover_image is not None

    @property
    def cover_version(self) -> str:
        """Changes when the cover may have changed (for cache-busting image URLs)."""
        return str(int(self.updated_at.timestamp()))


def check_details(title: str, description: str) -> tuple[str, str]:
    """Trimmed and composed (NFC, `core.text.tidy`) title and description; raise InvalidVideoDetails
    with a message per field."""
    title = one_line(title)
    description = tidy(description).strip()
    errors: dict[str, str] = {}
    if not title:
        errors["title"] = "Give your video a title."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"Keep the title to {TITLE_MAX} characters or fewer."
    if len(description) > DESCRIPTION_MAX:
        errors["description"] = f"Keep the description to {DESCRIPTION_MAX} characters or fewer."
    if errors:
        raise InvalidVideoDetails(errors)
    return title, description


_SRT_CUE = re.compile(r"^\s*(?:\d+\s*\r?\n)?\d{1,3}:\d{2}:\d{2}[,.]\d{3}\s*-->\s*\d{1,2}:\d{2}:\d{2}[,.]\d{3}", re.M)


def _subtitle_text(data: bytes) -> str:
    """Subtitle bytes as text, read as the pipeline reads them: UTF-16 with a byte-order mark, UTF-8
    (with or without one), else Windows-1252 (Latin-1 files from older tools)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def subtitle_format(data: bytes) -> str:
    """ "vtt" or "srt" for a well-formed subtitle file; raise InvalidSubtitle otherwise."""
    if len(data) > SUBTITLE_MAX_BYTES:
        raise InvalidSubtitle(f"Subtitle files must be smaller than {SUBTITLE_MAX_BYTES // (1024 * 1024)} MB.")
    text = _subtitle_text(data).replace("\r\n", "\n").replace("\r", "\n")  # Windows and old Mac line ends
    if not text.strip():
        raise InvalidSubtitle("The subtitle file is empty.")
    if "\x00" in text:
        raise InvalidSubtitle()
    if re.match(r"^WEBVTT(?:[ \t].*)?(?:\r?\n|$)", text):
        return "vtt"
    if _SRT_CUE.search(text):
        return "srt"
    raise InvalidSubtitle()


def check_language(language: str) -> str:
    language = language.strip()
    if not LANGUAGE_PATTERN.match(language):
        raise InvalidSubtitle("Use a language code such as “en”, “fr” or “pt-BR”.")
    return language


JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def cover_type(data: bytes) -> str:
    """The image's content type judged by its first bytes (never by its name); raise InvalidCover."""
    if not data:
        raise InvalidCover("The image file is empty.")
    if len(data) > COVER_MAX_BYTES:
        raise InvalidCover(f"The cover must be smaller than {COVER_MAX_BYTES // (1024 * 1024)} MB.")
    if data.startswith(JPEG_MAGIC):
        return "image/jpeg"
    if data.startswith(PNG_MAGIC):
        return "image/png"
    raise InvalidCover()


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def video_from_row(row: Mapping[str, Any]) -> Video:
    """A video from its `videos` row, as asyncpg returns it (JSON columns as text or already decoded)."""
    progress = _json(row["progress"])
    return Video(
        id=row["id"],
        public_id=row["public_id"],
        owner_id=row["owner_id"],
        title=row["title"],
        description=row["description"],
        state=VideoState(row["state"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        src_meta=_json(row["src_meta"]),
        source_key=row["source_key"],
        source_size=row["source_size"],
        playlist=row["playlist"],
        manifest=dict(_json(row["manifest"]) or {}),
        video_tracks=list(_json(row["video_tracks"]) or []),
        audio_tracks=list(_json(row["audio_tracks"]) or []),
        subtitle_tracks=list(_json(row["subtitle_tracks"]) or []),
        subtitle_sources=[Subtitle.from_dict(s) for s in _json(row["subtitle_sources"]) or []],
        cover_image=row["cover_image"],
        cover_type=row["cover_type"],
        fallback_cover_image=row["fallback_cover_image"],
        duration=row["duration"],
        failure_reason=row["failure_reason"],
        progress=ProcessingProgress.from_dict(progress) if progress else None,
        queued_at=row["queued_at"],
        published_bytes=row["published_bytes"],
        fair_tag=row["fair_tag"],
        transcode_job=row["transcode_job"],
        pending_renditions=[str(name) for name in _json(row["pending_renditions"]) or []],
        upgrade_failure=row["upgrade_failure"],
        taken_down_reason=row["taken_down_reason"],
        owner_suspended=row["owner_suspended"],
    )
