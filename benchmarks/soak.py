"""Soak benchmark: `speedrun serve` on a real PostgreSQL under several hundred concurrent
clients for minutes, a mix of page and JSON reads, valid signed uploads and hostile requests.

    python benchmarks/soak.py [--clients 300] [--duration 600] [--out FILE] [--port P]

Setup: a throwaway PostgreSQL (tests/support/postgres.py), a migrated database, the server as
a subprocess (`python -m speedrun.cli serve`, log level warning, the re-verification scan off
so that nothing but requests writes), a runner key registered with `speedrun admin
runner-add`, a submitter token from `speedrun admin token-create`, and seed data: one record
on cpu-tiny claimed the product's way (submission, signed job claim, three job runs) and a
few unsolicited runs through `POST /api/v1/runs`.

Load: one asyncio process speaking raw HTTP/1.1 over keep-alive connections (cheaper per
request than httpx, so the generator leaves the CPU to the server). Each virtual client has
its own loopback source address (127.0.x.y), so a per-client limit sees separate clients.
Clients are closed-loop: each waits for its answer, then pauses (uniform, mean `--think`):
- readers (most clients): pages `/`, `/tracks/cpu-tiny`, `/runs/{id}`, `/records/{id}`,
  `/submissions/{id}`, and JSON leaderboard, run, attempt and health, in a shuffled deck;
- uploaders (`--uploaders`, a bounded few): a fresh signed bundle, a new run, every
  `--upload-interval` seconds each; a 429 is obeyed (Retry-After) and counted, not an error;
- hostile clients (`--hostile-share` of the clients, pausing `--hostile-think` on average;
  they obey 429 too), cycling through: a GNU sparse tar bomb, a gzip bomb, a tar header
  declaring 10 GB, a ~730-byte bundle whose manifest holds 200,000 bad items (unsigned, and
  self-signed), an unsigned manifest, one signed by an unregistered key, one changed after
  signing, a truncated bundle, a non-gzip body, a body declared over the limit, one streamed
  past it, and `POST /api/v1/submissions` with a bad and with no token.

Reading the figures: per kind of request, requests/s over the whole run, latency
percentiles (send to last byte, in ms) and status counts; `windows` splits the run in ten to
show drift, `answers_per_s` and `longest_stall_s` show seconds in which nothing was answered,
and `failed_requests` when each 5xx (or unanswered request) happened; `server_errors` counts
the server's logged unhandled errors by request and exception. `cpu` is cores used on
average by the server process, PostgreSQL (postmaster and backends), this generator and
everything else on the machine (other users included): a server near 1.0 is saturated (one
uvicorn worker, one GIL), and a generator far below the server did not starve it. Server
memory: VmRSS sampled every 2 s, and the peak (VmHWM).
The proof compares the database after the load with the one before: every new run must be a
valid upload this script got 201 for (by run_id), every new blob its bundle or source, every
new attempt its variant, every new row of a table keyed to runs one of those runs, and no
other table may grow. Exit status 1 on any 5xx, any hostile request answered 2xx, anything
stored that no valid upload explains, or an acknowledged upload missing. Compare figures
between runs on one machine, never across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import json
import os
import platform
import random
import re
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import httpx  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402
from support.bundles import LOSS, RUNS, claim_runs, make_bundle  # noqa: E402
from support.loop import SPEEDRUN, speedrun, wait_until  # noqa: E402
from support.postgres import free_port, pg_bin, postgres_server  # noqa: E402
from support.tarballs import members, sparse_bomb, tar_gz  # noqa: E402

from server.models import Base  # noqa: E402
from speedrun import signing  # noqa: E402
from speedrun.bundle import signed_payload  # noqa: E402

TRACK = "cpu-tiny"
API = "/api/v1"
MAX_BUNDLE_BYTES = 64 * 1024 * 1024  # the server's default max_bundle_bytes
READS = {  # kind: weight in a reader's deck
    "read:page-index": 2,
    "read:page-track": 3,
    "read:page-run": 3,
    "read:page-record": 1,
    "read:page-submission": 1,
    "read:api-leaderboard": 4,
    "read:api-run": 3,
    "read:api-attempt": 1,
    "read:api-health": 2,
}
UPLOAD = "upload:valid"


# --- hostile bodies -----------------------------------------------------------------------


def gzip_bomb(expanded_bytes: int = 256 * 1024**2) -> bytes:
    """Zeros that expand past the server's 128 MiB bound (max_bundle_expanded_bytes)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024**2)
    parts = [comp.compress(block) for _ in range(expanded_bytes // len(block))]
    return b"".join(parts) + comp.flush()


def header_10gb() -> bytes:
    info = tarfile.TarInfo("manifest.json")
    info.size = 10 * 1024**3
    return gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT) + bytes(1024), mtime=0)


