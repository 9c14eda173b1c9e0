"""Tracks: versioned rulesets, stored as TOML data in `speedrun/trackdefs/`.

A track fixes everything that makes two results comparable: the data (and how to get and pin
it), the validation slice and target, the hardware class and launcher, the scale handed to a
variant (world size, device, model shape, sequence length, batch, token ceiling), the clock
limits, and the statistical rules for a claim and for beating a record. Changing any rule means
a new file with a new version; a record belongs to exactly one (id, version).
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from speedrun.errors import TrackError

DatasetKind = Literal["hub", "synthetic"]
Pos = Annotated[int, Field(gt=0)]
NonNeg = Annotated[int, Field(ge=0)]
Alpha = Annotated[float, Field(gt=0, lt=1)]
# Unknown keys are errors: a misspelt rule must not silently fall back to a default.
_STRICT = ConfigDict(extra="forbid")


@dataclass(frozen=True, config=_STRICT)
class DataFile:
    name: str
    tokens: Pos | None = None  # token count when known in advance
    sha256: str | None = None  # pinned digest; None means "recorded at download"


@dataclass(frozen=True, config=_STRICT)
class Dataset:
    kind: DatasetKind
    name: str  # folder name under the data directory
    source: str  # hub repo id, or "synthlang" for the built-in language
    revision: str  # hub commit, or the generator version
    repo_type: str
    val_file: DataFile
    train_pattern: str  # e.g. "fineweb_train_%06d.bin", numbered from 1
    train_shards: NonNeg  # shards available (a fetch may take fewer)
    train_files: tuple[DataFile, ...]  # pinned shards (synthetic tracks), else empty
    val_tokens: Pos  # validation = the first val_tokens tokens of val_file
    eos_token: NonNeg
    synth: dict[str, int] | None = None  # seeds and sizes of a synthetic build

    def train_name(self, index: int) -> str:
        return self.train_pattern % index


@dataclass(frozen=True, config=_STRICT)
class Hardware:
    klass: str  # e.g. "8xH100-80GB", "1xCUDA", "cpu"
    accelerator: Literal["cuda", "cpu"]
    count: Pos  # accelerators (or processes on CPU)
    gpu_model_pattern: str  # substring a GPU name must contain; "" = any
    ranked_per_gpu_model: bool


@dataclass(frozen=True, config=_STRICT)
class Launcher:
    nproc_per_node: Pos
    backend: Literal["nccl", "gloo"]

    @property
    def command(self) -> list[str]:
        return ["torchrun", "--standalone", f"--nproc_per_node={self.nproc_per_node}"]


@dataclass(frozen=True, config=_STRICT)
class Scale:
    """What the track hands a variant: where it runs and how big the model and batch are."""

    device: Literal["cuda", "cpu"]
    dtype: Literal["bfloat16", "float32"]
    world_size: Pos
    vocab_size: Pos
    n_layer: Pos
    n_head: Pos
    n_embd: Pos
    seq_len: Pos
    batch_tokens: Pos  # tokens per optimizer step, all ranks together
    max_train_tokens: Pos  # ceiling on training tokens a variant may consume
    val_every_tokens: Pos  # suggested spacing of the variant's own val points (untimed)


HeldOutKind = Literal["none", "secret-language", "private-slice"]
Share = Annotated[float, Field(ge=0, lt=1)]


@dataclass(frozen=True, config=_STRICT)
class Evaluation:
    seq_len: Pos  # the runner's evaluator cuts the slice into windows of this length
    batch_seqs: Pos
    # Data no submission can know, held by the runner deployment (speedrun.data.heldout):
    # "secret-language": a synthetic track's language, shards and scored slice all derive from
    #   the deployment's secret, so nothing scored (or trainable) is derivable in the sandbox;
    # "private-slice": runners hold a second validation slice nobody else has;
    # either way a private slice is scored beside the public one, and a gap beyond
    # `held_out_tolerance` (nats) fails the run. Official runs must carry it when not "none".
    held_out: HeldOutKind = "none"
    private_slice_tokens: NonNeg = 0
    held_out_tolerance: Annotated[float, Field(gt=0)] = 0.05


@dataclass(frozen=True, config=_STRICT)
class Limits:
    wall_clock_s: Pos  # the whole attempt, killed beyond this
    untimed_cap_s: NonNeg  # most untimed startup + warmup (before the first warmup_end)
    memory_bytes: Pos
    pids: Pos
    # Untimed validation pauses may add up to this share of the timed training time; the
    # excess is timed and the run fails (training can hide in a pause, never for long).
    val_pause_share: Share = 0.10
    # Time from `done` to `export` (writing the model) left untimed; beyond it, timed. Any
    # allowance is time a variant could train in unseen, so live tracks set 0.
    export_allowance_s: NonNeg = 30
    # Most the variant may write to its output directory (model, logs); stopped beyond it.
    output_bytes: Pos = 16 * 1024**3


@dataclass(frozen=True, config=_STRICT)
class Rules:
    target_val_loss: float
    runs_required: Annotated[int, Field(ge=2)]  # a t-test needs two runs
    significance_alpha: Alpha  # one-sided t-test: mean val loss < target at p < alpha
    beat_alpha: Alpha  # one-sided Welch t-test (or paired A/B) on time at p < beat_alpha
    min_speedup: Annotated[
        float, Field(ge=0, lt=1)
    ]  # a new record must also be at least this fraction faster
    paired_ab: bool  # whether a claim needs interleaved A/B runs against the record
    record_backends: tuple[
        Literal["docker", "local"], ...
    ]  # backends whose bundles count toward records
    # A harness run fails when the script's own train time differs from the runner's by more
    # than this share, or its self-reported val loss from the independent one by more than
    # `loss_tolerance` of it (its dev tail and the scored slice are samples of one source).
    time_tolerance: Share = 0.01
    loss_tolerance: Share = 0.05


Rate = Annotated[float, Field(gt=0)]


@dataclass(frozen=True, config=_STRICT)
class CalibrationReference:
    """What the calibration probe (runner.calibrate) should measure on this hardware class."""

    model: str  # substring of the device's name it applies to ("" = any); first match wins
    matmul_flops_per_s: Rate
    memory_bytes_per_s: Rate  # a large copy: bytes read + bytes written per second
    note: str = ""  # where the figure comes from (measured where, or an estimate)


@dataclass(frozen=True, config=_STRICT)
class PeakFlops:
    """The vendor's peak per accelerator, the denominator of MFU."""

    model: str  # substring of the GPU's name; first match wins (list PCIe before the SXM part)
    flops_per_s: Rate  # dense (no sparsity), at the track's dtype
    source: str  # the vendor's document and figure


