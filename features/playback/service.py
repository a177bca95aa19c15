"""Playback use cases: serve a video's HLS files and AES key to whoever may watch, the free preview
to everyone else, and record where viewers are (heartbeats).

Who may watch is the unlocks feature's answer (`UnlockService.access`), asked again on every request:
when a rental ends, the next key request is refused.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID

from core.clock import Clock
from core.errors import TooManyRequests
from core.ratelimit import RateLimiter, address_key
from features.accounts.service import AccountService
from features.pipeline.model import ContentNotFound
from features.pipeline.service import TranscodeService
from features.playback.model import (
    MASTER,
    STORYBOARD_TRACK,
    BeyondPreview,
    DeviceIds,
    Heartbeat,
    KeyFetchDay,
    LoginToWatch,
    MediaFile,
    MediaNotFound,
    NotPlayable,
    PlaybackLocked,
    PreviewPlan,
    check_heartbeat,
    content_type,
    decrypt_segment,
    is_playlist,
    is_sprite_name,
    is_text_track,
    preview_plan,
    preview_webvtt,
    resolve,
    sprites_in_window,
    thumbnail_cues,
    thumbnails_track,
    variant_playlists,
    viewer_key,
)
from features.playback.ports import HeartbeatRepository, KeyFetchLog
from features.studio.model import Video
from features.studio.service import StudioService
from features.unlocks.model import Access, AccessLevel
from features.unlocks.service import UnlockService

PLAYLIST_CACHE = "private, no-cache"
SEGMENT_CACHE = "private, max-age=3600"
_CACHED_TEXTS = 512
_CACHED_PLANS = 64


@dataclass(frozen=True)
class PlaybackPolicy:
    heartbeats_per_window: int = 30  # a player beats every 10 s, plus on pause and end
    heartbeat_window_seconds: int = 60
    view_window_seconds: int = 6 * 3600  # one view per viewer per video per window
    devices_per_address_per_hour: int = 20  # new visitor device ids handed to one address


class PlaybackService:
    def __init__(
        self,
        unlocks: UnlockService,
        media: TranscodeService,
        heartbeats: HeartbeatRepository,
        limiter: RateLimiter,
        clock: Clock,
        policy: PlaybackPolicy | None = None,
        devices: DeviceIds | None = None,
        key_fetches: KeyFetchLog | None = None,
    ) -> None:
        self.unlocks = unlocks
        self.media = media
        self.heartbeats = heartbeats
        self.limiter = limiter
        self.clock = clock
        self.policy = policy or PlaybackPolicy()
        self.devices = devices or DeviceIds(secrets.token_hex(32))
        self.key_fetches = key_fetches
        # Published files never change (their names are their hashes), so their texts and the preview
        # cut from them can be kept here; nothing another process needs lives only in this cache.
        self._texts: OrderedDict[str, str] = OrderedDict()
        self._plans: OrderedDict[tuple[str, int], PreviewPlan] = OrderedDict()
        self._cuts: OrderedDict[tuple[str, int], bytes] = OrderedDict()

    # -- what may be watched ------------------------------------------------------------------------------

    async def _watchable(self, viewer_id: UUID | None, public_id: str) -> tuple[Video, Access]:
        video = await self.unlocks.visible_video(viewer_id, public_id)
        if not video.is_playable:  # READY or PUBLISHED: perhaps still upgrading (its master grows)
            raise NotPlayable()
        return video, await self.unlocks.access(viewer_id, video)

    async def media_file(self, viewer_id: UUID | None, public_id: str, path: str) -> MediaFile:
        """A playlist, segment or subtitle file of the video, as published (segments encrypted), for a
        viewer with full access (owner, free video, unexpired entitlement).

        Raises VideoUnavailable / NotPlayable (404), MediaNotFound (404: not in the manifest),
        LoginToWatch or PlaybackLocked (403).
        """
        video, access = await self._watchable(viewer_id, public_id)
        if not access.full:
            raise LoginToWatch() if viewer_id is None else PlaybackLocked()
        cid = video.manifest.get(path)
        if cid is None:
            raise MediaNotFound()
        if is_playlist(path):
            return MediaFile((await self._text(cid)).encode(), content_type(path), PLAYLIST_CACHE)
        return MediaFile(await self._read(cid), content_type(path), SEGMENT_CACHE)

    async def preview_file(self, viewer_id: UUID | None, public_id: str, path: str) -> MediaFile:
        """A file of the free preview: the master playlist, a media playlist cut to the preview, or a
        segment inside the preview, decrypted. Anyone who may see the video may watch its preview.

        Raises VideoUnavailable / NotPlayable / MediaNotFound (404), PlaybackLocked (403: no preview),
        BeyondPreview (403: a segment past the preview). A WebVTT file is served as a copy holding only
        the cues that start inside the window, cut at its end (`preview_webvtt`).
        """
        video, access = await self._watchable(viewer_id, public_id)
        seconds = access.pricing.preview_seconds if not access.pricing.free else 0
        if seconds <= 0:
            raise PlaybackLocked("This video has no free preview.")
        cid = video.manifest.get(path)
        if cid is None:
            raise MediaNotFound()
        plan = await self._plan(video, seconds)
        if path == _master_path(video):
            return MediaFile((await self._text(cid)).encode(), content_type(path), PLAYLIST_CACHE)
        if path in plan.playlists:
            return MediaFile(plan.playlists[path].encode(), content_type(path), PLAYLIST_CACHE)
        if path not in plan.segments:
            raise BeyondPreview()
        iv = plan.segments[path]
        if iv is None and is_text_track(path):  # one WebVTT file may span the whole video: a copy cut at the window
            return MediaFile(await self._preview_text(cid, plan.seconds), content_type(path), PLAYLIST_CACHE)
        body = await self._read(cid)
        if iv is not None:
            key = await self.media.key_for(str(video.id))
            if key is None:
                raise MediaNotFound()
            body = decrypt_segment(body, key.key, iv)
        if is_text_track(path):
            return MediaFile(
                preview_webvtt(body.decode("utf-8", "replace"), plan.seconds).encode(),
                content_type(path),
                PLAYLIST_CACHE,
            )
        return MediaFile(body, content_type(path), SEGMENT_CACHE)

    async def key(self, viewer_id: UUID | None, public_id: str) -> bytes:
        """The video's AES-128 key, for a viewer with full access right now (checked on every call).

        Raises VideoUnavailable / NotPlayable (404), LoginToWatch (403: a visitor, paid video),
        PlaybackLocked (403: no access, or the rental has ended). Every key handed to a signed-in viewer
        is counted in the key-fetch log (per viewer, video and day) for staff to see. The first key of a
        rental that waits for its first play starts its clock (UnlockService.start_rental).
        """
        video, access = await self._watchable(viewer_id, public_id)
        if not access.full:
            raise LoginToWatch() if viewer_id is None else PlaybackLocked()
        found = await self.media.key_for(str(video.id))
        if found is None:
            raise MediaNotFound()
        waiting = access.entitlement is not None and access.entitlement.waiting is not None
        if viewer_id is not None and waiting and access.level is AccessLevel.ENTITLED:
            # The first play of a rental bought under RENTAL_CLOCK=first_play: its clock starts here, the
            # one request no player can skip (segments are encrypted).
            await self.unlocks.start_rental(viewer_id, video.id)
        if viewer_id is not None and self.key_fetches is not None:
            await self.key_fetches.record(viewer_id, video.id, self.clock.now())
        return found.key

    # -- seek previews ------------------------------------------------------------------------------------

    def _thumbnail_window(self, viewer_id: UUID | None, access: Access) -> float | None:
        """None: every thumbnail; else the seconds of the free preview whose thumbnails the viewer may see."""
        if access.full:
            return None
        seconds = access.pricing.preview_seconds if not access.pricing.free else 0
        if seconds <= 0:
            raise LoginToWatch() if viewer_id is None else PlaybackLocked()
        return float(seconds)

    async def thumbnails(self, viewer_id: UUID | None, public_id: str) -> MediaFile:
        """The video's WebVTT thumbnails track for this viewer, its sprites named by their address here
        (`/v/<public id>/storyboard/<sprite>`): every cue with full access; without, only the cues of the
        sprites wholly inside the free preview (`sprites_in_window`).

        Raises VideoUnavailable / NotPlayable / MediaNotFound (404: no storyboard), LoginToWatch or
        PlaybackLocked (403: no access and no preview)."""
        video, access = await self._watchable(viewer_id, public_id)
        window = self._thumbnail_window(viewer_id, access)
        cid = video.manifest.get(STORYBOARD_TRACK)
        if cid is None:
            raise MediaNotFound()
        cues = thumbnail_cues(await self._text(cid))
        text = thumbnails_track(cues, f"/v/{video.public_id}/storyboard/", window)
        return MediaFile(text.encode(), content_type(STORYBOARD_TRACK), PLAYLIST_CACHE)

    async def storyboard_sprite(self, viewer_id: UUID | None, public_id: str, name: str) -> MediaFile:
        """One sprite of the storyboard, for a viewer whose thumbnails track names it.

        Raises VideoUnavailable / NotPlayable / MediaNotFound (404), LoginToWatch or PlaybackLocked (403:
        no access and no preview), BeyondPreview (403: a sprite with a frame past the free preview)."""
        video, access = await self._watchable(viewer_id, public_id)
        window = self._thumbnail_window(viewer_id, access)
        cid = video.manifest.get(f"storyboard/{name}") if is_sprite_name(name) else None
        track = video.manifest.get(STORYBOARD_TRACK)
        if cid is None or track is None:
            raise MediaNotFound()
        if window is not None and name not in sprites_in_window(thumbnail_cues(await self._text(track)), window):
            raise BeyondPreview()
        return MediaFile(await self._read(cid), content_type(name), SEGMENT_CACHE)

    async def access(self, viewer_id: UUID | None, public_id: str) -> tuple[Video, Access]:
        """The video and what the viewer may watch of it (for pages that embed the player)."""
        return await self._watchable(viewer_id, public_id)

    # -- heartbeats ---------------------------------------------------------------------------------------

    async def heartbeat(
        self,
        viewer_id: UUID | None,
        public_id: str,
        session_id: str,
        position: float | int | str,
        *,
        client: str,
        device: str | None = None,
    ) -> Heartbeat:
        """Record where a player is. Anyone watching (fully or the preview) may send them, at most
        `heartbeats_per_window` per window per viewer (visitors: per client address).

        The player's session id does not make a view: the heartbeat joins the viewer's current view of
        the video (the viewer: the signed-in user, else the visitor's signed `device` cookie value, else
        its address), and a new view starts only from another player session once the current one began
        `view_window_seconds` ago. The returned heartbeat carries the view's id as its session id.

        Raises InvalidHeartbeat (422), TooManyRequests (429), VideoUnavailable / NotPlayable (404),
        PlaybackLocked (403: nothing to watch).
        """
        video, access = await self._watchable(viewer_id, public_id)
        session_id, seconds = check_heartbeat(session_id, position, video.duration)
        if not (access.full or access.pricing.has_preview):
            raise PlaybackLocked()
        who = f"user:{viewer_id}" if viewer_id else f"ip:{address_key(client)}"
        policy = self.policy
        allowance = await self.limiter.hit(
            f"heartbeat:{who}", policy.heartbeats_per_window, policy.heartbeat_window_seconds
        )
        if not allowance.allowed:
            raise TooManyRequests("Heartbeats are arriving too fast.", retry_after=allowance.retry_after)
        beat = Heartbeat(viewer_id, video.id, session_id, seconds, not access.full, self.clock.now())
        key = viewer_key(viewer_id, self.devices.verify(device), client)
        return await self.heartbeats.add_to_view(beat, key, policy.view_window_seconds)

    async def new_device(self, viewer_id: UUID | None, device: str | None, client: str) -> str | None:
        """A signed device id for a visitor whose `device` cookie value is missing or not ours (None for
        signed-in viewers, valid devices, and once the address has been handed
        `devices_per_address_per_hour` new ones this hour: it is then counted by its address)."""
        if viewer_id is not None or self.devices.verify(device) is not None:
            return None
        allowance = await self.limiter.hit(
            f"device:ip:{address_key(client)}", self.policy.devices_per_address_per_hour, 3600
        )
        return self.devices.issue() if allowance.allowed else None

    async def watched_video_ids(self, viewer_id: UUID) -> set[UUID]:
        """Every video the viewer has watched (sent at least one heartbeat for)."""
        return await self.heartbeats.watched_video_ids(viewer_id)

    async def heartbeats_after(self, after_id: int, limit: int = 10_000) -> list[Heartbeat]:
        """Stored heartbeats with an id above `after_id`, oldest first, each with its `id` (analytics and
        the live dashboard read new heartbeats this way, with a cursor on the id)."""
        return await self.heartbeats.after(after_id, limit)

    async def heartbeats_of(self, viewer_id: UUID, after_id: int = 0, limit: int = 1000) -> list[Heartbeat]:
        """A page of the viewer's own heartbeats, oldest first (for their data export): pass the last
        one's `id` as `after_id` for the next page."""
        return await self.heartbeats.of_viewer(viewer_id, after_id, max(1, min(limit, 10_000)))

    # -- published files --------------------------------------------------------------------------------

    async def _read(self, cid: str) -> bytes:
        try:
            return await self.media.read_published(cid)
        except ContentNotFound as error:
            raise MediaNotFound() from error

    async def _text(self, cid: str) -> str:
        text = self._texts.get(cid)
        if text is None:
            text = (await self._read(cid)).decode("utf-8")
            self._texts[cid] = text
            if len(self._texts) > _CACHED_TEXTS:
                self._texts.popitem(last=False)
        else:
            self._texts.move_to_end(cid)
        return text

    async def _preview_text(self, cid: str, seconds: int) -> bytes:
        """A published WebVTT file cut to the first `seconds` (kept: files never change, nor their cuts)."""
        slot = (cid, seconds)
        cut = self._cuts.get(slot)
        if cut is None:
            cut = preview_webvtt((await self._read(cid)).decode("utf-8", "replace"), seconds).encode()
            self._cuts[slot] = cut
            if len(self._cuts) > _CACHED_PLANS:
                self._cuts.popitem(last=False)
        else:
            self._cuts.move_to_end(slot)
        return cut

    async def _plan(self, video: Video, seconds: int) -> PreviewPlan:
        master = _master_path(video)
        master_cid = video.manifest.get(master)
        if master_cid is None:
            raise MediaNotFound()
        slot = (master_cid, seconds)
        plan = self._plans.get(slot)
        if plan is not None:
            return plan
        master_text = await self._text(master_cid)
        playlists: dict[str, str] = {}
        for uri in variant_playlists(master_text):
            path = resolve(master, uri)
            if path is not None and path in video.manifest:
                playlists[path] = await self._text(video.manifest[path])
        plan = preview_plan(master, master_text, playlists, seconds)
        self._plans[slot] = plan
        if len(self._plans) > _CACHED_PLANS:
            self._plans.popitem(last=False)
        return plan


