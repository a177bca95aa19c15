"""Load from a compiled generator: `wrk` (C, epoll), so the client cannot be what limits a benchmark.

Every HTTP load benchmark drives its servers through `drive_wrk`: one wrk thread per connection
(each connection is one logged-in person: its own cookies, CSRF header and request sequence, from a
Lua script), wrk's own CPU time taken from `resource.getrusage(RUSAGE_CHILDREN)` around the run, and
the server's from /proc. A run whose client was busy enough to be the bottleneck raises
ClientSaturated instead of reporting a figure that measures the client.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# wrk may use at most this share of one core per thread, and this share of the server's CPU, before a
# run is refused: past either, the client is the one being measured (16 httpx clients in Python used
# more CPU than the server; wrk uses a few per cent of it).
CLIENT_BUSY_LIMIT = 0.8
CLIENT_TO_SERVER_LIMIT = 0.35


class ClientSaturated(RuntimeError):
    """The load generator, not the server, was the limit: the figures would measure the client."""


class WrkMissing(RuntimeError):
    pass


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class LoadResult:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    bad: int  # responses that were not what the script expects (status and body)
    bad_sample: str
    client_cpu: float  # wrk's user + system seconds
    server_cpu: float  # the server process's user + system seconds in the same window
    steps: int  # requests the busiest connection started (the next run's offset into its sequence)
    load: float  # the 1-minute load average when the run ended

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_request_us(self) -> float:
        return self.server_cpu / self.requests * 1e6 if self.requests else 0.0

    @property
    def client_share(self) -> float:
        """wrk's CPU as a share of the CPU the client and the server used together."""
        total = self.client_cpu + self.server_cpu
        return self.client_cpu / total if total else 0.0


# The Lua side. Each wrk thread holds one connection; `setup` numbers the threads, `init` reads the
# thread's line of the people file (tab-separated: extra header lines as `name: value` pairs joined
# by `|`), and `request` builds the next request from the target template with {n} (the step,
# offset by WRK_OFFSET and the thread number) and {key} (a fresh idempotency key per request,
# seeded from WRK_SEED: Lua's math.random repeats across runs).
LUA = r"""
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

local headers = {}
local targets = {}
local method, body_template, path_template, expect
local offset, seed = 0, ""
step, bad, sample = 0, 0, ""  -- globals: done() reads them with thread:get

local function split(text, sep)
  local out = {}
  for piece in string.gmatch(text, "([^" .. sep .. "]+)") do table.insert(out, piece) end
  return out
end

function init(args)
  method = os.getenv("WRK_METHOD") or "GET"
  path_template = os.getenv("WRK_PATH")
  body_template = os.getenv("WRK_BODY") or ""
  expect = os.getenv("WRK_EXPECT") or ""
  offset = tonumber(os.getenv("WRK_OFFSET") or "0")
  seed = os.getenv("WRK_SEED") or "s"
  local n = 0
  for line in io.lines(os.getenv("WRK_PEOPLE")) do
    n = n + 1
    if n == id then
      for _, pair in ipairs(split(line, "|")) do
        local name, value = string.match(pair, "^([^:]+): (.*)$")
        if name then headers[name] = value end
      end
    end
  end
  if body_template ~= "" then headers["Content-Type"] = "application/x-www-form-urlencoded" end
  for line in io.lines(os.getenv("WRK_TARGETS")) do table.insert(targets, line) end
end

function request()
  local n = offset + id + step
  step = step + 1
  local target = targets[(n % #targets) + 1]
  local key = seed .. "-" .. id .. "-" .. step
  local path = string.gsub(string.gsub(path_template, "{target}", target), "{key}", key)
  local body = nil
  if body_template ~= "" then
    body = string.gsub(string.gsub(body_template, "{target}", target), "{key}", key)
  end
  return wrk.format(method, path, headers, body)
end

function response(status, headers, body)
  if status ~= 200 or (expect ~= "" and not string.find(body, expect, 1, true)) then
    bad = bad + 1
    if sample == "" then sample = string.gsub(status .. ": " .. string.sub(body or "", 1, 300), '[%c"\\]', " ") end
  end
end

function done(summary, latency, requests)
  local worst, bads, first = 0, 0, ""
  for _, thread in ipairs(threads) do
    local s = thread:get("step")
    if s > worst then worst = s end
    bads = bads + thread:get("bad")
    local found = thread:get("sample")
    if first == "" and found ~= "" then first = found end
  end
  io.write(string.format(
    '\nWRK-JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors": %d, ' ..
    '"steps": %d, "bad": %d, "sample": "%s"}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    worst, bads, first))
end
"""


