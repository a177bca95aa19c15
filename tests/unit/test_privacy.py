"""Privacy rules on in-memory adapters with a clock that moves when told: which rentals are refunded,
when an export expires, what the deletion page promises, and the archive's CSV safety."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from injector import Injector, Module, provider, singleton

from core.clock import Clock, FrozenClock
from core.di import build_injector, get_port
from core.ids import uuid7
from core.jobs import JobQueue, MemoryJobQueue
from core.settings import Settings, SettingsError, load_settings
from core.storage import BlobStorage
from features.accounts.service import AccountService
from features.bootstrap import features_for
from features.gifts.service import GiftService
from features.ledger.adapters import MemoryLedgerRepository
from features.ledger.model import AccountRef, Entry, LedgerTotals, Leg, Transfer
from features.ledger.ports import LedgerRepository
from features.ledger.service import LedgerService
from features.memberships.service import MembershipService
from features.moderation.service import ModerationService
from features.offers.service import OffersService
from features.privacy.archive import ArchiveWriter, csv_cell
from features.privacy.model import ExportExpired, ExportNotFound, ExportNotReady, ExportStatus
from features.privacy.module import privacy_policy
from features.privacy.service import EXPORT_JOB, ErasureService, ExportService
from features.unlocks.service import UnlockService
from tests.support.privacy import open_zip
from tests.support.videos import PASSWORD, add_synthetic_video, fund, person, price_and_publish


def clock_of(memory: Injector) -> FrozenClock:
    clock = get_port(memory, Clock)
    assert isinstance(clock, FrozenClock)
    return clock


async def test_only_rentals_whose_own_period_is_still_running_are_refunded(memory: Injector) -> None:
    clock = clock_of(memory)
    creator = await person(memory, "Creator", creator=True)
    made = await add_synthetic_video(memory, creator.id)
    await price_and_publish(memory, creator.id, made.video, rent_day=50, rent_month=200, lifetime=500)
    ended, running, month, forever = [await person(memory, n) for n in ("Ended", "Running", "Month", "Forever")]
    unlocks = memory.get(UnlockService)
    for viewer in (ended, running, month, forever):
        await fund(memory, viewer.id, 1000)
    await unlocks.unlock(ended.id, made.video.public_id, "rent_day", "key-ended-000001", 50)
    await unlocks.unlock(month.id, made.video.public_id, "rent_month", "key-month-000001", 200)
    clock.advance(timedelta(hours=24, seconds=1))  # the first day-long rental is over
    await unlocks.unlock(running.id, made.video.public_id, "rent_day", "key-running-0001", 50)
    await unlocks.unlock(forever.id, made.video.public_id, "lifetime", "key-forever-0001", 500)
    clock.advance(timedelta(hours=23))

    plan = await memory.get(ErasureService).plan(creator.id)
    assert (plan.running_rentals, plan.refund_points) == (2, 250)
    await memory.get(ErasureService).delete_account(creator.id, PASSWORD, True)

    ledger = memory.get(LedgerService)
    found = await ledger.balances(AccountRef.wallet(v.id) for v in (ended, running, month, forever))
    assert list(found.values()) == [950, 1000, 1000, 500]
    assert await ledger.balance(AccountRef.earnings(creator.id)) == 0


async def test_the_deletion_page_promises_what_happens_to_the_money(memory: Injector) -> None:
    creator = await person(memory, "Creator", creator=True)
    made = await add_synthetic_video(memory, creator.id)
    await price_and_publish(memory, creator.id, made.video, rent_day=100)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 300)
    await memory.get(UnlockService).unlock(viewer.id, made.video.public_id, "rent_day", "key-plan-0000001", 100)
    plan = await memory.get(ErasureService).plan(creator.id)
    # 100 paid: 90 to the creator, 10 fee; a refund takes the 90 back from earnings, nothing is left
    assert (plan.earnings_points, plan.refund_points, plan.refund_share, plan.earnings_forfeited) == (90, 100, 90, 0)
    assert plan.blocked_reason == ""
    viewer_plan = await memory.get(ErasureService).plan(viewer.id)
    assert (viewer_plan.wallet_points, viewer_plan.is_creator, viewer_plan.running_rentals) == (200, False, 0)


async def test_an_export_is_built_by_its_job_and_expires_after_the_ttl(memory: Injector) -> None:
    clock = clock_of(memory)
    exports = memory.get(ExportService)
    queue = get_port(memory, JobQueue)
    assert isinstance(queue, MemoryJobQueue)

    async def build(export_id: str) -> Any:
        return await exports.build(UUID(export_id))

    queue.handlers[EXPORT_JOB] = build
    owner = await person(memory, "Owner")
    stranger = await person(memory, "Stranger")
    export = await exports.request(owner.id)
    with pytest.raises(ExportNotReady):
        await exports.download(owner.id, export.id)
    assert await queue.run_all() == 1
    with pytest.raises(ExportNotFound):
        await exports.download(stranger.id, export.id)
    download = await exports.download(owner.id, export.id)
    data = b"".join([chunk async for chunk in download.chunks])
    assert b"Owner" in open_zip(data).read("profile.json")

    clock.advance(exports.policy.export_ttl - timedelta(seconds=1))
    assert (await exports.download(owner.id, export.id)).export.id == export.id
    clock.advance(timedelta(seconds=1))
    with pytest.raises(ExportExpired):
        await exports.download(owner.id, export.id)
    [listed] = await exports.exports_of(owner.id)
    assert listed.status is ExportStatus.EXPIRED
    assert await exports.expire_due() == 1
    assert not await get_port(memory, BlobStorage).exists(f"privacy/exports/{export.id}.zip")


async def test_an_export_whose_job_was_lost_is_queued_again_and_given_up_after_hours(memory: Injector) -> None:
    clock = clock_of(memory)
    exports = memory.get(ExportService)
    queue = get_port(memory, JobQueue)
    assert isinstance(queue, MemoryJobQueue)

    async def build(export_id: str) -> Any:
        return await exports.build(UUID(export_id))

    queue.handlers[EXPORT_JOB] = build
    owner = await person(memory, "Owner")
    lost = await exports.request(owner.id)
    queue.jobs.clear()  # the process that asked died before its job was queued
    assert await exports.resume_pending() == 0  # not yet: it may still be on its way
    clock.advance(exports.policy.export_stall + timedelta(seconds=1))
    assert await exports.resume_pending() == 1
    assert await exports.resume_pending() == 1
    assert len(queue.jobs) == 1  # queued once, whatever the number of sweeps
    assert await queue.run_all() == 1
    assert (await exports.exports_of(owner.id))[0].status is ExportStatus.READY
    assert await exports.resume_pending() == 0

    clock.advance(exports.policy.export_interval)
    again = await exports.request(owner.id)
    assert again.id != lost.id
    queue.jobs.clear()  # lost again, and no worker ever builds it
    clock.advance(exports.policy.export_give_up + timedelta(seconds=1))
    assert await exports.resume_pending() == 1
    [given_up, _] = await exports.exports_of(owner.id)
    assert (given_up.id, given_up.status) == (again.id, ExportStatus.FAILED)
    assert (await exports.request(owner.id)).id not in {lost.id, again.id}  # the person may ask again


async def test_a_deleted_account_gets_no_more_exports_and_its_old_ones_are_gone(memory: Injector) -> None:
    exports = memory.get(ExportService)
    owner = await person(memory, "Leaving")
    done = await exports.request(owner.id)
    await exports.build(done.id)
    await memory.get(ErasureService).delete_account(owner.id, PASSWORD, True)
    assert await exports.exports_of(owner.id) == []
    assert not await get_port(memory, BlobStorage).exists(f"privacy/exports/{done.id}.zip")
    user = await memory.get(AccountService).get_user(owner.id)
    assert user is not None
    assert user.erased
    assert (user.email, user.display_name) == (f"erased-{owner.id.hex}@erased.invalid", "Deleted account")


@pytest.mark.parametrize("text", ["=1+1", "+SUM(A1)", "-2", "@cmd", "\t=x"])
def test_csv_cells_never_start_a_formula(text: str) -> None:
    assert csv_cell(text).startswith("'")


async def test_the_archive_writes_rows_as_they_come(tmp_path: Path) -> None:
    async def rows() -> Any:
        for n in range(3):
            yield {"n": n, "note": f"=row {n}"}

    writer = ArchiveWriter(tmp_path / "a.zip")
    assert await writer.csv_rows("a.csv", ("n", "note"), rows()) == 3
    assert await writer.json_rows("a.json", []) == 0
    writer.close()
    archive = open_zip((tmp_path / "a.zip").read_bytes())
    parsed = list(csv.reader(io.StringIO(archive.read("a.csv").decode())))
    assert parsed == [["n", "note"], ["0", "'=row 0"], ["1", "'=row 1"], ["2", "'=row 2"]]
    assert archive.read("a.json") == b"[]\n"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PRIVACY_EXPORT_TTL_HOURS", "0"),
        ("PRIVACY_EXPORT_TTL_HOURS", "soon"),
        ("PRIVACY_EXPORT_TTL_HOURS", "100000"),
        ("PRIVACY_CONTENT_GRACE_DAYS", "-1"),
        ("PRIVACY_CONTENT_GRACE_DAYS", "1.5"),
        ("PRIVACY_CONTENT_GRACE_DAYS", "366"),
    ],
)
def test_a_bad_privacy_setting_stops_start_up_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings({variable: value})


def test_the_privacy_settings_reach_the_policy(tmp_path: Path) -> None:
    settings = load_settings(
        {"PRIVACY_EXPORT_TTL_HOURS": "6", "PRIVACY_CONTENT_GRACE_DAYS": "0", "DATA_DIR": str(tmp_path)}
    )
    policy = privacy_policy(settings)
    assert (policy.export_ttl, policy.content_grace) == (timedelta(hours=6), timedelta(0))


async def test_the_export_holds_memberships_bundles_codes_and_gifts(memory: Injector, tmp_path: Path) -> None:
    """Issue 17: what a viewer did with memberships, bundles, promo codes and gifts is in their export."""
    creator = await person(memory, "Creator", creator=True)
    video = (await add_synthetic_video(memory, creator.id, title="Course part")).video
    video = await price_and_publish(memory, creator.id, video, lifetime=300)
    memberships, offers, gifts = memory.get(MembershipService), memory.get(OffersService), memory.get(GiftService)
    tier = await memberships.create_tier(creator.id, name="Fans", price="100", all_videos=True, video_ids=[])
    bundle = await offers.create_bundle(creator.id, "Course", "", "250")
    await offers.add_video(creator.id, bundle.public_id, video.public_id)
    await offers.create_code(creator.id, "spring", "percent", "20", f"bundle:{bundle.public_id}", "5", "")
    viewer, friend = await person(memory, "Viewer"), await person(memory, "Friend")
    await fund(memory, viewer.id, 1000)
    await fund(memory, friend.id, 100)
    await memberships.join(viewer.id, tier.id, "join-key-0000000000000001", "100")
    await offers.buy_bundle(viewer.id, bundle.public_id, "b" * 20, "200", "spring")
    await gifts.send(viewer, "30", "someone.else@example.org", "for you", "gift-key-00000000000001")
    await gifts.send(friend, "40", viewer.email, "thanks!", "gift-key-00000000000002")
    user = await memory.get(AccountService).get_user(viewer.id)
    assert user is not None
    await gifts.claim_for(user)

    path = tmp_path / "export.zip"
    entries = await memory.get(ExportService).write_archive(user, path)
    archive = open_zip(path.read_bytes())

    [joined] = json.loads(archive.read("money/memberships.json"))
    assert (joined["creator"], joined["tier"], joined["monthly_price"], joined["state"]) == (
        "Creator",
        "Fans",
        100,
        "active",
    )
    assert [(c["kind"], c["points"], c["fee"]) for c in joined["charges"]] == [("join", 100, 10)]
    assert entries["money/membership_charges.csv"] == 1
    [bought] = json.loads(archive.read("money/bundle_purchases.json"))
    assert (bought["bundle_title"], bought["list_price"], bought["discount"], bought["points"], bought["code"]) == (
        "Course",
        250,
        50,
        200,
        "SPRING",
    )
    [row] = list(csv.DictReader(io.StringIO(archive.read("money/bundle_purchases.csv").decode())))
    assert row["code"] == "SPRING"
    [sent] = json.loads(archive.read("money/gifts_sent.json"))
    assert (sent["to"], sent["amount"], sent["message"], sent["state"]) == (
        "someone.else@example.org",
        30,
        "for you",
        "pending",
    )
    [received] = json.loads(archive.read("money/gifts_received.json"))
    assert (received["amount"], received["message"]) == (40, "thanks!")
    assert "code_redemptions" in archive.read("README.txt").decode()
    assert "money/code_redemptions.json" in archive.namelist()


async def test_a_rental_refunded_by_a_take_down_is_not_refunded_again_when_its_creator_closes(
    memory: Injector,
) -> None:
    """A take-down refunds a running rental and leaves its access running; the creator deleting their
    account afterwards refunds running rentals — but not that one a second time (and the other way round:
    a take-down after the closure gives nothing more back)."""
    creator = await person(memory, "Creator", creator=True)
    taken, kept = await add_synthetic_video(memory, creator.id), await add_synthetic_video(memory, creator.id)
    for made in (taken, kept):
        await price_and_publish(memory, creator.id, made.video, rent_day=50)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 100)
    unlocks = memory.get(UnlockService)
    await unlocks.unlock(viewer.id, taken.video.public_id, "rent_day", "key-taken-000001", 50)
    await unlocks.unlock(viewer.id, kept.video.public_id, "rent_day", "key-kept-0000001", 50)
    stella = await person(memory, "Stella")
    staff = (await memory.get(AccountService).set_staff(stella.email, True)).principal()
    moderation = memory.get(ModerationService)
    assert (await moderation.take_down(staff, taken.video.id, "Scam")).refunded_points == 50

    plan = await memory.get(ErasureService).plan(creator.id)
    assert (plan.running_rentals, plan.refund_points) == (1, 50)
    erasure = await memory.get(ErasureService).delete_account(creator.id, PASSWORD, True)
    assert (erasure.refunded_rentals, erasure.refunded_points) == (1, 50)
    assert (await moderation.take_down(staff, kept.video.id, "Scam")).refunded_points == 0

    assert await memory.get(LedgerService).balance(AccountRef.wallet(viewer.id)) == 100  # all of it, once
    assert await memory.get(LedgerService).verify() == []


async def test_a_work_folder_left_by_a_killed_build_is_removed_and_a_live_one_is_kept(memory: Injector) -> None:
    """A build killed while writing its ZIP leaves its `hypha-export-*` folder in the work directory; the
    exports cron removes such folders once nothing in them has moved for longer than any build may run,
    and leaves alone one whose ZIP is still being written and anything that is not an export's."""
    exports = memory.get(ExportService)
    work = exports.policy.work_dir
    assert work is not None
    old = time.time() - 3 * 3600
    left = work / "hypha-export-killed"
    (left / "nested").mkdir(parents=True)
    for path in (left / "export.zip", left / "nested" / "part"):
        path.write_bytes(b"PK partial")
        os.utime(path, (old, old))
    for path in (left / "nested", left):
        os.utime(path, (old, old))
    live = work / "hypha-export-live"
    live.mkdir()
    (live / "export.zip").write_bytes(b"PK still growing")
    os.utime(live, (old, old))  # the folder was made hours ago, its ZIP was written to just now
    other = work / "someone-elses"
    other.mkdir()
    os.utime(other, (old, old))
    assert await exports.sweep_work_folders() == 1
    assert not left.exists()
    assert live.exists()
    assert other.exists()


