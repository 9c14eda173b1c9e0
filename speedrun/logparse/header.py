"""What a log says besides its step lines: the header a run opens with (its code, software
versions and GPUs) and the peak-memory line after its last step (speedrun.logparse's
internals)."""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field

from speedrun.harness.detect import is_harness_variant
from speedrun.logparse.text import LogText, int_or_none

MAX_HEADER_LINES = 2000  # versions and nvidia-smi open the header: ~60 lines for 8 GPUs
MAX_PEAK_LINES = 100  # the peak-memory line follows the last step line

# Each pattern is matched against one line, cut to MAX_LINE_CHARS, and is linear in it (see
# speedrun.logparse.steps).
_PEAK_RE = re.compile(
    r"peak memory (?:allocated|consumption): (\d+) MiB(?:[ \t]+reserved: (\d+) MiB)?"
)
# Matched at the start of a header line; the first line that matches gives the version.
_VERSION_RES = (
    ("python", re.compile(r"Running Python (\S+)")),
    ("torch", re.compile(r"Running pytorch (\S+)", re.IGNORECASE)),
    ("cuda", re.compile(r"Running pytorch \S+ compiled for CUDA (\d\S*)", re.IGNORECASE)),
    ("triton", re.compile(r"Running Triton version (\S+)")),
    ("driver", re.compile(r".*?Driver Version: (\S+)")),  # anywhere in the line
    # the first "NVIDIA-SMI " then the last "CUDA Version: x" after it; the atomic group stops
    # `.*` from being rescanned from every later "NVIDIA-SMI " (they could only fail too)
    ("driver_cuda", re.compile(r"(?>.*?NVIDIA-SMI ).*CUDA Version: (\S+)")),
)
# Track-3 logs name the GPU and world size on the version line instead of nvidia-smi; matched
# only up to the line's last " with world_size N" (see _world_size).
_WORLD_RE = re.compile(r"Running pytorch .* on (.+?) with world_size (\d+)", re.IGNORECASE)
_WORLD_SIZE_RE = re.compile(r" with world_size \d+", re.IGNORECASE)
# A GPU row of the nvidia-smi table: "|   0  NVIDIA H100 80GB HBM3   On  |   00000000:61:00.0 ...".
# The name ends on a non-space and each whitespace run is possessive: the old `(\S.*?)\s+`
# rescanned a run of spaces from each of its characters (quadratic in a 100 KB row).
_SMI_GPU_RE = re.compile(
    r"\|\s++(\d++)\s++(\S(?:.*?\S)?)\s++(?:On|Off)\s++\|\s++[0-9A-Fa-f]++:[0-9A-Fa-f]{2}:"
)
_SMI_LIST_RE = re.compile(r"GPU (\d+): (.+?) \(UUID")


@dataclass
class Header:
    code: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    gpu_model: str | None = None
    gpu_count: int | None = None
    code_sha256: str | None = None  # computed once: track 3 shares one header across 20 runs
    is_harness: bool = False

    def is_empty(self) -> bool:
        return self.code is None and not self.versions and self.gpu_model is None


def find_peak(log: LogText, first: int, stop: int) -> tuple[int, re.Match[str]] | None:
    for i in range(first, min(stop, first + MAX_PEAK_LINES)):
        if m := _PEAK_RE.match(log.heads[i]):
            return i, m
    return None


def parse_header(log: LogText, first: int, stop: int) -> Header:
    """Code, versions and GPUs from lines first..stop-1, the text before a run's first step."""
    if first >= stop:  # runs that follow each other (track 3)
        return Header()
    seps = log.separators[bisect_left(log.separators, first) : bisect_left(log.separators, stop)]
    code: str | None = None
    header_start = first
    if seps and log.is_blank(first, seps[0]):  # 2024: "====", code, "====", header
        if len(seps) >= 2:
            code = log.text[log.offset(seps[0] + 1) : log.offset(seps[1])]
            header_start = seps[1] + 1
    elif seps:  # the code was printed first, then "="*100 (print adds one newline)
        head = log.text[log.offset(first) : log.offset(seps[0])]
        if not head.lstrip().startswith(("Running ", "nvidia-smi")):
            code = head[:-1] if head.endswith("\n") else head
            header_start = seps[0] + 1
    header = Header(code=code if code and code.strip() else None)
    if header.code is not None:
        data = header.code.encode("utf-8", errors="surrogatepass")
        header.code_sha256 = hashlib.sha256(data).hexdigest()
        header.is_harness = _imports_harness(header.code)
    heads = log.heads[header_start : min(stop, header_start + MAX_HEADER_LINES)]
    header.versions = _find_versions(heads)
    _parse_gpus(heads, header)
    return header


def _imports_harness(code: str) -> bool:
    """`is_harness_variant`, asked about the code without its whitespace-only lines: its
    `^\\s*` runs across blank lines from every line start (quadratic in a run of them), and
    dropping them changes no match (every `\\s*`/`\\s+` still spans whitespace)."""
    return is_harness_variant("\n".join(line for line in code.split("\n") if line.strip()))


def _find_versions(heads: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for head in heads:
        for name, rx in _VERSION_RES:
            if name not in found and (m := rx.match(head)):
                found[name] = m.group(1)
        if len(found) == len(_VERSION_RES):
            break
    return {name: found[name] for name, _ in _VERSION_RES if name in found}


def _world_size(head: str) -> tuple[str, int] | None:
    """(GPU, world size) from track 3's "Running pytorch ... on <GPU> with world_size N".
    `.* on (.+?) with world_size` rescans the line lazily from every " on ", quadratic when
    none is followed by a world size; matched only up to the end of the line's last
    " with world_size N", it finds the same match, after at most two failed scans."""
    ends = [m.end() for m in _WORLD_SIZE_RE.finditer(head)]
    m = _WORLD_RE.match(head, 0, ends[-1]) if ends else None
    size = int_or_none(m.group(2)) if m else None
    return (m.group(1), size) if m and size is not None else None


def _parse_gpus(heads: list[str], header: Header) -> None:
    world = next(filter(None, map(_world_size, heads)), None)
    if world:
        header.gpu_model, header.gpu_count = world
        return
    gpus = _gpu_rows(_SMI_GPU_RE, heads) or _gpu_rows(_SMI_LIST_RE, heads)
    if gpus:
        header.gpu_model = Counter(gpus.values()).most_common(1)[0][0]
        header.gpu_count = len(gpus)


def _gpu_rows(rx: re.Pattern[str], heads: list[str]) -> dict[int, str]:
    rows = {int_or_none(m.group(1)): m.group(2) for m in map(rx.match, heads) if m}
    return {index: name for index, name in rows.items() if index is not None}