@dataclass(frozen=True)
class Person:
    """One connection's identity: its header lines (cookies, CSRF token, htmx)."""

    headers: dict[str, str]


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise WrkMissing("the load benchmarks need wrk (a C load generator): apt-get install wrk")
    return found


def drive_wrk(
    name: str,
    base_url: str,
    *,
    people: list[Person],
    targets: list[str],
    path: str,
    seconds: float,
    server_pid: int,
    method: str = "GET",
    body: str = "",
    expect: str = "",
    offset: int = 0,
    check_client: bool = True,
) -> LoadResult:
    """Run wrk for `seconds` with one connection (and thread) per person; `path` and `body` may name
    {target} (the next of `targets` in each person's walk, from `offset`) and {key} (fresh per request).

    Raises ClientSaturated when wrk was busy enough to be the limit (see CLIENT_BUSY_LIMIT), and
    RuntimeError when a response was not the expected one (status 200 and `expect` in the body)."""
    with tempfile.TemporaryDirectory(prefix="hypha-wrk-") as tmp:
        script = Path(tmp) / "load.lua"
        script.write_text(LUA)
        people_file = Path(tmp) / "people"
        people_file.write_text("".join("|".join(f"{k}: {v}" for k, v in p.headers.items()) + "\n" for p in people))
        targets_file = Path(tmp) / "targets"
        targets_file.write_text("".join(f"{t}\n" for t in targets))
        env = {
            **os.environ,
            "WRK_METHOD": method,
            "WRK_PATH": path,
            "WRK_BODY": body,
            "WRK_EXPECT": expect,
            "WRK_OFFSET": str(offset),
            "WRK_SEED": os.urandom(6).hex(),
            "WRK_PEOPLE": str(people_file),
            "WRK_TARGETS": str(targets_file),
        }
        command = [wrk_path(), "-t", str(len(people)), "-c", str(len(people)), "-d", f"{seconds:g}s"]
        command += ["--timeout", "30s", "-s", str(script), base_url]
        server_before = cpu_seconds(server_pid)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        finished = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_used = cpu_seconds(server_pid) - server_before
    client_used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    line = next((ln for ln in finished.stdout.splitlines() if ln.startswith("WRK-JSON ")), None)
    if finished.returncode != 0 or line is None:
        raise RuntimeError(f"{name}: wrk failed ({finished.returncode}): {finished.stderr or finished.stdout}")
    figures = json.loads(line.removeprefix("WRK-JSON "))
    result = LoadResult(
        name=name,
        requests=figures["requests"],
        seconds=figures["duration_us"] / 1e6,
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        bad=figures["bad"] + figures["errors"],
        bad_sample=figures["sample"],
        client_cpu=client_used,
        server_cpu=server_used,
        steps=figures["steps"],
        load=os.getloadavg()[0],
    )
    # wrk stops with requests in flight; let the server finish them before anything else is measured.
    time.sleep(0.5)
    if result.bad:
        raise RuntimeError(f"{name}: {result.bad} unexpected responses, e.g. {result.bad_sample}")
    if check_client:
        refuse_if_client_bound(result, threads=len(people))
    return result


def refuse_if_client_bound(result: LoadResult, *, threads: int) -> None:
    """Raise ClientSaturated when the client, not the server, limited the run."""
    cores = os.cpu_count() or 1
    busy = result.client_cpu / (result.seconds * min(threads, cores)) if result.seconds else 0.0
    if busy >= CLIENT_BUSY_LIMIT or result.client_cpu >= CLIENT_TO_SERVER_LIMIT * result.server_cpu:
        raise ClientSaturated(
            f"{result.name}: the load generator was the bottleneck — wrk used {result.client_cpu:.2f} s of CPU "
            f"({busy:.0%} of the cores it could use) against the server's {result.server_cpu:.2f} s; "
            "not reporting figures that measure the client"
        )