@dataclass(frozen=True, config=_STRICT)
class Machine:
    """How a run's machine is judged: marks on the run, never a refusal, so setting them is
    not a rule change and needs no new version. The thresholds here are the documented
    defaults (speedrun.machine reads them; a track may override any):

        below_calibration  the calibration more than `calibration_tolerance` below the
                           track's reference for the device (matmul or memory)
        cpu_steal          mean steal share of the host's CPU time above `steal_share`
        cpu_load           the host's runnable tasks beyond the attempt's own processes
                           (`hardware.count`), per host CPU, above `load_per_cpu`
                           (speedrun.machine.extra_load)
        cpu_throttled      share of samples where the container's cgroup was throttled
                           above `cpu_throttled_share`, and its throttled time above
                           `cpu_throttled_time_share` of the sampled time
        gpu_throttled      share of samples with an active power/thermal/slowdown throttle
                           reason above `gpu_throttled_share`
    """

    calibration_tolerance: Share = 0.5
    references: tuple[CalibrationReference, ...] = ()
    peaks: tuple[PeakFlops, ...] = ()  # GPU tracks; on CPU the calibration's matmul rate
    steal_share: Share = 0.05
    load_per_cpu: Rate = 1.0
    cpu_throttled_share: Share = 0.10
    cpu_throttled_time_share: Share = 0.02
    gpu_throttled_share: Share = 0.10


