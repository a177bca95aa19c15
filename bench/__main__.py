"""Every benchmark in one command: `uv run python -m bench all` (or name some: `… bench ledger sse`).

Each benchmark compares against its baseline in the same run and rewrites its own section of
docs/benchmarks.md.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ["ledger", "unlock", "pipeline", "sse", "catalog", "analytics", "fairness", "upload_memory", "startup"]


def main(argv: list[str]) -> int:
    chosen = BENCHMARKS if not argv or argv == ["all"] else argv
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)} or all")
        return 2
    failed = []
    for name in chosen:
        print(f"== bench.{name}", flush=True)
        if subprocess.run([sys.executable, "-m", f"bench.{name}"], check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