def _master_path(video: Video) -> str:
    """The manifest path of the master playlist (the pipeline names it master.m3u8)."""
    if video.playlist:
        for path, cid in video.manifest.items():
            if cid == video.playlist:
                return path
    return MASTER


# -- the key-fetch audit, for staff ----------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyFetchLine:
    """A viewer-video-day of key fetches, with the names staff need to act on it."""

    fetches: KeyFetchDay
    viewer_email: str
    viewer_name: str
    video_title: str
    video_public_id: str | None

    @property
    def day(self) -> date:
        return self.fetches.day

    @property
    def count(self) -> int:
        return self.fetches.fetches

    @property
    def first_at(self) -> datetime:
        return self.fetches.first_at

    @property
    def last_at(self) -> datetime:
        return self.fetches.last_at


class KeyAuditService:
    """What staff see of key fetches: viewers who fetched one video's key unusually often in a day.

    A player needs the key once per playback (hls.js keeps it for the session; a reload or a quality
    switch may fetch it again), so a handful a day is normal; `alert_per_day` (KEY_FETCHES_ALERT_PER_DAY)
    is where staff start looking. The audit says who to look at; it does not block anyone.
    """

    MAX_LINES = 200

    def __init__(
        self,
        fetches: KeyFetchLog,
        accounts: AccountService,
        studio: StudioService,
        clock: Clock,
        alert_per_day: int,
    ) -> None:
        self.fetches = fetches
        self.accounts = accounts
        self.studio = studio
        self.clock = clock
        self.alert_per_day = alert_per_day

    def _today(self) -> date:
        return self.clock.now().date()

    async def unusual(self, days: int = 7) -> list[KeyFetchLine]:
        """The viewer-video-days of the last `days` UTC days (today included) with at least
        `alert_per_day` key fetches, most fetches first."""
        today = self._today()
        found = await self.fetches.busiest(today - timedelta(days=days - 1), today, self.alert_per_day, self.MAX_LINES)
        return await self._named(found)

    async def of_viewer(self, viewer_id: UUID, days: int = 30) -> list[KeyFetchLine]:
        """Every key fetch of the viewer per video per day over the last `days` days, latest first."""
        since = self._today() - timedelta(days=days - 1)
        return await self._named(await self.fetches.of_viewer(viewer_id, since, self.MAX_LINES))

    async def _named(self, found: list[KeyFetchDay]) -> list[KeyFetchLine]:
        users: dict[UUID, tuple[str, str]] = {}
        videos: dict[UUID, tuple[str, str | None]] = {}
        for item in found:
            if item.viewer_id not in users:
                user = await self.accounts.get_user(item.viewer_id)
                users[item.viewer_id] = (user.email, user.display_name) if user else ("(deleted account)", "")
            if item.video_id not in videos:
                video = await self.studio.get_video(item.video_id)
                videos[item.video_id] = (video.title, video.public_id) if video else ("(deleted video)", None)
        return [KeyFetchLine(item, *users[item.viewer_id], *videos[item.video_id]) for item in found]
