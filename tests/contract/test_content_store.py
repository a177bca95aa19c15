"""One contract, three ContentStore implementations.

``KuboContentStore`` talks to :class:`FakeKubo`, a small HTTP server on
127.0.0.1 (random port) that implements the five RPC calls the store uses
(``add``, ``cat``, ``pin/ls``, ``pin/rm``, ``files/stat``) with Kubo's request and answer
shapes, computes CIDs with our own ``ipfs.py`` (which is checked against the
reference implementation elsewhere), and checks every request it receives:
POST only, the exact ``add`` flags that make the CID reproducible, a
``multipart/form-data`` body with a single ``file`` part, ``offline=true`` on
reads.  A request that breaks these rules is answered with HTTP 400 and
recorded; every test fails at teardown if any was recorded.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio

from features.pipeline.content_store import (
    ADD_PARAMS,
    KuboContentStore,
    LocalContentStore,
    MemoryContentStore,
)
from features.pipeline.ipfs import CHUNK_SIZE, cid_of_bytes, cid_of_file
from features.pipeline.model import ContentNotFound, ContentStoreError
from features.pipeline.ports import ContentStore

K = CHUNK_SIZE
ABSENT_CID = cid_of_bytes(b"never stored anywhere")  # canonical, but nobody holds it
NOT_CIDS = ["", "hello", "../../etc/passwd", "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", ABSENT_CID.upper()]


def _data(label: str, size: int) -> bytes:
    return hashlib.shake_256(label.encode()).digest(size) if size else b""


# --------------------------------------------------------------------------
# Fake Kubo RPC server
# --------------------------------------------------------------------------


@dataclass
class FakeKubo:
    """State of the fake node; tests may flip the misbehaviour switches."""

    blocks: dict[str, bytes] = field(default_factory=dict)  # root CID -> file bytes (pinned recursively)
    requests: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    lie_about_cid: bool = False  # answer `add` with the CID of other bytes
    corrupt_cat: bool = False  # flip a byte in `cat` answers
    adds: int = 0
    url: str = ""

    def error(self, message: str) -> tuple[int, bytes, str]:
        body = json.dumps({"Message": message, "Code": 0, "Type": "error"}).encode()
        return 500, body, "application/json"


class _ProtocolViolationError(Exception):
    pass


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise _ProtocolViolationError(message)


def _single(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name, [])
    _expect(len(values) == 1, f"expected exactly one {name!r} parameter, got {values}")
    return values[0]


def _file_part(content_type: str, body: bytes) -> bytes:
    """Parse a multipart/form-data body the way Kubo's add does, and return the one file."""
    _expect(content_type.startswith("multipart/form-data"), f"add body is {content_type!r}, not multipart/form-data")
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    _expect(message.is_multipart(), "add body is not a valid multipart document")
    parts = list(message.iter_parts())
    _expect(len(parts) == 1, f"add expects one part, got {len(parts)}")
    part = parts[0]
    disposition = part.get("Content-Disposition", "")
    _expect(disposition.startswith("form-data"), f"bad Content-Disposition {disposition!r}")
    _expect(part.get_param("name", header="content-disposition") == "file", "part is not named 'file'")
    _expect(part.get_filename() is not None, "file part has no filename")
    _expect(part.get_content_type() == "application/octet-stream", f"file part is {part.get_content_type()}")
    payload = part.get_payload(decode=True)
    _expect(isinstance(payload, bytes), "file part has no payload")
    assert isinstance(payload, bytes)
    return payload