def bad_items(key: Ed25519PrivateKey | None) -> bytes:
    """~730 bytes expanding to a manifest of 200,000 items, each a schema error (the bundle
    of tests/speedrun/test_bundle.py); `key` signs it, else it is unsigned."""
    m: dict[str, Any] = {"flags": [0] * 200_000, "members": {}, "signature": {}}
    if key is not None:
        public = key.public_key()
        m["signature"] = {
            "algorithm": signing.ALGORITHM,
            "key_id": signing.key_id(public),
            "public_key": signing.public_key_b64(public),
            "value": "",
        }
        m["signature"]["value"] = signing.sign(key, signed_payload(m))
    return tar_gz({"manifest.json": json.dumps(m).encode()})


def edited_manifest(key: Ed25519PrivateKey, change: Callable[[dict[str, Any]], None]) -> bytes:
    files = members(make_bundle(key))
    m = json.loads(files["manifest.json"])
    change(m)
    files["manifest.json"] = json.dumps(m).encode()
    return tar_gz(files)


def hostile_bodies(key: Ed25519PrivateKey, folder: Path) -> dict[str, bytes]:
    """Upload bodies for POST /api/v1/runs, built once; none may ever be stored."""
    stranger = Ed25519PrivateKey.generate()
    return {
        "hostile:sparse-tar-bomb": sparse_bomb(folder),
        "hostile:gzip-bomb": gzip_bomb(),
        "hostile:10gb-header": header_10gb(),
        "hostile:bad-items-unsigned": bad_items(None),
        "hostile:bad-items-self-signed": bad_items(stranger),
        "hostile:unsigned": edited_manifest(key, lambda m: m.pop("signature")),
        "hostile:unknown-key": make_bundle(stranger),
        "hostile:bad-signature": edited_manifest(key, lambda m: m["figures"].update(time_ms=1.0)),
        "hostile:truncated": make_bundle(key)[:-40],
        "hostile:not-gzip": b"PK\x03\x04" + random.randbytes(2048),
    }


HOSTILE_SPECIAL = (
    "hostile:oversized-declared",
    "hostile:oversized-streamed",
    "hostile:submission-bad-token",
    "hostile:submission-no-token",
)


# --- a small HTTP/1.1 client --------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            body += (await reader.readexactly(size + 2))[:-2]
        await reader.readuntil(b"\r\n")
    else:
        body = await reader.read()
        headers["connection"] = "close"
    return Answer(status, headers, body)


