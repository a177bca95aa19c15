"""The plumbing of `python -m bench all` (issue 16, "Done when"): every section of docs/benchmarks.md ends
with the time and the machine's load, and the summary quotes each item's figures from the sections."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.__main__ import ISSUE_16, NO_STAMP, Run, main, summary
from bench.common import read_section, write_section

CATALOG = """## Catalog
| page | p50 | p99 |
|---|---:|---:|
| home `/` | 2.1 ms (met) | 5.8 ms |
| search, a rare title | 12.0 ms (MISSED) | 30.0 ms |
Words about it.
"""


LEDGER = "<!-- bench:ledger -->\n## Ledger\nTarget — met.\n<!-- /bench:ledger -->"


@pytest.fixture
def doc(tmp_path: Path) -> Path:
    path = tmp_path / "benchmarks.md"
    path.write_text(f"# Benchmarks\n\nIntro.\n\n{LEDGER}\n")
    return path


def test_a_section_ends_with_the_time_and_the_load_and_keeps_one_stamp(doc: Path) -> None:
    write_section("catalog", CATALOG, doc=doc, quick=False)
    write_section("catalog", f"<!-- bench:catalog -->\n{CATALOG}<!-- /bench:catalog -->", doc=doc, quick=False)
    text = doc.read_text()
    section = read_section("catalog", text)
    assert section is not None
    assert section.startswith("## Catalog")
    stamps = [line for line in section.splitlines() if line.startswith("_Written by")]
    assert len(stamps) == 1
    assert "`python -m bench.catalog`" in stamps[0]
    assert "load average (1 / 5 / 15 min) when written:" in stamps[0]
    assert "quick" not in stamps[0]
    assert text.index("<!-- bench:ledger -->") < text.index("<!-- bench:catalog -->")
    assert read_section("ledger", text) == "## Ledger\nTarget — met."


def test_a_quick_run_says_so_and_the_summary_goes_first(doc: Path) -> None:
    write_section("issue16", "## Issue 16", command="bench all", first=True, doc=doc, quick=True)
    text = doc.read_text()
    assert text.index("<!-- bench:issue16 -->") < text.index("<!-- bench:ledger -->")
    assert text.startswith("# Benchmarks\n\nIntro.\n\n<!-- bench:issue16 -->")
    section = read_section("issue16", text)
    assert section is not None
    assert "`python -m bench all` (a quick run" in section


def test_the_summary_quotes_each_items_figures_and_how_each_benchmark_went(doc: Path) -> None:
    write_section("catalog", CATALOG, doc=doc, quick=False)
    runs = [Run("catalog", "ran", 31.0, 1.5, 2.5), Run("unlock", "FAILED (exit 1)", 4.0, 2.5, 2.6)]
    text = summary(runs, doc.read_text(), quick=False, started=datetime.now(UTC))
    assert "| `bench.catalog` | ran | 31 s | 1.5 → 2.5 |" in text
    assert "| `bench.unlock` | FAILED (exit 1) | 4 s | 2.5 → 2.6 |" in text
    catalog = text.split("**7.", 1)[1]
    assert "- `bench.catalog` (this run):" in catalog
    assert "  - | home `/` | 2.1 ms (met) | 5.8 ms |" in catalog
    assert "  - | search, a rare title | 12.0 ms (MISSED) | 30.0 ms |" in catalog
    assert "| page | p50 | p99 |" not in catalog  # a table's header is not a figure
    assert "_Written by `python -m bench.catalog`" in catalog
    ledger = text.split("**3.", 1)[1].split("**4.", 1)[0]
    assert "- `bench.ledger` (not rerun now):" in ledger
    assert NO_STAMP in ledger
    assert "- `bench.unlock`: no section in the doc" in ledger
    assert "**Not measured: the time to first playable**" in text.split("**6.", 1)[1]
    assert [item.number for item in ISSUE_16] == [1, 2, 3, 4, 5, 6, 7]


def test_the_ten_minute_pipeline_run_apart_is_quoted_under_time_to_first_playable(doc: Path) -> None:
    long = "## Transcoding pipeline, a 10-minute source\n**Time to first playable: 300.00 s of 1000.00 s = 0.300×**\n"
    write_section("pipeline_long", long, command="bench.pipeline --long", doc=doc, quick=False)
    text = summary([Run("pipeline", "ran", 200.0, 1.0, 1.0)], doc.read_text(), quick=False, started=datetime.now(UTC))
    first_playable = text.split("**6.", 1)[1].split("**7.", 1)[0]
    assert "- `bench.pipeline`: no section in the doc" in first_playable
    assert "- `bench.pipeline --long` (run on its own):" in first_playable
    assert "  - **Time to first playable: 300.00 s of 1000.00 s = 0.300×**" in first_playable
    assert "Not measured" not in first_playable


def test_an_unknown_benchmark_is_refused_before_anything_runs(doc: Path) -> None:
    before = doc.read_text()
    assert main(["catalog", "nonsense", "--doc", str(doc)]) == 2
    assert doc.read_text() == before


def test_summary_only_runs_nothing_and_puts_the_summary_first(doc: Path) -> None:
    write_section("catalog", CATALOG, doc=doc, quick=False)
    assert main(["--summary-only", "--doc", str(doc)]) == 0
    text = doc.read_text()
    assert text.index("<!-- bench:issue16 -->") < text.index("<!-- bench:ledger -->")
    section = read_section("issue16", text)
    assert section is not None
    assert "Nothing run now (`--summary-only`)" in section
    assert "| (none run now) | | | |" in section
    assert "  - | home `/` | 2.1 ms (met) | 5.8 ms |" in section
