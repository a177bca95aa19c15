"""How the composition root wires the pipeline: which adapters each setting brings."""

from __future__ import annotations

import msgspec
from injector import Injector

from core.di import build_injector
from core.settings import Settings
from features.pipeline.adapters import MemoryKeyStore, PostgresKeyStore, SubprocessFfmpeg
from features.pipeline.content_store import KuboContentStore, LocalContentStore, MemoryContentStore
from features.pipeline.module import FEATURE
from features.pipeline.service import TranscodeService


def test_the_app_keeps_keys_in_postgresql_and_publishes_under_the_data_dir(pg: Injector, settings: Settings) -> None:
    service = pg.get(TranscodeService)
    assert isinstance(service.keys, PostgresKeyStore)
    assert isinstance(service.content, LocalContentStore)
    assert service.content.root == settings.data_path / "ipfs"
    assert isinstance(service.ffmpeg, SubprocessFfmpeg)


def test_ipfs_api_url_publishes_through_kubo_and_ffmpeg_binary_is_honoured(settings: Settings) -> None:
    configured = msgspec.structs.replace(settings, ipfs_api_url="http://127.0.0.1:5001", ffmpeg_binary="/opt/ffmpeg")
    service = build_injector(configured, [FEATURE]).get(TranscodeService)
    assert isinstance(service.content, KuboContentStore)
    assert service.content.api_url == "http://127.0.0.1:5001"
    assert isinstance(service.ffmpeg, SubprocessFfmpeg)
    assert service.ffmpeg.binary == "/opt/ffmpeg"


def test_the_memory_wiring_keeps_keys_and_files_in_memory(memory: Injector) -> None:
    service = memory.get(TranscodeService)
    assert isinstance(service.keys, MemoryKeyStore)
    assert isinstance(service.content, MemoryContentStore)