def request_head(method: str, path: str, headers: dict[str, str], length: int | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Conn:
    """One keep-alive connection from one loopback source address; reopened when closed."""

    IDLE_S = 4.0  # uvicorn closes idle keep-alive connections after 5 s

    def __init__(self, port: int, source: str) -> None:
        self.port, self.source = port, source
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used_at = 0.0

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.writer is not None and time.monotonic() - self.used_at > self.IDLE_S:
            self.close()
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(
                "127.0.0.1", self.port, local_addr=(self.source, 0), limit=4 * 1024**2
            )
        return self.reader, self.writer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Answer:
        length = len(body) if method == "POST" else None
        data = request_head(method, path, headers or {}, length) + body
        for tries_left in (1, 0):
            reused = self.writer is not None
            reader, writer = await self.open()
            try:
                writer.write(data)
                await writer.drain()
                answer = await read_answer(reader)
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()  # a keep-alive connection closed under us: once more, fresh
                if reused and tries_left:
                    continue
                raise
            self.used_at = time.monotonic()
            if answer.headers.get("connection", "").lower() == "close":
                self.close()
            return answer
        raise AssertionError("unreachable")

    async def declared_oversize(self, path: str) -> Answer:
        """Content-Length past the limit, no body: the server should answer at once."""
        self.close()
        reader, writer = await self.open()
        try:
            writer.write(request_head("POST", path, {}, MAX_BUNDLE_BYTES + 1))
            return await read_answer(reader)
        finally:
            self.close()

    async def streamed_oversize(self, path: str) -> Answer:
        """A chunked body with no length, streamed until the server answers (or 2x limit)."""
        self.close()
        reader, writer = await self.open()
        chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"

        async def send() -> None:
            for _ in range(2 * MAX_BUNDLE_BYTES // 0x10000):
                writer.write(chunk)
                await writer.drain()
            writer.write(b"0\r\n\r\n")

        writer.write(request_head("POST", path, {"Transfer-Encoding": "chunked"}, None))
        sender = asyncio.create_task(send())
        try:
            return await read_answer(reader)
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            self.close()


def source_address(index: int) -> str:
    return f"127.0.{1 + index // 250}.{1 + index % 250}"


# --- the load -----------------------------------------------------------------------------


@dataclass
class Tally:
    """Every request: kind -> finish offsets, latencies, status and problem-code counts."""

    started: float = field(default_factory=time.perf_counter)
    done_s: dict[str, list[float]] = field(default_factory=dict)
    latency_s: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    codes: dict[str, Counter[str]] = field(default_factory=dict)
    failed: list[tuple[float, str, int, float]] = field(default_factory=list)  # at, kind, ...

    def add(self, kind: str, status: int, began: float, answer: Answer | None) -> None:
        now = time.perf_counter()
        self.done_s.setdefault(kind, []).append(now - self.started)
        self.latency_s.setdefault(kind, []).append(now - began)
        self.statuses.setdefault(kind, Counter())[status] += 1
        if status >= 500 or status <= 0:
            self.failed.append((round(now - self.started, 1), kind, status, round(now - began, 1)))
        if answer is not None and answer.status >= 400 and answer.body[:1] == b"{":
            try:
                code = str(json.loads(answer.body).get("code"))
            except ValueError:
                code = "unparsed"
            self.codes.setdefault(kind, Counter())[code] += 1


@dataclass
class Load:
    """What the clients share: the server, the pools of ids to read, and the tally."""

    port: int
    key: Ed25519PrivateKey
    stop_at: float
    think_s: float
    hostile_think_s: float
    upload_interval_s: float
    timeout_s: float
    hostile: dict[str, bytes]
    run_ids: list[str]
    record_ids: list[int]
    attempt_ids: list[int]
    submission_ids: list[int]
    tally: Tally = field(default_factory=Tally)
    uploaded: dict[str, tuple[str, str]] = field(default_factory=dict)  # run_id: (bundle, src)

    def running(self) -> bool:
        return time.perf_counter() < self.stop_at

    async def pause(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, min(seconds, self.stop_at - time.perf_counter())))

    async def timed(self, kind: str, conn: Conn, call: Awaitable[Answer]) -> Answer | None:
        """Run one request; status 0 = connection error, -1 = timeout (both closed)."""
        began = time.perf_counter()
        answer: Answer | None = None
        try:
            answer = await asyncio.wait_for(call, self.timeout_s)
            status = answer.status
        except TimeoutError:
            status = -1
            conn.close()
        except (OSError, asyncio.IncompleteReadError, ValueError):
            status = 0
            conn.close()
        self.tally.add(kind, status, began, answer)
        return answer

    async def obey(self, answer: Answer | None) -> None:
        if answer is not None and answer.status == 429:
            retry = answer.headers.get("retry-after", "1")
            await self.pause(float(retry) if retry.replace(".", "", 1).isdigit() else 1.0)


def read_path(load: Load, kind: str, rng: random.Random) -> str:
    pick = rng.choice
    paths: dict[str, Callable[[], str]] = {
        "read:page-index": lambda: "/",
        "read:page-track": lambda: f"/tracks/{TRACK}",
        "read:page-run": lambda: f"/runs/{pick(load.run_ids)}",
        "read:page-record": lambda: f"/records/{pick(load.record_ids)}",
        "read:page-submission": lambda: f"/submissions/{pick(load.submission_ids)}",
        "read:api-leaderboard": lambda: f"{API}/tracks/{TRACK}/leaderboard",
        "read:api-run": lambda: f"{API}/runs/{pick(load.run_ids)}",
        "read:api-attempt": lambda: f"{API}/attempts/{pick(load.attempt_ids)}",
        "read:api-health": lambda: f"{API}/health",
    }
    return paths[kind]()


async def reader(load: Load, conn: Conn, rng: random.Random) -> None:
    deck = [kind for kind, weight in READS.items() for _ in range(weight)]
    if not load.record_ids:
        deck = [k for k in deck if k != "read:page-record"]
    while load.running():
        rng.shuffle(deck)
        for kind in deck:
            if not load.running():
                return
            await load.timed(kind, conn, conn.request("GET", read_path(load, kind, rng)))
            await load.pause(rng.uniform(0, 2 * load.think_s))


async def uploader(load: Load, conn: Conn, rng: random.Random, index: int) -> None:
    sources = [f"from speedrun import harness\n\nprint('soak variant {k}')\n" for k in range(8)]
    while load.running():
        source = rng.choice(sources)
        time_ms = round(rng.uniform(900, 1100), 1)
        body = make_bundle(load.key, source=source, time_ms=time_ms, val_loss=LOSS, seed=index)
        answer = await load.timed(UPLOAD, conn, conn.request("POST", f"{API}/runs", body=body))
        if answer is not None and answer.status in (200, 201):
            brief = json.loads(answer.body)["run"]
            load.uploaded[brief["run_id"]] = (
                hashlib.sha256(body).hexdigest(),
                hashlib.sha256(source.encode()).hexdigest(),
            )
            load.run_ids.append(brief["run_id"])
            if brief["attempt_id"] not in load.attempt_ids:
                load.attempt_ids.append(brief["attempt_id"])
        await load.obey(answer)
        await load.pause(rng.uniform(0.5, 1.5) * load.upload_interval_s)


def hostile_call(load: Load, conn: Conn, kind: str) -> Awaitable[Answer]:
    if kind == "hostile:oversized-declared":
        return conn.declared_oversize(f"{API}/runs")
    if kind == "hostile:oversized-streamed":
        return conn.streamed_oversize(f"{API}/runs")
    if kind.startswith("hostile:submission-"):
        body = json.dumps({"track": TRACK, "source": "print(1)\n", "description": "x"})
        headers = {"Content-Type": "application/json"}
        if kind == "hostile:submission-bad-token":
            headers["Authorization"] = "Bearer " + "not-a-token-" * 3
        return conn.request("POST", f"{API}/submissions", headers, body.encode())
    headers = {"Content-Type": "application/gzip"}
    return conn.request("POST", f"{API}/runs", headers, load.hostile[kind])


async def attacker(load: Load, conn: Conn, rng: random.Random, index: int, of: int) -> None:
    kinds = sorted(load.hostile) + list(HOSTILE_SPECIAL)
    turn = index * len(kinds) // of  # attackers start spread over the cycle: all kinds early
    while load.running():
        kind = kinds[turn % len(kinds)]
        turn += 1
        answer = await load.timed(kind, conn, hostile_call(load, conn, kind))
        await load.obey(answer)
        await load.pause(rng.uniform(0, 2 * load.hostile_think_s))


async def run_clients(load: Load, clients: int, uploaders: int, attackers: int) -> float:
    """Start every client (spread over the first seconds), wait for all; the elapsed time."""
    ramp_s = min(5.0, (load.stop_at - time.perf_counter()) / 10)
    tasks = []
    for i in range(clients):
        rng = random.Random(i)
        conn = Conn(load.port, source_address(i))
        if i < uploaders:
            job = uploader(load, conn, rng, i)
        elif i < uploaders + attackers:
            job = attacker(load, conn, rng, i - uploaders, attackers)
        else:
            job = reader(load, conn, rng)
        tasks.append(asyncio.create_task(delayed(ramp_s * i / clients, job, conn)))
    await asyncio.gather(*tasks)
    return time.perf_counter() - load.tally.started


async def delayed(delay_s: float, job: Awaitable[None], conn: Conn) -> None:
    await asyncio.sleep(delay_s)
    try:
        await job
    finally:
        conn.close()


# --- machine sampling ---------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system CPU seconds) of a process, or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(values[:8])
    return (total - values[3] - values[4]) / TICK, total / TICK


def postmaster_pid(port: int) -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[0].endswith(b"/postgres") and str(port).encode() in argv:
                return int(entry.name)
    return None


def status_kib(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


@dataclass
class Sampler:
    """CPU seconds of the server, PostgreSQL, this process and the machine; server memory."""

    server_pid: int
    pg_port: int
    pg_root: int | None = None
    first: dict[str, float] = field(default_factory=dict)
    pg_first: dict[int, float] = field(default_factory=dict)
    pg_last: dict[int, float] = field(default_factory=dict)
    rss_kib: list[tuple[float, int]] = field(default_factory=list)
    hwm_kib: int = 0

    def now(self) -> dict[str, float]:
        busy, total = machine_cpu_s()
        own = os.times()
        server = proc_stat(self.server_pid)
        return {
            "busy": busy,
            "total": total,
            "loadgen": own.user + own.system,
            "server": server[1] if server else 0.0,
            "wall": time.perf_counter(),
        }

    def postgres(self) -> None:
        root = self.pg_root = self.pg_root or postmaster_pid(self.pg_port)
        for entry in Path("/proc").iterdir():
            stat = proc_stat(int(entry.name)) if entry.name.isdigit() else None
            if stat and root and root in (int(entry.name), stat[0]):
                self.pg_first.setdefault(int(entry.name), stat[1] if not self.first else 0.0)
                self.pg_last[int(entry.name)] = stat[1]

    def sample(self, offset_s: float) -> None:
        if not self.first:
            self.postgres()
            self.first = self.now()
        self.postgres()
        try:
            self.rss_kib.append((offset_s, status_kib(self.server_pid, "VmRSS")))
            self.hwm_kib = max(self.hwm_kib, status_kib(self.server_pid, "VmHWM"))
        except OSError:
            pass

    def shares(self) -> dict[str, float]:
        """Cores used on average over the sampled time, by whom."""
        last = self.now()
        self.postgres()
        wall = last["wall"] - self.first["wall"]
        cores = (last["total"] - self.first["total"]) / wall
        used = {k: (last[k] - self.first[k]) / wall for k in ("server", "loadgen", "busy")}
        pg = sum(v - self.pg_first.get(p, 0.0) for p, v in self.pg_last.items()) / wall
        other = used["busy"] - used["server"] - used["loadgen"] - pg
        return {
            "cores": round(cores, 2),
            "server": round(used["server"], 3),
            "postgres": round(pg, 3),
            "loadgen": round(used["loadgen"], 3),
            "other": round(max(other, 0.0), 3),
            "idle": round(cores - used["busy"], 3),
        }


async def sample_every(sampler: Sampler, load: Load, every_s: float = 2.0) -> None:
    while load.running():
        sampler.sample(time.perf_counter() - load.tally.started)
        await load.pause(every_s)
    sampler.sample(time.perf_counter() - load.tally.started)


# --- setup: PostgreSQL, the server, keys, seed data ---------------------------------------


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    db_url: str


def create_database(admin_url: str, name: str) -> str:
    engine = create_engine(f"{admin_url}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return f"{admin_url}/{name}"


def start_server(db_url: str, port: int, folder: Path) -> Served:
    """`speedrun serve` as a subprocess; the periodic re-verification scan off, so that only
    requests write (its jobs would blur the proof)."""
    env = {**os.environ, "SPEEDRUN_REVERIFY_SCAN_INTERVAL_S": "0"}
    log = folder / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                *SPEEDRUN,
                "serve",
                "--db",
                db_url,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def healthy() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()[-2000:]}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}{API}/health", timeout=2).is_success
        except httpx.HTTPError:
            return False

    wait_until(healthy, 120, "the server to answer")
    return Served(proc, port, log, db_url)


def stop_server(served: Served) -> None:
    if served.proc.poll() is None:
        served.proc.send_signal(signal.SIGINT)
        try:
            served.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(served.proc.pid, signal.SIGKILL)
            served.proc.wait(30)


def register_runner(db_url: str, folder: Path) -> tuple[Ed25519PrivateKey, str]:
    """A runner key made and registered with the CLI, and a submitter's token."""
    key_file = folder / "runner.key"
    speedrun("keys", "init", "--key", str(key_file))
    speedrun("admin", "runner-add", "soak-runner", f"{key_file}.pub", "--db", db_url)
    token = speedrun("admin", "token-create", "soak-user", "--db", db_url).strip().splitlines()[-1]
    return signing.load_private_key(key_file), token


@dataclass
class Seed:
    run_ids: list[str]
    record_ids: list[int]
    attempt_ids: list[int]
    submission_ids: list[int]


def seed(port: int, key: Ed25519PrivateKey, token: str, unsolicited: int = 20) -> Seed:
    """One record the product's way (a job's three runs) and some unsolicited runs."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        times = [1000.0 + i for i in range(RUNS)]
        claim = claim_runs(client, key, token, "print('soak seed record')\n", times)
        run_ids = [a["run_id"] for a in claim.answers]
        for i in range(unsolicited):
            body = make_bundle(key, source=f"print('soak seed {i % 4}')\n", time_ms=900.0 + i)
            answer = client.post(f"{API}/runs", content=body)
            answer.raise_for_status()
            run_ids.append(answer.json()["run_id"])
        attempts = client.get(f"{API}/tracks/{TRACK}/attempts").json()["data"]
    return Seed(
        run_ids=run_ids,
        record_ids=claim.records,
        attempt_ids=[a["id"] for a in attempts],
        submission_ids=[claim.submission["id"]],
    )


# --- the proof: what the database holds before and after ----------------------------------


@dataclass
class Snapshot:
    counts: dict[str, int]
    run_ids: set[str]
    blobs: set[str]
    attempts: set[str]  # variant sha256s
    per_run: dict[str, Counter[str]] = field(default_factory=dict)  # table: run_id per row


def snapshot(db_url: str) -> Snapshot:
    """Row counts of every table, and the keys that tie new rows to valid uploads: run ids,
    blob and variant digests, and the run of each row in a table keyed to runs."""
    tables = Base.metadata.tables
    runs = tables["runs"]
    engine = create_engine(db_url)
    with engine.connect() as conn:
        counts = {
            name: int(conn.scalar(select(func.count()).select_from(table)) or 0)
            for name, table in tables.items()
        }
        per_run = {}
        for name, table in tables.items():
            for fk in table.foreign_keys:
                if name != "runs" and fk.column is runs.c.id:
                    query = select(runs.c.run_id).join_from(table, runs, fk.parent == runs.c.id)
                    per_run[name] = Counter(conn.scalars(query))
        found = Snapshot(
            counts,
            set(conn.scalars(select(runs.c.run_id))),
            set(conn.scalars(select(tables["blobs"].c.sha256))),
            set(conn.scalars(select(tables["attempts"].c.variant_sha256))),
            per_run,
        )
    engine.dispose()
    return found


def prove(
    before: Snapshot, after: Snapshot, uploaded: dict[str, tuple[str, str]], seeded: set[str]
) -> dict[str, Any]:
    """Every new row must be explained by a valid upload acknowledged with 201: a run by its
    run_id, a blob by its bundle's or source's sha256, an attempt by its variant, a row of a
    table keyed to runs by its run. A table that grew by more than that stored something
    no valid upload explains."""
    mine = seeded | set(uploaded)
    bundles = {b for b, _ in uploaded.values()}
    sources = {s for _, s in uploaded.values()}
    new_blobs, new_attempts = after.blobs - before.blobs, after.attempts - before.attempts
    explained = {
        "runs": len(after.run_ids & set(uploaded)),
        "blobs": len(new_blobs & (bundles | sources)),
        "attempts": len(new_attempts & sources),
    }
    stray_rows = {}
    for name, rows in after.per_run.items():
        old = before.per_run.get(name, Counter())
        explained[name] = sum(n - old[r] for r, n in rows.items() if r in mine)
        stray_rows[name] = sorted(r for r in rows if r not in mine)
    tables = {
        name: {
            "before": before.counts.get(name, 0),
            "after": after.counts[name],
            "explained": explained.get(name, 0),
        }
        for name in sorted(after.counts)
    }
    proof: dict[str, Any] = {
        "tables": tables,
        "tables_grown_unexplained": [
            n for n, t in tables.items() if t["after"] - t["before"] > t["explained"]
        ],
        "stray_runs": sorted(after.run_ids - mine),
        "missing_runs": sorted(set(uploaded) - after.run_ids),
        "stray_blobs": sorted(new_blobs - bundles - sources),
        "stray_attempts": sorted(new_attempts - sources),
        "stray_rows_by_run": {n: r for n, r in stray_rows.items() if r},
    }
    proof["ok"] = not any(v for k, v in proof.items() if k != "tables")
    return proof


# --- figures and the report ---------------------------------------------------------------


def percentile_ms(ordered: list[float], q: float) -> float:
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def figures(latencies: list[float], statuses: Counter[int], elapsed_s: float) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "rps": round(len(ordered) / elapsed_s, 2),
        "p50_ms": percentile_ms(ordered, 0.50) if ordered else None,
        "p95_ms": percentile_ms(ordered, 0.95) if ordered else None,
        "p99_ms": percentile_ms(ordered, 0.99) if ordered else None,
        "max_ms": round(1000 * ordered[-1], 1) if ordered else None,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "5xx": sum(v for k, v in statuses.items() if k >= 500),
        "429": statuses.get(429, 0),
        "no_answer": statuses.get(0, 0) + statuses.get(-1, 0),
    }


def group_of(kind: str) -> str:
    return kind.split(":", 1)[0]


def summarize(tally: Tally, elapsed_s: float) -> dict[str, Any]:
    kinds = {
        kind: figures(tally.latency_s[kind], tally.statuses[kind], elapsed_s)
        | {"codes": dict(tally.codes.get(kind, Counter()).most_common())}
        for kind in sorted(tally.latency_s)
    }
    groups: dict[str, Any] = {}
    for name in ["read", "upload", "hostile", "all"]:
        members = [k for k in tally.latency_s if name == "all" or group_of(k) == name]
        lat = [x for k in members for x in tally.latency_s[k]]
        statuses = sum((tally.statuses[k] for k in members), Counter[int]())
        groups[name] = figures(lat, statuses, elapsed_s)
    per_s = Counter(int(t) for done in tally.done_s.values() for t in done)
    return {
        "kinds": kinds,
        "groups": groups,
        "windows": windows(tally, elapsed_s),
        "answers_per_s": [per_s[i] for i in range(int(elapsed_s) + 1)],
        "failed_requests": [
            {"at_s": at, "kind": k, "status": st, "latency_s": lat}
            for at, k, st, lat in tally.failed
        ][:1000],
    }


def longest_stall_s(per_s: list[int], duration_s: float) -> int:
    """The longest run of whole seconds without a single answer while clients were sending."""
    longest = current = 0
    for count in per_s[: int(duration_s)]:
        current = current + 1 if count == 0 else 0
        longest = max(longest, current)
    return longest


EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Timeout)\w*(: .*)?$")


def server_errors(log: str) -> dict[str, Any]:
    """The server's unhandled errors (each logged as `unhandled error on METHOD PATH` and a
    traceback): counts by request and by the exception it ended with."""
    by_request: Counter[str] = Counter()
    by_exception: Counter[str] = Counter()
    for chunk in log.split("unhandled error on ")[1:]:
        request = " ".join(chunk.split("\n", 1)[0].split()[:2])
        by_request[re.sub(r"/([0-9a-f]{8,}|\d+)(?=/|$)", "/{id}", request)] += 1
        raised = [ln for ln in chunk.splitlines() if EXCEPTION_LINE.match(ln)]
        by_exception[raised[-1][:200] if raised else "(no exception line)"] += 1
    return {
        "unhandled": sum(by_request.values()),
        "by_request": dict(by_request.most_common(20)),
        "by_exception": dict(by_exception.most_common(10)),
        "tracebacks": log.count("Traceback (most recent call last)"),
    }


def windows(tally: Tally, elapsed_s: float, parts: int = 10) -> list[dict[str, Any]]:
    """The run cut into `parts` slices by finish time: throughput and tail per slice."""
    width = elapsed_s / parts
    slices: list[list[float]] = [[] for _ in range(parts)]
    for kind, done in tally.done_s.items():
        for at, lat in zip(done, tally.latency_s[kind], strict=True):
            slices[min(parts - 1, int(at / width))].append(lat)
    return [
        {"from_s": round(i * width), "rps": round(len(s) / width, 1)}
        | ({"p50_ms": percentile_ms(sorted(s), 0.5), "p99_ms": percentile_ms(sorted(s), 0.99)})
        for i, s in enumerate(slices)
        if s
    ]


def failures_of(result: dict[str, Any]) -> list[str]:
    found = []
    for kind, fig in result["kinds"].items():
        if fig["5xx"]:
            found.append(f"{kind}: {fig['5xx']} answers 5xx")
        accepted = sum(v for k, v in fig["statuses"].items() if k.startswith("2"))
        if group_of(kind) == "hostile" and accepted:
            found.append(f"{kind}: {accepted} hostile requests answered 2xx")
    proof = result["proof"]
    for name, found_here in proof.items():
        if name not in ("tables", "ok") and found_here:
            found.append(f"{name}: {str(found_here)[:500]}")
    return found


def print_report(result: dict[str, Any]) -> None:
    head = (
        f"{'kind':34} {'req':>7} {'req/s':>7} {'p50':>7} {'p95':>7} {'p99':>8} {'max':>8}  statuses"
    )
    print(head)
    print("-" * len(head))
    rows = list(result["kinds"].items()) + [(f"[{g}]", f) for g, f in result["groups"].items()]
    for kind, f in rows:
        statuses = " ".join(f"{k}:{v}" for k, v in f["statuses"].items())
        p = [f["p50_ms"], f["p95_ms"], f["p99_ms"], f["max_ms"]]
        print(
            f"{kind:34} {f['requests']:>7} {f['rps']:>7.1f} {p[0]:>7} {p[1]:>7} {p[2]:>8} {p[3]:>8}  {statuses}"
        )
    cpu, mem = result["cpu"], result["server_memory"]
    print("\nlatencies in ms; statuses 0 = connection error, -1 = client timeout")
    print(
        "windows (req/s, p50/p99 ms): "
        + ", ".join(
            f"{w['from_s']}s {w['rps']} {w['p50_ms']}/{w['p99_ms']}" for w in result["windows"]
        )
    )
    print(
        f"cpu (cores of {cpu['cores']}): server {cpu['server']}, postgres {cpu['postgres']}, "
        f"load generator {cpu['loadgen']}, other {cpu['other']}, idle {cpu['idle']}"
    )
    print(
        f"server memory: VmRSS {mem['rss_start_mib']} MiB at start, {mem['rss_end_mib']} MiB "
        f"at end, VmHWM (peak) {mem['hwm_mib']} MiB"
    )
    errors = result["server_errors"]
    print(f"server log: {errors['unhandled']} unhandled errors {errors['by_exception']}")
    stall = result["longest_stall_s"]
    failed = result["failed_requests"]
    print(
        f"longest stall (no answer at all): {stall} s; 5xx/unanswered at (s): "
        + ", ".join(f"{f['at_s']:.0f}" for f in failed[:40])
    )
    proof = result["proof"]
    print(
        "tables (before -> after, explained by valid uploads): "
        + ", ".join(
            f"{n} {t['before']}->{t['after']} (+{t['explained']})"
            for n, t in proof["tables"].items()
        )
    )
    print(
        f"proof: {'ok' if proof['ok'] else 'FAILED'}; uploads acknowledged: {result['valid_uploads']}"
    )
    print("result: " + ("ok" if result["ok"] else "FAILED: " + "; ".join(result["failures"])))


# --- main ---------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")),
        platform.processor(),
    )
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    pg = pg_bin()
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024**2, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": pg.parent.name if pg else None,
    }


def roles(args: argparse.Namespace) -> dict[str, int]:
    attackers = max(1, round(args.clients * args.hostile_share))
    uploaders = max(1, min(args.uploaders, args.clients - attackers - 1))
    return {
        "readers": args.clients - attackers - uploaders,
        "uploaders": uploaders,
        "attackers": attackers,
    }


def run_load(
    args: argparse.Namespace,
    served: Served,
    key: Ed25519PrivateKey,
    seeded: Seed,
    hostile: dict[str, bytes],
    pg_port: int,
) -> tuple[Load, Sampler, float]:
    load = Load(
        port=served.port,
        key=key,
        stop_at=time.perf_counter() + args.duration,
        think_s=args.think,
        hostile_think_s=args.hostile_think,
        upload_interval_s=args.upload_interval,
        timeout_s=args.timeout,
        hostile=hostile,
        run_ids=list(seeded.run_ids),
        record_ids=list(seeded.record_ids),
        attempt_ids=list(seeded.attempt_ids),
        submission_ids=list(seeded.submission_ids),
    )
    sampler = Sampler(served.proc.pid, pg_port)
    mix = roles(args)

    async def main() -> float:
        sampling = asyncio.create_task(sample_every(sampler, load))
        elapsed = await run_clients(load, args.clients, mix["uploaders"], mix["attackers"])
        await sampling
        return elapsed

    elapsed = asyncio.run(main())
    return load, sampler, elapsed


def memory_figures(sampler: Sampler) -> dict[str, Any]:
    rss = [kib for _, kib in sampler.rss_kib]
    return {
        "rss_start_mib": round(rss[0] / 1024, 1) if rss else None,
        "rss_end_mib": round(rss[-1] / 1024, 1) if rss else None,
        "hwm_mib": round(sampler.hwm_kib / 1024, 1),
        "rss_series_mib": [(round(t), round(k / 1024, 1)) for t, k in sampler.rss_kib[::5]],
    }


def soak(args: argparse.Namespace) -> dict[str, Any]:
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="speedrun-soak-") as tmp, postgres_server() as pg:
        folder = Path(tmp)
        t0 = time.perf_counter()
        db_url = create_database(pg, "soak")
        key, token = register_runner(db_url, folder)  # the CLI migrates the database first
        served = start_server(db_url, args.port or free_port(), folder)
        try:
            seeded = seed(served.port, key, token)
            hostile = hostile_bodies(key, folder)
            setup_s = time.perf_counter() - t0
            before = snapshot(db_url)
            load_start = os.getloadavg()
            pg_port = int(pg.rsplit(":", 1)[1])
            load, sampler, elapsed = run_load(args, served, key, seeded, hostile, pg_port)
            cpu = sampler.shares()
            after = snapshot(db_url)
        finally:
            stop_server(served)
        log = served.log.read_text(errors="replace")
    result = summarize(load.tally, elapsed)
    result |= {
        "started_at": started_at,
        "machine": machine(),
        "load_average": {
            "before_setup": load_before,
            "at_start": load_start,
            "at_end": os.getloadavg(),
        },
        "config": {k: v for k, v in vars(args).items() if k != "out"} | roles(args),
        "setup_s": round(setup_s, 1),
        "elapsed_s": round(elapsed, 1),
        "seed": {"runs": len(seeded.run_ids), "records": seeded.record_ids},
        "hostile_body_bytes": {k: len(v) for k, v in sorted(hostile.items())},
        "cpu": cpu,
        "server_memory": memory_figures(sampler),
        "longest_stall_s": longest_stall_s(result["answers_per_s"], args.duration),
        "server_errors": server_errors(log),
        "server_log_tail": log[-3000:],
        "valid_uploads": len(load.uploaded),
        "proof": prove(before, after, load.uploaded, set(seeded.run_ids)),
    }
    result["failures"] = failures_of(result)
    result["ok"] = not result["failures"]
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=300, help="concurrent virtual clients")
    ap.add_argument("--duration", type=float, default=600.0, help="seconds of load")
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    ap.add_argument("--port", type=int, default=0, help="the server's port (default: a free one)")
    ap.add_argument("--think", type=float, default=1.0, help="mean pause between requests, s")
    ap.add_argument("--uploaders", type=int, default=4, help="clients making valid uploads")
    ap.add_argument("--upload-interval", type=float, default=2.0, help="s between uploads")
    ap.add_argument("--hostile-share", type=float, default=0.1, help="share of hostile clients")
    ap.add_argument("--hostile-think", type=float, default=5.0, help="their mean pause, s")
    ap.add_argument("--timeout", type=float, default=120.0, help="per-request timeout, s")
    args = ap.parse_args()
    if args.clients < 3:
        ap.error("--clients must be at least 3 (a reader, an uploader, an attacker)")
    result = soak(args)
    print_report(result)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
