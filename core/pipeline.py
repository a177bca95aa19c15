"""Pipelines for long work: Units composed with `>>`, run by an Executor that checkpoints and resumes.

    pipeline = ConvertingInitial >> ConvertSubtitles >> ConvertBaseAudio >> ConvertingTerminal
    await Executor(checkpoints, on_progress=publish).run(pipeline, run_id, params)

Each unit receives the pipeline's params and the outputs of the units before it, and returns its own
output (JSON-compatible). The executor records every completed unit with its output; a re-run of the
same run id skips completed units and resumes at the first incomplete one. Delivery of jobs is
at-least-once, so a unit may run again after a crash in its middle: units must be idempotent.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

Output = Mapping[str, Any]


class UnitMeta(type):
    """Lets unit classes compose directly: `Probe >> Encode` builds a Pipeline of fresh instances."""

    def __rshift__(cls, other: UnitMeta | Unit | Pipeline) -> Pipeline:
        unit: Unit = cls()
        return unit >> other


@dataclass
class UnitContext:
    """What a unit sees: the run's params, earlier outputs and a way to report its own progress."""

    run_id: str
    params: Mapping[str, Any]
    outputs: Mapping[str, Output]
    report: Callable[[float], Awaitable[None]]

    def output_of(self, unit_name: str) -> Output:
        return self.outputs[unit_name]

    def collected(self, key: str) -> list[Any]:
        """Values under `key` from every earlier unit's output that has it, in pipeline order."""
        return [out[key] for out in self.outputs.values() if key in out]


class Unit(metaclass=UnitMeta):
    """One step of a pipeline. Subclasses implement `run`; `weight` sizes it in the overall percent."""

    weight: ClassVar[float] = 1.0
    label: ClassVar[str] = ""

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def title(self) -> str:
        return self.label or self.name

    async def run(self, ctx: UnitContext) -> Output:
        raise NotImplementedError

    def applies(self, outputs: Mapping[str, Output], params: Mapping[str, Any]) -> bool:
        """Whether this unit does real work in this run, judged from the run's params and the outputs
        of the units before it. A unit that does not apply still runs (to tidy up) but is not shown
        as a step and weighs nothing in the percent."""
        return True

    def __rshift__(self, other: UnitMeta | Unit | Pipeline) -> Pipeline:
        return Pipeline((self,)) >> other

    def __repr__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Pipeline:
    units: tuple[Unit, ...]

    def __post_init__(self) -> None:
        names = [unit.name for unit in self.units]
        if len(names) != len(set(names)):
            raise ValueError(f"unit names must be unique in a pipeline: {names}")

    def __rshift__(self, other: UnitMeta | Unit | Pipeline) -> Pipeline:
        if isinstance(other, Pipeline):
            return Pipeline(self.units + other.units)
        if isinstance(other, Unit):
            return Pipeline((*self.units, other))
        return Pipeline((*self.units, other()))

    def __len__(self) -> int:
        return len(self.units)

    @property
    def names(self) -> list[str]:
        return [unit.name for unit in self.units]


class CheckpointStore(Protocol):
    """Remembers which units of a run completed, with their outputs."""

    async def completed(self, run_id: str) -> dict[str, Output]:
        """Outputs of the completed units of `run_id`, keyed by unit name (empty if none)."""
        ...

    async def record(self, run_id: str, unit_name: str, output: Output) -> None:
        """Record `unit_name` as completed for `run_id`; recording it again replaces the output."""
        ...

    async def clear(self, run_id: str) -> None:
        """Forget every checkpoint of `run_id` (a fresh start)."""
        ...


class MemoryCheckpointStore:
    def __init__(self) -> None:
        self._runs: dict[str, dict[str, Output]] = {}

    async def completed(self, run_id: str) -> dict[str, Output]:
        return dict(self._runs.get(run_id, {}))

    async def record(self, run_id: str, unit_name: str, output: Output) -> None:
        self._runs.setdefault(run_id, {})[unit_name] = dict(output)

    async def clear(self, run_id: str) -> None:
        self._runs.pop(run_id, None)


