from collections.abc import Mapping
from typing import Any

import pytest

from core.pipeline import Executor, MemoryCheckpointStore, Output, Pipeline, Progress, Unit, UnitContext, UnitFailed

calls: list[str] = []


class Probe(Unit):
    async def run(self, ctx: UnitContext) -> Output:
        calls.append("Probe")
        return {"duration": ctx.params["duration"]}


class Encode(Unit):
    weight = 3.0

    async def run(self, ctx: UnitContext) -> Output:
        calls.append("Encode")
        for step in range(1, 5):
            await ctx.report(step / 4)
        return {"renditions": [f"{ctx.output_of('Probe')['duration']}s@480p"]}


class Flaky(Unit):
    failures_left = 1

    async def run(self, ctx: UnitContext) -> Output:
        calls.append("Flaky")
        if Flaky.failures_left:
            Flaky.failures_left -= 1
            raise RuntimeError("disk full")
        return {"ok": True}


class Publish(Unit):
    async def run(self, ctx: UnitContext) -> Output:
        calls.append("Publish")
        return {"published": ctx.collected("renditions")}


@pytest.fixture(autouse=True)
def reset() -> None:
    calls.clear()
    Flaky.failures_left = 1


def test_units_compose_left_to_right_from_classes_and_instances() -> None:
    pipeline = Probe >> Encode >> Publish
    assert isinstance(pipeline, Pipeline)
    assert pipeline.names == ["Probe", "Encode", "Publish"]
    assert (Probe() >> (Encode >> Publish)).names == ["Probe", "Encode", "Publish"]


def test_a_unit_name_may_appear_only_once() -> None:
    with pytest.raises(ValueError, match="unique"):
        _ = Probe >> Encode >> Probe


async def test_each_unit_receives_the_outputs_of_the_units_before_it() -> None:
    outputs = await Executor(MemoryCheckpointStore()).run(Probe >> Encode >> Publish, "run-1", {"duration": 30})
    assert outputs["Publish"] == {"published": [["30s@480p"]]}


async def test_a_rerun_resumes_after_the_last_completed_unit() -> None:
    store = MemoryCheckpointStore()
    pipeline = Probe >> Encode >> Flaky >> Publish
    with pytest.raises(UnitFailed) as failed:
        await Executor(store).run(pipeline, "run-2", {"duration": 5})
    assert failed.value.unit == "Flaky"
    assert failed.value.reason == "disk full"
    assert calls == ["Probe", "Encode", "Flaky"]
    calls.clear()
    outputs = await Executor(store).run(pipeline, "run-2", {"duration": 5})
    assert calls == ["Flaky", "Publish"]
    assert outputs["Probe"] == {"duration": 5}


async def test_progress_is_one_figure_weighted_by_unit_and_ends_at_100() -> None:
    seen: list[Progress] = []

    async def record(progress: Progress) -> None:
        seen.append(progress)

    await Executor(MemoryCheckpointStore(), on_progress=record, min_report_interval=0).run(
        Probe >> Encode >> Publish, "run-3", {"duration": 1}
    )
    percents = [p.percent for p in seen]
    assert percents == sorted(percents)
    assert percents[0] == 0.0
    assert seen[-1].finished
    assert seen[-1].percent == 100.0
    # Encode weighs 3 of 5: halfway through it the run is at (1 + 1.5) / 5 = 50 %.
    assert 50.0 in percents
    assert {p.unit for p in seen} >= {"Probe", "Encode", "Publish"}


async def test_completed_units_are_not_run_again_when_everything_finished() -> None:
    store = MemoryCheckpointStore()
    params: Mapping[str, Any] = {"duration": 2}
    await Executor(store).run(Probe >> Publish, "run-4", params)
    calls.clear()
    await Executor(store).run(Probe >> Publish, "run-4", params)
    assert calls == []


class Upscale(Unit):
    """Does real work only when the params ask for it (like a rendition bigger than the source)."""

    weight = 5.0

    def applies(self, outputs: Mapping[str, Output], params: Mapping[str, Any]) -> bool:
        return bool(params.get("upscale"))

    async def run(self, ctx: UnitContext) -> Output:
        calls.append("Upscale")
        return {"skipped": not ctx.params.get("upscale")}


async def test_a_unit_that_does_not_apply_runs_unseen_and_weighs_nothing() -> None:
    seen: list[Progress] = []

    async def record(progress: Progress) -> None:
        seen.append(progress)

    await Executor(MemoryCheckpointStore(), on_progress=record, min_report_interval=0).run(
        Probe >> Upscale >> Encode >> Publish, "run-skip", {"duration": 1, "upscale": False}
    )
    assert calls == ["Probe", "Upscale", "Encode", "Publish"]  # it still ran (to tidy up)
    assert "Upscale" not in {p.unit for p in seen}
    assert {(p.unit, p.step, p.steps) for p in seen if not p.finished and p.percent in (0.0, 20.0, 80.0)} == {
        ("Probe", 1, 3),
        ("Encode", 2, 3),
        ("Publish", 3, 3),
    }
    assert seen[-1].finished
    assert (seen[-1].step, seen[-1].steps) == (3, 3)
