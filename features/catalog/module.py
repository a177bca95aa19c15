"""Wiring for the catalog: the service (it has no storage of its own) and its routes."""

from __future__ import annotations

from injector import Module, provider, singleton

from core.feature import Feature, NavLink
from features.accounts.service import AccountService
from features.catalog.controller import CatalogController
from features.catalog.service import CatalogService
from features.studio.service import StudioService


class CatalogModule(Module):
    @singleton
    @provider
    def catalog_service(self, studio: StudioService, accounts: AccountService) -> CatalogService:
        return CatalogService(studio, accounts)


FEATURE = Feature(
    name="catalog",
    module=CatalogModule,
    route_handlers=[CatalogController],
    nav=[NavLink("Browse", "/", "all", order=5), NavLink("Search", "/search", "all", order=6)],
)