@dataclass(frozen=True)
class Progress:
    """One figure for a whole run: percent done, the current step, and an estimate of time left."""

    run_id: str
    unit: str
    step: int
    steps: int
    percent: float
    eta_seconds: float | None
    finished: bool = False


class UnitFailed(Exception):
    """A unit raised; carries the unit name and a human-readable reason. `permanent`: trying again
    cannot help (e.g. a resource limit the input will always exceed), so callers need not retry."""

    def __init__(self, unit: str, reason: str, *, permanent: bool = False) -> None:
        super().__init__(f"{unit}: {reason}")
        self.unit = unit
        self.reason = reason
        self.permanent = permanent


ProgressSink = Callable[[Progress], Awaitable[None]]


@dataclass
class Executor:
    """Runs a pipeline unit by unit, checkpointing each completion and reporting combined progress."""

    checkpoints: CheckpointStore
    on_progress: ProgressSink | None = None
    min_report_interval: float = 0.5
    _last_report: float = field(default=0.0, init=False)

    async def run(self, pipeline: Pipeline, run_id: str, params: Mapping[str, Any]) -> dict[str, Output]:
        """Run the units not yet completed for `run_id`; return every unit's output.

        Raises UnitFailed when a unit raises (its completed predecessors stay recorded).
        """
        outputs = await self.checkpoints.completed(run_id)
        started = time.monotonic()
        start_fraction: float | None = None

        for unit in pipeline.units:
            if unit.name in outputs:
                continue
            # The steps shown are the units that apply, as far as the outputs so far can tell.
            active = [u for u in pipeline.units if u.applies(outputs, params)]
            weights = {u.name: u.weight for u in active}
            total = sum(weights.values()) or 1.0
            shown = unit in active
            step = active.index(unit) if shown else 0
            done_before = sum(weights[u.name] for u in active[:step]) / total if shown else 0.0
            if start_fraction is None:
                start_fraction = sum(w for name, w in weights.items() if name in outputs) / total
            first = start_fraction

            async def report(
                fraction: float,
                *,
                _unit: Unit = unit,
                _step: int = step,
                _steps: int = len(active),
                _base: float = done_before,
                _share: float = weights.get(unit.name, 0.0) / total,
                _shown: bool = shown,
                _first: float = first,
            ) -> None:
                if not _shown:
                    return
                fraction = min(max(fraction, 0.0), 1.0)
                overall = _base + fraction * _share
                await self._emit(run_id, _unit, _step, _steps, overall, started, _first, force=False)

            if shown:
                await self._emit(run_id, unit, step, len(active), done_before, started, first, force=True)
            ctx = UnitContext(run_id=run_id, params=params, outputs=dict(outputs), report=report)
            try:
                output = await unit.run(ctx)
            except UnitFailed:
                raise
            except Exception as error:
                permanent = bool(getattr(error, "permanent", False))
                raise UnitFailed(unit.name, str(error) or type(error).__name__, permanent=permanent) from error
            await self.checkpoints.record(run_id, unit.name, output)
            outputs[unit.name] = output

        if self.on_progress is not None and pipeline.units:
            last = pipeline.units[-1]
            steps = sum(1 for u in pipeline.units if u.applies(outputs, params))
            await self.on_progress(Progress(run_id, last.title, steps, steps, 100.0, 0.0, True))
        return outputs

    async def _emit(
        self,
        run_id: str,
        unit: Unit,
        index: int,
        steps: int,
        overall: float,
        started: float,
        start_fraction: float,
        *,
        force: bool,
    ) -> None:
        if self.on_progress is None:
            return
        now = time.monotonic()
        if not force and now - self._last_report < self.min_report_interval:
            return
        self._last_report = now
        gained = overall - start_fraction
        elapsed = now - started
        eta = elapsed * (1.0 - overall) / gained if gained > 0.005 and elapsed > 0 else None
        await self.on_progress(Progress(run_id, unit.title, index + 1, steps, round(overall * 100, 1), eta))