def _handle(fake: FakeKubo, method: str, target: str, headers: Any, body: bytes) -> tuple[int, bytes, str]:
    url = urlsplit(target)
    query = parse_qs(url.query, keep_blank_values=True)
    fake.requests.append((url.path, query))
    if method != "POST":
        return 405, b"405 - Method Not Allowed", "text/plain"

    if url.path == "/api/v0/add":
        # What makes the CID reproducible is checked literally, independently of ADD_PARAMS.
        _expect(_single(query, "cid-version") == "1", "add: cid-version must be 1")
        _expect(_single(query, "raw-leaves") == "true", "add: raw-leaves must be true")
        _expect(_single(query, "chunker") == "size-262144", "add: chunker must be size-262144")
        _expect(_single(query, "hash") == "sha2-256", "add: hash must be sha2-256")
        _expect(_single(query, "pin") == "true", "add: pin must be true")
        _expect(query.get("trickle", ["false"]) == ["false"], "add: trickle layout requested")
        _expect(query.get("inline", ["false"]) == ["false"], "add: inline CIDs requested")
        _expect(query.get("wrap-with-directory", ["false"]) == ["false"], "add: directory wrapping requested")
        _expect(query.get("only-hash", ["false"]) == ["false"], "add: only-hash would store nothing")
        data = _file_part(headers.get("Content-Type", ""), body)
        cid = cid_of_bytes(data + b"!" if fake.lie_about_cid else data)
        fake.adds += 1
        fake.blocks.setdefault(cid, data)
        answer = json.dumps({"Name": "file", "Hash": cid, "Size": str(len(data))}) + "\n"
        return 200, answer.encode(), "application/json"

    if url.path in ("/api/v0/cat", "/api/v0/pin/ls", "/api/v0/files/stat"):
        _expect(_single(query, "offline") == "true", f"{url.path}: offline=true missing")
        arg = _single(query, "arg")

    if url.path == "/api/v0/cat":
        cid = arg.removeprefix("/ipfs/")
        if cid not in fake.blocks:
            return fake.error(f"block was not found locally (offline): ipld: could not find {cid}")
        data = fake.blocks[cid]
        offset = int(query.get("offset", ["0"])[0])
        length = int(query["length"][0]) if "length" in query else None
        _expect(offset >= 0 and (length is None or length > 0), f"cat: bad range {offset=} {length=}")
        data = data[offset:] if length is None else data[offset : offset + length]
        if fake.corrupt_cat and data:
            data = bytes([data[0] ^ 1]) + data[1:]
        return 200, data, "text/plain"

    if url.path == "/api/v0/pin/ls":
        _expect(_single(query, "type") == "recursive", "pin/ls: type=recursive expected")
        if arg in fake.blocks:
            return 200, json.dumps({"Keys": {arg: {"Type": "recursive"}}}).encode(), "application/json"
        return fake.error(f"path '/ipfs/{arg}' is not pinned")

    if url.path == "/api/v0/pin/rm":
        arg = _single(query, "arg")
        if fake.blocks.pop(arg, None) is None:  # unpinned: the node's GC may drop it (here at once)
            return fake.error(f"{arg} is not pinned")
        return 200, json.dumps({"Pins": [arg]}).encode(), "application/json"

    if url.path == "/api/v0/files/stat":
        _expect(arg.startswith("/ipfs/"), f"files/stat: {arg!r} is not an /ipfs/ path")
        cid = arg.removeprefix("/ipfs/")
        if cid not in fake.blocks:
            return fake.error(f"block was not found locally (offline): ipld: could not find {cid}")
        size = len(fake.blocks[cid])
        stat = {"Hash": cid, "Size": size, "CumulativeSize": size, "Blocks": 0, "Type": "file"}
        return 200, json.dumps(stat).encode(), "application/json"

    return 404, b"404 page not found", "text/plain"


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        out = bytearray()
        while True:
            size = int(handler.rfile.readline().split(b";")[0], 16)
            if size == 0:
                handler.rfile.readline()
                return bytes(out)
            out += handler.rfile.read(size)
            handler.rfile.readline()
    return handler.rfile.read(int(handler.headers.get("Content-Length", "0")))


def _make_handler(fake: FakeKubo) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            body = _read_body(self)
            try:
                status, payload, content_type = _handle(fake, self.command, self.path, self.headers, body)
            except _ProtocolViolationError as exc:
                fake.problems.append(str(exc))
                status, payload, content_type = 400, str(exc).encode(), "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_POST = do_GET = do_PUT = _serve  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def fake_kubo() -> Iterator[FakeKubo]:
    fake = FakeKubo()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(fake))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert fake.problems == [], f"fake Kubo saw bad requests: {fake.problems}"


# --------------------------------------------------------------------------
# Stores under contract
# --------------------------------------------------------------------------


@dataclass
class StoreUnderTest:
    store: ContentStore
    stored_copies: Callable[[], int]  # how many distinct contents the backend really holds