@dataclass(frozen=True, config=_STRICT)
class Track:
    id: str
    version: Pos
    title: str
    description: str
    hidden: bool  # hidden tracks (test-only) are left off the leaderboard by default
    dataset: Dataset
    hardware: Hardware
    launcher: Launcher
    scale: Scale
    evaluation: Evaluation
    limits: Limits
    rules: Rules
    entropy_floor: float | None = None  # best possible mean val loss, where known
    # "runner": results come from this project's runner; "imported": the speedrun's history,
    # self-reported, never mixed with runner-verified results and never accepting new runs.
    family: Literal["runner", "imported"] = "runner"
    ranked_by: Literal["time", "steps"] = "time"  # the optimization track ranks by steps
    # A retired version keeps its records on show and accepts no new runs or submissions
    # (its rules were found too weak); its successor version is where claims go now.
    retired: bool = False
    machine: Machine = Machine()  # calibration references, peaks, condition thresholds

    @property
    def accepts_runs(self) -> bool:
        return self.family == "runner" and not self.retired

    @property
    def key(self) -> str:
        return f"{self.id}@v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["launcher"]["command"] = " ".join(self.launcher.command)
        data["hardware"]["class"] = data["hardware"].pop("klass")
        return data


@cache
def _track_adapter() -> TypeAdapter[Track]:
    return TypeAdapter(Track)


def parse_track(raw: dict[str, Any], where: str) -> Track:
    """Build a Track from its TOML table, naming the file and the field on any error."""
    data = {**raw}
    if isinstance(data.get("hardware"), dict):
        hardware = dict(data["hardware"])
        if "class" in hardware:
            hardware["klass"] = hardware.pop("class")
        data["hardware"] = hardware
    try:
        track = _track_adapter().validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]).replace("klass", "class")
        raise TrackError(f"{where}: {loc or '(top level)'}: {first['msg']}") from None
    _check_consistency(track, where)
    return track


def _check_consistency(t: Track, where: str) -> None:
    if t.scale.world_size != t.launcher.nproc_per_node:
        raise TrackError(f"{where}: scale.world_size must equal launcher.nproc_per_node")
    if t.scale.n_embd % t.scale.n_head:
        raise TrackError(f"{where}: n_embd must be divisible by n_head")
    if t.scale.batch_tokens % (t.scale.world_size * t.scale.seq_len):
        raise TrackError(f"{where}: batch_tokens must be a multiple of world_size * seq_len")
    if t.dataset.val_tokens % t.evaluation.seq_len:
        raise TrackError(f"{where}: val_tokens must be a multiple of evaluation.seq_len")
    ev = t.evaluation
    if ev.held_out == "secret-language" and t.dataset.kind != "synthetic":
        raise TrackError(f"{where}: held_out 'secret-language' needs a synthetic dataset")
    if ev.held_out != "none" and ev.private_slice_tokens % ev.seq_len:
        raise TrackError(f"{where}: private_slice_tokens must be a multiple of evaluation.seq_len")
    if (ev.held_out == "none") != (ev.private_slice_tokens == 0):
        raise TrackError(f"{where}: private_slice_tokens is set exactly when held_out is not none")


def load_tracks() -> dict[str, list[Track]]:
    """Every track definition shipped with the package, by id, oldest version first."""
    return {track_id: list(versions) for track_id, versions in _load_all().items()}


@cache
def _load_all() -> dict[str, tuple[Track, ...]]:
    """Parsed once per process: definitions ship with the package and never change."""
    found: dict[str, list[Track]] = {}
    for entry in sorted(resources.files("speedrun.trackdefs").iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        try:
            raw = tomllib.loads(entry.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise TrackError(f"{entry.name}: {exc}") from None
        track = parse_track(raw, entry.name)
        found.setdefault(track.id, []).append(track)
    return {k: tuple(sorted(v, key=lambda t: t.version)) for k, v in found.items()}


def get_track(track_id: str, version: int | None = None) -> Track:
    """A track by id (`cpu-tiny`, or `cpu-tiny@v1`); the latest version unless one is given."""
    if "@v" in track_id and version is None:
        track_id, _, ver = track_id.partition("@v")
        if not ver.isdigit():
            raise TrackError(f"bad track version in {track_id}@v{ver!r}")
        version = int(ver)
    tracks = load_tracks()
    if track_id not in tracks:
        raise TrackError(f"unknown track {track_id!r} (known: {', '.join(sorted(tracks))})")
    versions = tracks[track_id]
    if version is None:
        return versions[-1]
    for track in versions:
        if track.version == version:
            return track
    known = ", ".join(str(t.version) for t in versions)
    raise TrackError(f"track {track_id!r} has no version {version} (known: {known})")


def list_tracks(*, include_hidden: bool = False) -> list[Track]:
    """The latest version of each track."""
    latest = [versions[-1] for versions in load_tracks().values()]
    return [t for t in latest if include_hidden or not t.hidden]
