"""Import contracts the built-in import-linter types cannot say, registered under `contract_types`
in pyproject.toml's `[tool.importlinter]` and checked by `lint-imports` like the others."""

from __future__ import annotations

from typing import Any, cast

import grimp
from importlinter import ContractCheck
from importlinter.application import contract_utils
from importlinter.contracts.protected import BrokenContractMetadata, ProtectedContract
from importlinter.domain import helpers
from importlinter.domain.imports import ImportExpression, ModuleExpression

FEATURE_DEPTH = 2  # a feature is `features.<name>`: the first two parts of a module's name


def feature_of(module: str) -> str:
    return ".".join(module.split(".")[:FEATURE_DEPTH])


class FeatureProtectedContract(ProtectedContract):
    """`protected`, where an allowed importer counts only inside the protected module's own feature.

    With protected_modules = ["features.*.adapters"] and allowed_importers = ["features.*.module"],
    `features.studio.adapters` may be imported by `features.studio.module` but not by
    `features.unlocks.module`: one feature never reaches into another's adapters, not even to wire them.
    The protected module's own descendants import each other freely (with `as_packages`).
    """

    type_name = "feature_protected"

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        ignored = cast("set[ImportExpression] | None", self.ignore_imports)
        import_removal = contract_utils.remove_ignored_imports_and_report(
            graph=graph,
            ignore_imports=list(ignored) if ignored else None,
            unmatched_alerting=cast("contract_utils.AlertLevel", self.unmatched_ignore_imports_alerting),
        )
        as_packages = cast("bool", self.as_packages)
        allowed = {
            module.name
            for module in helpers.module_expressions_to_modules(
                graph=graph,
                expressions=cast("list[ModuleExpression]", self.allowed_importers),
                as_packages=as_packages,
            )
        }
        broken: list[BrokenContractMetadata] = []
        for expression in cast("list[ModuleExpression]", self.protected_modules):
            tops = helpers.module_expression_to_modules(graph=graph, expression=expression, as_packages=False)
            for top in sorted(module.name for module in tops):
                feature = feature_of(top)
                protected = {top}
                if as_packages and not graph.is_module_squashed(top):
                    protected |= graph.find_descendants(top)
                own_allowed = {module for module in allowed if feature_of(module) == feature}
                importers = graph.find_modules_that_directly_import(top, as_package=as_packages)
                metadata = BrokenContractMetadata(
                    top, [], expression.expression if expression.has_wildcard_expression() else None
                )
                for importer in sorted(importers - own_allowed - protected):
                    for imported in sorted(graph.find_modules_directly_imported_by(importer) & protected):
                        details = graph.get_import_details(importer=importer, imported=imported)
                        link: Any = {
                            "importer": importer,
                            "imported": imported,
                            "line_numbers": tuple(detail["line_number"] for detail in details),
                        }
                        metadata.illegal_links.append(link)
                if metadata.illegal_links:
                    broken.append(metadata)
        return ContractCheck(
            kept=not broken,
            warnings=list(import_removal.warnings),
            ignored_import_count=import_removal.ignored_import_count,
            metadata={"illegal_imports": broken},
        )