@pytest_asyncio.fixture(params=["local", "memory", "kubo"])
async def subject(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreUnderTest]:
    if request.param == "local":
        root = tmp_path / "store"
        yield StoreUnderTest(
            LocalContentStore(root),
            lambda: sum(1 for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")),
        )
    elif request.param == "memory":
        memory = MemoryContentStore()
        yield StoreUnderTest(memory, lambda: len(memory._data))
    else:
        fake: FakeKubo = request.getfixturevalue("fake_kubo")
        async with KuboContentStore(fake.url + "/") as kubo:
            yield StoreUnderTest(kubo, lambda: len(fake.blocks))


SIZES = [0, 1, 1000, K, K + 1, 4 * K + 12345]


@pytest.mark.asyncio
async def test_implements_protocol(subject: StoreUnderTest) -> None:
    assert isinstance(subject.store, ContentStore)


@pytest.mark.asyncio
@pytest.mark.parametrize("size", SIZES)
async def test_put_file_returns_ipfs_cid_and_round_trips(subject: StoreUnderTest, tmp_path: Path, size: int) -> None:
    data = _data(f"contract-{size}", size)
    path = tmp_path / "in.bin"
    path.write_bytes(data)
    cid = await subject.store.put_file(path)
    assert cid == cid_of_file(path)
    assert await subject.store.has(cid)
    assert await subject.store.size(cid) == size
    assert await subject.store.read(cid) == data


@pytest.mark.asyncio
async def test_put_is_idempotent(subject: StoreUnderTest, tmp_path: Path) -> None:
    data = _data("idempotent", 3 * K)
    first, second = tmp_path / "a.ts", tmp_path / "b.ts"
    first.write_bytes(data)
    second.write_bytes(data)
    cid1 = await subject.store.put_file(first)
    cid2 = await subject.store.put_file(first)
    cid3 = await subject.store.put_file(second)
    assert cid1 == cid2 == cid3
    assert subject.stored_copies() == 1
    other = tmp_path / "c.ts"
    other.write_bytes(data + b"x")
    assert await subject.store.put_file(other) != cid1
    assert subject.stored_copies() == 2


@pytest.mark.asyncio
async def test_a_removed_file_is_gone_until_put_again(subject: StoreUnderTest, tmp_path: Path) -> None:
    kept, superseded = tmp_path / "kept.m3u8", tmp_path / "old.m3u8"
    kept.write_bytes(b"#EXTM3U\nkept\n")
    superseded.write_bytes(b"#EXTM3U\nsuperseded\n")
    kept_cid = await subject.store.put_file(kept)
    old_cid = await subject.store.put_file(superseded)
    assert subject.stored_copies() == 2
    await subject.store.remove(old_cid)
    assert subject.stored_copies() == 1
    assert not await subject.store.has(old_cid)
    with pytest.raises(ContentNotFound):
        await subject.store.read(old_cid)
    assert await subject.store.read(kept_cid) == b"#EXTM3U\nkept\n"
    await subject.store.remove(old_cid)  # idempotent
    await subject.store.remove(ABSENT_CID)
    for bad in NOT_CIDS:
        await subject.store.remove(bad)
    assert subject.stored_copies() == 1
    assert await subject.store.put_file(superseded) == old_cid  # the same bytes come back under the same CID
    assert await subject.store.read(old_cid) == b"#EXTM3U\nsuperseded\n"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("offset", "length"),
    [(0, None), (0, 10), (7, None), (K - 3, 10), (K, K), (2 * K + 5, 1), (0, 10 * K)],
)
async def test_read_ranges(subject: StoreUnderTest, tmp_path: Path, offset: int, length: int | None) -> None:
    data = _data("ranges", 2 * K + 100)
    path = tmp_path / "seg.ts"
    path.write_bytes(data)
    cid = await subject.store.put_file(path)
    expected = data[offset:] if length is None else data[offset : offset + length]
    assert await subject.store.read(cid, offset, length) == expected


@pytest.mark.asyncio
async def test_read_past_the_end_and_empty_ranges(subject: StoreUnderTest, tmp_path: Path) -> None:
    data = _data("end", 1000)
    path = tmp_path / "f"
    path.write_bytes(data)
    cid = await subject.store.put_file(path)
    assert await subject.store.read(cid, 1000) == b""
    assert await subject.store.read(cid, 5000, 10) == b""
    assert await subject.store.read(cid, 10, 0) == b""
    with pytest.raises(ValueError, match="offset"):
        await subject.store.read(cid, -1)
    with pytest.raises(ValueError, match="length"):
        await subject.store.read(cid, 0, -1)


@pytest.mark.asyncio
async def test_unknown_cid(subject: StoreUnderTest) -> None:
    assert not await subject.store.has(ABSENT_CID)
    with pytest.raises(ContentNotFound):
        await subject.store.read(ABSENT_CID)
    with pytest.raises(ContentNotFound):
        await subject.store.read(ABSENT_CID, 5, 5)
    with pytest.raises(ContentNotFound):
        await subject.store.size(ABSENT_CID)


