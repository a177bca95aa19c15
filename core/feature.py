"""What a feature hands the composition root: routes, injector modules, jobs, commands, tables and
start-up hooks — and the `Composition`, the features of one application, which core is given and
never imports (the composition root, features/bootstrap.py, builds it)."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from injector import Injector, Module
    from litestar.types import ControllerRouterHandler
    from piccolo.table import Table

    from core.settings import Settings

JobFunction = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class CronSpec:
    function: JobFunction
    cron: str
    timeout: int = 300


def _no_arguments(_parser: argparse.ArgumentParser) -> None:
    return None


@dataclass(frozen=True)
class Command:
    """A `hypha` sub-command: its name, its help line, what it runs and the arguments it takes.

    `run` gets the parsed arguments and the application's `Composition`, from which it builds the
    injector of the configured features when it needs one."""

    name: str
    help: str
    run: Callable[[argparse.Namespace, Composition], None]
    configure: Callable[[argparse.ArgumentParser], None] = _no_arguments


def always(_settings: Settings) -> bool:
    return True


@dataclass(frozen=True)
class Feature:
    name: str
    module: type[Module]
    memory_module: type[Module] | None = None
    route_handlers: Sequence[ControllerRouterHandler] = ()
    jobs: Sequence[JobFunction] = ()
    cron_jobs: Sequence[CronSpec] = ()
    on_startup: Sequence[Callable[[Injector], Awaitable[None]]] = field(default_factory=tuple)
    csrf_exempt: Sequence[str] = ()
    nav: Sequence[NavLink] = ()
    header_partials: Sequence[str] = ()
    """Templates shown in the site header for logged-in users (e.g. the wallet balance pill)."""
    # Templates the account page (/me) includes, in feature order; each is a self-contained partial
    # (it may load its own data with htmx) rendered with the page's context (`user`, `request`).
    me_panels: Sequence[str] = ()
    # Templates the wallet page (/wallet) includes below its packs, the same way (e.g. gifts).
    wallet_panels: Sequence[str] = ()
    # Consumers of the event log this feature reads with core's EventLog (their cursors hold retention
    # back), and event names it reads back from the log by topic beyond any cursor (never pruned).
    event_consumers: Sequence[str] = ()
    event_history: Sequence[str] = ()
    # Its parts of live pages (core.live): types the injector resolves to `LivePart`s, whose fragments
    # ride the one event stream of the page.
    live_parts: Sequence[type[Any]] = ()
    commands: Sequence[Command] = ()
    """The `hypha` sub-commands the feature contributes (e.g. `hypha ledger verify`)."""
    tables: Sequence[type[Table]] = ()
    """The feature's Piccolo tables (`core.db.tables_in(its tables module)`): bound to the pool at start-up."""
    demo_data: Sequence[Callable[[Injector], Awaitable[Sequence[str]]]] = ()
    """What `hypha up --demo` creates; each returns the lines to print (e.g. the demo log-ins)."""
    enabled: Callable[[Settings], bool] = always
    """Whether the application includes the feature with these settings (a sandbox vendor only when
    it is the selected one): when not, its routes, jobs, links and tables are not part of it."""


@dataclass(frozen=True)
class NavLink:
    """A link in the site header; `audience` is "all", "user", "creator" or "staff"."""

    label: str
    path: str
    audience: str = "all"
    order: int = 50


@dataclass(frozen=True)
class Composition:
    """Every feature an application is made of, in order, as the composition root lists them.

    `feature_paths` name them (`"features.ledger.module:FEATURE"`): a feature is imported the first time
    `features` is read, so a command that needs none (`hypha up`, `hypha --help`) starts without
    importing every feature's runtime. `command_index` is the (name, help) of every feature's command in
    order, for `hypha --help`; it must equal what the features declare (a test checks).
    `entry_module` is the module that runs the `hypha` command with this composition
    (`python -m <entry_module> web`): `hypha up` starts its web server and worker that way."""

    feature_paths: Sequence[str]
    entry_module: str
    command_index: Sequence[tuple[str, str]] = ()

    @cached_property
    def features(self) -> Sequence[Feature]:
        """The features, imported on first use."""
        loaded: list[Feature] = []
        for path in self.feature_paths:
            module, _, attribute = path.partition(":")
            loaded.append(getattr(importlib.import_module(module), attribute))
        return loaded

    def features_for(self, settings: Settings) -> list[Feature]:
        """The features these settings run (`Feature.enabled`), in order."""
        return [feature for feature in self.features if feature.enabled(settings)]

    def commands(self) -> list[Command]:
        """Every feature's commands: a command exists whatever the settings (it reads them when run)."""
        return [command for feature in self.features for command in feature.commands]

    def tables(self) -> list[type[Table]]:
        """Every feature's Piccolo tables."""
        return [table for feature in self.features for table in feature.tables]
