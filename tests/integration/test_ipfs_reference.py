"""Live cross-check of our CIDs against the js reference importer.

Needs ``node`` and the package pinned in ``tests/reference/ipfs-only-hash``
(ipfs-only-hash 4.0.0 / ipfs-unixfs-importer 7.0.3): the first run installs it
with ``npm ci``; where it cannot (no npm, offline) the tests fail with the
command to run — they are never skipped.

Files are random; the seed is in every failure message, and ``HYPHA_IPFS_SEED``
replays it.
"""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import pytest

from features.pipeline.ipfs import CHUNK_SIZE, MAX_LINKS, cid_of_file
from tests.support.first_run import Unavailable, ensure_npm_reference

K = CHUNK_SIZE
REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference" / "ipfs-only-hash"
SEED = int(os.environ.get("HYPHA_IPFS_SEED", random.SystemRandom().randrange(2**32)))


@pytest.fixture(scope="module")
def node() -> str:
    try:
        return ensure_npm_reference(REFERENCE_DIR)
    except Unavailable as error:
        pytest.fail(str(error), pytrace=False)


def _reference_cid(node: str, path: Path, *extra: int) -> str:
    result = subprocess.run(
        [node, str(REFERENCE_DIR / "hash.js"), str(path), *map(str, extra)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _random_file(path: Path, size: int, rng: random.Random) -> Path:
    path.write_bytes(rng.randbytes(size))
    return path


def test_random_files_match_reference(node: str, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    sizes = [0, 1, K - 1, K, K + 1, rng.randrange(2, 4 * K), rng.randrange(4 * K, 12 * K)]
    for i, size in enumerate(sizes):
        path = _random_file(tmp_path / f"{i}.bin", size, rng)
        assert cid_of_file(path) == _reference_cid(node, path), f"size={size} HYPHA_IPFS_SEED={SEED}"


def test_two_level_dag_matches_reference(node: str, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    size = MAX_LINKS * K + rng.randrange(1, 3 * K)  # 175-177 leaves: the root has a dag-pb child level
    path = _random_file(tmp_path / "big.bin", size, rng)
    assert cid_of_file(path) == _reference_cid(node, path), f"size={size} HYPHA_IPFS_SEED={SEED}"


def test_deep_dags_match_reference(node: str, tmp_path: Path) -> None:
    # Small chunks and fan-out give 3-5 level trees from a few kilobytes.
    rng = random.Random(SEED)
    for chunk, links in [(100, 2), (1000, 3), (4096, 7)]:
        size = rng.randrange(chunk, chunk * links**4)
        path = _random_file(tmp_path / f"deep-{chunk}.bin", size, rng)
        ours = cid_of_file(path, chunk_size=chunk, max_links=links)
        assert ours == _reference_cid(node, path, chunk, links), (
            f"size={size} chunk={chunk} links={links} HYPHA_IPFS_SEED={SEED}"
        )
