"""The repository's own import-linter contract type: a feature's adapters are wired only by itself."""

from __future__ import annotations

import grimp

from tests.architecture.import_contracts import FeatureProtectedContract

OPTIONS = {
    "protected_modules": ["features.*.adapters", "features.pipeline.content_store"],
    "allowed_importers": ["features.*.module", "features.*.cli"],
}


def graph_with(*imports: tuple[str, str]) -> grimp.ImportGraph:
    graph = grimp.ImportGraph()
    modules = ["features", "features.studio", "features.pipeline", "features.unlocks"]
    for feature in ("studio", "pipeline", "unlocks"):
        modules += [f"features.{feature}.{name}" for name in ("adapters", "module", "service", "cli")]
    modules += ["features.studio.adapters.videos", "features.pipeline.content_store"]
    for module in modules:
        graph.add_module(module)
    for importer, imported in imports:
        graph.add_import(importer=importer, imported=imported, line_number=1, line_contents="import")
    return graph


def illegal(graph: grimp.ImportGraph) -> list[tuple[str, str]]:
    contract = FeatureProtectedContract("adapters", session_options={}, contract_options=OPTIONS)
    check = contract.check(graph, verbose=False)
    links = [link for broken in check.metadata["illegal_imports"] for link in broken.illegal_links]
    assert check.kept == (not links)
    return [(link["importer"], link["imported"]) for link in links]


def test_a_feature_wires_its_own_adapters() -> None:
    graph = graph_with(
        ("features.studio.module", "features.studio.adapters"),
        ("features.studio.adapters", "features.studio.adapters.videos"),
        ("features.pipeline.module", "features.pipeline.content_store"),
        ("features.pipeline.cli", "features.pipeline.content_store"),
    )
    assert illegal(graph) == []


def test_another_features_module_may_not_wire_them() -> None:
    graph = graph_with(("features.unlocks.module", "features.studio.adapters.videos"))
    assert illegal(graph) == [("features.unlocks.module", "features.studio.adapters.videos")]


def test_no_other_module_reaches_the_content_store_adapters() -> None:
    graph = graph_with(
        ("features.studio.adapters.videos", "features.pipeline.content_store"),
        ("features.unlocks.service", "features.pipeline.content_store"),
        ("features.pipeline.service", "features.pipeline.content_store"),
    )
    assert illegal(graph) == [
        ("features.pipeline.service", "features.pipeline.content_store"),
        ("features.studio.adapters.videos", "features.pipeline.content_store"),
        ("features.unlocks.service", "features.pipeline.content_store"),
    ]
