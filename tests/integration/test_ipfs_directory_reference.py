"""UnixFS directories against the js reference (`tests/reference/ipfs-only-hash/dir.mjs`: ipfs-unixfs-importer
17 with the options of `ipfs add -r --cid-version 1 --raw-leaves`), and CAR files against @ipld/car.

Trees are random (nested directories, files over one 256 KiB chunk, empty files, names whose byte order
differs from other orders); the seed is in every failure message and ``HYPHA_IPFS_SEED`` replays it.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import pytest

from features.pipeline.ipfs import (
    CHUNK_SIZE,
    DagBuilder,
    DirectoryTooLarge,
    FileEntry,
    cid_of_file,
    directory_dag,
    iter_blocks,
    tsize_of_size,
)
from features.portability.car import car_block, car_header
from tests.support.first_run import Unavailable, ensure_npm_reference

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference" / "ipfs-only-hash"
SEED = int(os.environ.get("HYPHA_IPFS_SEED", random.SystemRandom().randrange(2**32)))


@pytest.fixture(scope="module")
def node() -> str:
    try:
        return ensure_npm_reference(REFERENCE_DIR)
    except Unavailable as error:
        pytest.fail(str(error), pytrace=False)


def run_node(node: str, script: str, *args: Path) -> str:
    result = subprocess.run(
        [node, str(REFERENCE_DIR / script), *map(str, args)], capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def entries_of(root: Path) -> dict[str, FileEntry]:
    return {
        path.relative_to(root).as_posix(): FileEntry(cid_of_file(path), tsize_of_size(path.stat().st_size))
        for path in root.rglob("*")
        if path.is_file()
    }


def write_car(car: Path, root: Path) -> str:
    directory = directory_dag(entries_of(root))
    with car.open("wb") as out:
        out.write(car_header([directory.root]))
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            for block in iter_blocks(path):
                out.write(car_block(block.cid, block.data))
        for block in directory.blocks:
            out.write(car_block(block.cid, block.data))
    return directory.root


def random_tree(root: Path, rng: random.Random) -> None:
    sizes = [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, rng.randrange(2, 3 * CHUNK_SIZE)]
    names = ["master.m3u8", "cover.jpg", "B", "a", "a.b", "ab", "é-subs.vtt", "Z-upper"]
    folders = ["", "480p", "720p", "subs", "deep/er/still"]
    for index in range(rng.randrange(8, 16)):
        folder = root / rng.choice(folders)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{rng.choice(names)}" if index < len(names) else f"seg_{index:05d}.ts"
        target = folder / name
        if not target.exists():
            target.write_bytes(rng.randbytes(rng.choice(sizes)))


def test_random_trees_match_reference(node: str, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    for attempt in range(3):
        root = tmp_path / f"tree{attempt}"
        root.mkdir()
        random_tree(root, rng)
        ours = directory_dag(entries_of(root)).root
        assert ours == run_node(node, "dir.mjs", root), f"tree {attempt} HYPHA_IPFS_SEED={SEED}"


def test_hls_shaped_tree_with_a_multi_block_file_and_an_empty_one(node: str, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    root = tmp_path / "video"
    for folder in ("480p", "720p", "audio", "subs"):
        (root / folder).mkdir(parents=True)
        (root / folder / "index.m3u8").write_text(f"#EXTM3U\n# {folder}\n")
        for index in range(3):
            (root / folder / f"seg_{index:05d}.ts").write_bytes(rng.randbytes(rng.randrange(1, 40_000)))
    (root / "720p" / "seg_00003.ts").write_bytes(rng.randbytes(3 * CHUNK_SIZE + 17))  # four leaves, one dag-pb node
    (root / "subs" / "empty.vtt").write_bytes(b"")
    (root / "master.m3u8").write_text("#EXTM3U\n")
    assert directory_dag(entries_of(root)).root == run_node(node, "dir.mjs", root), f"HYPHA_IPFS_SEED={SEED}"


def test_car_reads_back_with_the_same_root_and_verified_blocks(node: str, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    root = tmp_path / "tree"
    root.mkdir()
    random_tree(root, rng)
    (root / "big.bin").write_bytes(rng.randbytes(2 * CHUNK_SIZE + 5))
    car = tmp_path / "tree.car"
    ours = write_car(car, root)
    read = json.loads(run_node(node, "car.mjs", car))
    assert read["version"] == 1
    assert read["roots"] == [ours] == [run_node(node, "dir.mjs", root)]
    assert read["reachable"] == read["blocks"]  # every block belongs to the DAG, every link resolves


def test_tsize_of_size_equals_the_built_dags() -> None:
    rng = random.Random(SEED)
    for size in [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, *(rng.randrange(1, 200 * 1024) for _ in range(5))]:
        for chunk, links in [(CHUNK_SIZE, 174), (1024, 3), (100, 2)]:
            builder = DagBuilder(max_links=links)
            data = rng.randbytes(size)
            for start in range(0, size, chunk):
                builder.add(data[start : start + chunk])
            builder.finish()
            assert builder.root is not None
            assert tsize_of_size(size, chunk_size=chunk, max_links=links) == builder.root.tsize, (size, chunk, SEED)


def test_bad_paths_and_huge_directories_are_refused() -> None:
    entry = FileEntry(cid_of_file(__file__), 1)
    for bad in ["", "/abs", "a//b", "../up", "a/./b"]:
        with pytest.raises(ValueError, match="not a relative path"):
            directory_dag({bad: entry})
    with pytest.raises(ValueError, match=r"is a file|both a file"):
        directory_dag({"a": entry, "a/b": entry})
    with pytest.raises(DirectoryTooLarge):
        directory_dag({f"segments/seg_{index:07d}.ts": entry for index in range(6000)})
