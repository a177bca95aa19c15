"""Wiring for preferences: the favourites store to its adapter, the service, the routes and the
account-page panels."""

from __future__ import annotations

from injector import Binder, Module, provider, singleton

from core.clock import Clock
from core.db import Database, tables_in
from core.di import bind_port
from core.feature import Feature
from core.uow import UnitOfWork
from features.catalog.service import CatalogService
from features.memberships.service import MembershipService
from features.offers.service import OffersService
from features.playback.service import PlaybackService
from features.preferences import tables as preferences_tables
from features.preferences.adapters import MemoryFavouriteRepository, PostgresFavouriteRepository
from features.preferences.controller import FavouriteController, PreferencesController
from features.preferences.ports import FavouriteRepository
from features.preferences.service import VideoPreferenceService
from features.studio.service import StudioService
from features.unlocks.service import UnlockService


class _PreferencesServiceModule(Module):
    @singleton
    @provider
    def preference_service(
        self,
        favourites: FavouriteRepository,
        catalog: CatalogService,
        studio: StudioService,
        unlocks: UnlockService,
        playback: PlaybackService,
        memberships: MembershipService,
        offers: OffersService,
        uow: UnitOfWork,
        clock: Clock,
    ) -> VideoPreferenceService:
        return VideoPreferenceService(favourites, catalog, studio, unlocks, playback, memberships, offers, uow, clock)


class PreferencesModule(_PreferencesServiceModule):
    @singleton
    @provider
    def favourites(self, db: Database) -> FavouriteRepository:
        return PostgresFavouriteRepository(db)


class MemoryPreferencesModule(_PreferencesServiceModule):
    def configure(self, binder: Binder) -> None:
        bind_port(binder, FavouriteRepository, MemoryFavouriteRepository())


FEATURE = Feature(
    name="preferences",
    module=PreferencesModule,
    memory_module=MemoryPreferencesModule,
    route_handlers=[FavouriteController, PreferencesController],
    me_panels=["preferences/_picks_panel.html", "preferences/_favourites_panel.html"],
    tables=tables_in(preferences_tables),
)
