"""Wiring for the pipeline: ports to adapters, and what the composition root needs."""

from __future__ import annotations

import imageio_ffmpeg
from injector import Binder, Module, provider, singleton

from core.db import Database, tables_in
from core.di import bind_port
from core.feature import Command, Feature
from core.pipeline import CheckpointStore
from core.settings import Settings
from features.pipeline import tables as pipeline_tables
from features.pipeline.adapters import KeySealer, MemoryKeyStore, PostgresKeyStore, SubprocessFfmpeg
from features.pipeline.cli import cmd_transcode, transcode_arguments
from features.pipeline.content_store import KuboContentStore, LocalContentStore, MemoryContentStore
from features.pipeline.ports import ContentStore, FfmpegRunner, KeyStore
from features.pipeline.service import TranscodeService


def ffmpeg_binary(settings: Settings) -> str:
    """`FFMPEG_BINARY` if set, else the binary imageio-ffmpeg ships (so `uv sync` brings ffmpeg)."""
    return settings.ffmpeg_binary or imageio_ffmpeg.get_ffmpeg_exe()


class _TranscodeServiceModule(Module):
    @singleton
    @provider
    def ffmpeg(self, settings: Settings) -> FfmpegRunner:
        return SubprocessFfmpeg(ffmpeg_binary(settings), cpu_multiple=settings.transcode_cpu_multiple)

    @singleton
    @provider
    def transcode_service(
        self, checkpoints: CheckpointStore, keys: KeyStore, content: ContentStore, ffmpeg: FfmpegRunner
    ) -> TranscodeService:
        return TranscodeService(checkpoints, keys, content, ffmpeg)


class PipelineModule(_TranscodeServiceModule):
    """Keys in PostgreSQL; published files in Kubo when IPFS_API_URL is set, else under <data_dir>/ipfs."""

    @singleton
    @provider
    def keys(self, db: Database, settings: Settings) -> KeyStore:
        return PostgresKeyStore(db, KeySealer.from_settings(settings))

    @singleton
    @provider
    def content(self, settings: Settings) -> ContentStore:
        if settings.ipfs_api_url:
            return KuboContentStore(settings.ipfs_api_url)
        return LocalContentStore(settings.data_path / "ipfs")


class MemoryPipelineModule(_TranscodeServiceModule):
    """Keys and published files in memory; ffmpeg is still the real one."""

    def configure(self, binder: Binder) -> None:
        bind_port(binder, KeyStore, MemoryKeyStore())
        bind_port(binder, ContentStore, MemoryContentStore())


FEATURE = Feature(
    name="pipeline",
    module=PipelineModule,
    memory_module=MemoryPipelineModule,
    commands=[
        Command(
            "transcode",
            "transcode a local video into encrypted HLS (no database)",
            cmd_transcode,
            transcode_arguments,
        ),
    ],
    tables=tables_in(pipeline_tables),
)
