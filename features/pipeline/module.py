"""Wiring for the pipeline: ports to adapters, and what the composition root needs."""

from __future__ import annotations

from injector import Module, provider, singleton

from core.feature import Feature
from features.pipeline.service import TranscodeService


class PipelineModule(Module):
    @singleton
    @provider
    def transcode_service(self) -> TranscodeService:
        return TranscodeService()


class MemoryPipelineModule(PipelineModule):
    pass


FEATURE = Feature(name="pipeline", module=PipelineModule, memory_module=MemoryPipelineModule)