@pytest.mark.asyncio
@pytest.mark.parametrize("bad", NOT_CIDS)
async def test_non_canonical_cids_are_never_found(subject: StoreUnderTest, tmp_path: Path, bad: str) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"something")
    await subject.store.put_file(path)
    assert not await subject.store.has(bad)
    with pytest.raises(ContentNotFound):
        await subject.store.read(bad)
    with pytest.raises(ContentNotFound):
        await subject.store.size(bad)


@pytest.mark.asyncio
async def test_content_not_found_is_a_content_store_error(subject: StoreUnderTest) -> None:
    with pytest.raises(ContentStoreError):
        await subject.store.read(ABSENT_CID)


# --------------------------------------------------------------------------
# Implementation specifics
# --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_local_layout_and_atomic_write(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path / "store")
    path = tmp_path / "seg.ts"
    path.write_bytes(_data("layout", K + 1))
    cid = await store.put_file(path)
    target = tmp_path / "store" / cid[7:9] / cid
    assert store.path_for(cid) == target
    assert target.read_bytes() == path.read_bytes()
    assert [p.name for p in target.parent.iterdir()] == [cid]  # no temporary file left behind


@pytest.mark.asyncio
async def test_kubo_requests(fake_kubo: FakeKubo, tmp_path: Path) -> None:
    path = tmp_path / "seg.ts"
    path.write_bytes(_data("requests", K + 1))
    async with KuboContentStore(fake_kubo.url) as store:
        cid = await store.put_file(path)
        await store.read(cid, 3, 4)
        assert await store.has(cid)
    paths = [p for p, _ in fake_kubo.requests]
    assert paths == ["/api/v0/add", "/api/v0/cat", "/api/v0/files/stat", "/api/v0/pin/ls"]
    add_query = fake_kubo.requests[0][1]
    assert {k: v[0] for k, v in add_query.items()} == ADD_PARAMS
    assert fake_kubo.blocks[cid] == path.read_bytes()


@pytest.mark.asyncio
async def test_kubo_cid_mismatch_is_refused(fake_kubo: FakeKubo, tmp_path: Path) -> None:
    fake_kubo.lie_about_cid = True
    path = tmp_path / "seg.ts"
    path.write_bytes(b"segment bytes")
    async with KuboContentStore(fake_kubo.url) as store:
        with pytest.raises(ContentStoreError, match="refusing to publish"):
            await store.put_file(path)


@pytest.mark.asyncio
async def test_kubo_corrupt_read_is_refused(fake_kubo: FakeKubo, tmp_path: Path) -> None:
    path = tmp_path / "seg.ts"
    path.write_bytes(_data("corrupt", 1000))
    async with KuboContentStore(fake_kubo.url) as store:
        cid = await store.put_file(path)
        fake_kubo.corrupt_cat = True
        with pytest.raises(ContentStoreError, match="do not hash"):
            await store.read(cid)


@pytest.mark.asyncio
async def test_kubo_unreachable(tmp_path: Path) -> None:
    path = tmp_path / "seg.ts"
    path.write_bytes(b"x")
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with KuboContentStore(f"http://127.0.0.1:{port}") as store:
        with pytest.raises(ContentStoreError):
            await store.put_file(path)
        with pytest.raises(ContentStoreError):
            await store.has(ABSENT_CID)


@pytest.mark.asyncio
async def test_fake_kubo_rejects_requests_kubo_would_hash_differently(fake_kubo: FakeKubo) -> None:
    # The fake is only useful if it really checks: a default `ipfs add` (CIDv0, no raw leaves) is refused.
    async with httpx.AsyncClient() as client:
        url = fake_kubo.url + "/api/v0/add"
        files = {"file": ("file", b"abc", "application/octet-stream")}
        answer = await client.post(url, params={**ADD_PARAMS, "cid-version": "0"}, files=files)
        assert answer.status_code == 400
        answer = await client.post(url, params={**ADD_PARAMS, "raw-leaves": "false"}, files=files)
        assert answer.status_code == 400
        answer = await client.post(url, params=ADD_PARAMS, content=b"abc")  # not multipart
        assert answer.status_code == 400
        answer = await client.get(fake_kubo.url + "/api/v0/cat", params={"arg": ABSENT_CID})
        assert answer.status_code == 405
    assert len(fake_kubo.problems) == 3
    fake_kubo.problems.clear()