class SpendDuringRead:
    """The ledger's store, with a spend from another tab that commits right after the wallet's balance
    is read (once, when armed): the deletion then moves a balance that is no longer there."""

    def __init__(self, inner: MemoryLedgerRepository) -> None:
        self.inner = inner
        self.armed: tuple[AccountRef, int] | None = None

    async def post(self, transfer: Transfer, allow_negative: frozenset[AccountRef]) -> Transfer:
        return await self.inner.post(transfer, allow_negative)

    async def by_key(self, idempotency_key: str) -> Transfer | None:
        return await self.inner.by_key(idempotency_key)

    async def with_metadata(self, key: str, value: str) -> list[Transfer]:
        return await self.inner.with_metadata(key, value)

    async def balances(self, accounts: Iterable[AccountRef]) -> dict[AccountRef, int]:
        wanted = list(accounts)
        found = await self.inner.balances(wanted)
        if self.armed is not None and self.armed[0] in wanted:
            wallet, points = self.armed
            self.armed = None
            legs = (Leg(wallet, AccountRef.platform_revenue(), points),)
            await self.inner.post(Transfer(uuid7(), "other-tab-spend", "unlock", legs), frozenset())
        return found

    async def entries(self, account: AccountRef, before: int | None, limit: int) -> list[Entry]:
        return await self.inner.entries(account, before, limit)

    async def totals(self) -> LedgerTotals:
        return await self.inner.totals()

    async def violations(self) -> list[str]:
        return await self.inner.violations()


class SpendingOverride(Module):
    @singleton
    @provider
    def racing(self, inner: MemoryLedgerRepository) -> SpendDuringRead:
        return SpendDuringRead(inner)

    @singleton
    @provider
    def repository(self, racing: SpendDuringRead) -> LedgerRepository:
        return racing


async def test_a_spend_committing_while_the_account_is_deleted_forfeits_the_rest_and_deletes(
    memory_settings: Settings,
) -> None:
    # A viewer deletes their account while another tab's unlock commits between the deletion's read of
    # the wallet and its forfeit: the deletion used to move the balance it had read, which the ledger
    # refused (402, nothing deleted). It forfeits what is left instead.
    injector = build_injector(memory_settings, features_for(memory_settings), SpendingOverride(), memory=True)
    viewer = await person(injector, "Viewer")
    await fund(injector, viewer.id, 300)
    injector.get(SpendDuringRead).armed = (AccountRef.wallet(viewer.id), 120)
    erasure = await injector.get(ErasureService).delete_account(viewer.id, PASSWORD, True)
    ledger = injector.get(LedgerService)
    assert erasure.forfeited_wallet_points == 180
    assert await ledger.balance(AccountRef.wallet(viewer.id)) == 0
    assert await ledger.verify() == []
