"""The plumbing of one harness run that every recipe shares: the common command line, the
configuration and the recipe's schedule for its track, the process (torchrun's ranks, the
track's device, the process group), the log, the variant's own validation loss and the
export. torch is imported inside the functions: the harness is torch-free to import."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, TextIO, TypeVar, cast

from speedrun.harness.config import HarnessConfig, load_config, standalone_config
from speedrun.harness.events import Harness
from speedrun.harness.runlog import header_lines

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import torch
    from torch import nn


class Schedule(Protocol):
    """What the harness reads of a recipe's schedule (a frozen dataclass, one per track)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def steps(self) -> int: ...
    @property
    def val_every_steps(self) -> int | None: ...
    @property
    def val_tokens(self) -> int: ...
    def with_steps(self, steps: int) -> Self:
        """The same schedule stretched or shrunk to `steps`."""
        ...


S = TypeVar("S", bound=Schedule)


def arg_parser(doc: str, default_out: str) -> argparse.ArgumentParser:
    """The options every recipe takes (a recipe may add its own before parsing)."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--track", default="cpu-tiny", help="track id, when run by hand")
    p.add_argument("--data-dir", default=os.environ.get("SPEEDRUN_DATA_DIR", "data"))
    p.add_argument("--out", default=default_out, help="output directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="override the schedule's steps")
    p.add_argument("--val-every", type=int, default=None, help="steps between val points")
    p.add_argument("--val-tokens", type=int, default=None, help="tokens per val point")
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="torch.compile the model (default: on CUDA only)",
    )
    p.add_argument(
        "--random-data",
        action="store_true",
        help="train on uniform random tokens (timing checks without data)",
    )
    p.add_argument("--export", action=argparse.BooleanOptionalAction, default=True)
    return p


def resolve_run(args: argparse.Namespace, schedules: Mapping[str, S]) -> tuple[HarnessConfig, S]:
    """The runner's configuration (or, run by hand, one built from --track, --data-dir, --out
    and --seed) and the recipe's schedule for its track: --steps, --val-every and --val-tokens
    applied, steps capped at the track's token ceiling, val_every_steps filled in from the
    track's val_every_tokens when the schedule leaves it to the track."""
    cfg = load_config() or standalone_config(args.track, args.data_dir, args.out, args.seed)
    track_id = cfg.track.partition("@")[0]
    if track_id not in schedules:
        raise SystemExit(f"no schedule for track {track_id!r} (known: {sorted(schedules)})")
    sched = schedules[track_id]
    if args.steps is not None:
        sched = sched.with_steps(args.steps)
    if args.val_every is not None:
        sched = replace(sched, val_every_steps=args.val_every)
    if args.val_tokens is not None:
        sched = replace(sched, val_tokens=args.val_tokens)
    ceiling = cfg.scale.max_train_tokens // cfg.scale.batch_tokens
    if sched.steps > ceiling:
        sched = sched.with_steps(ceiling)  # never past the track's token ceiling
    if not sched.val_every_steps:
        every = max(1, cfg.scale.val_every_tokens // cfg.scale.batch_tokens)
        sched = replace(sched, val_every_steps=every)
    return cfg, sched


class Run(Harness):
    """One process of a harness run: the event channel (`Harness`), its rank and device, and
    the log, which rank 0 prints and writes to output_dir/log.txt."""

    def __init__(
        self,
        cfg: HarnessConfig,
        device: torch.device,
        *,
        rank: int,
        world_size: int,
        local_rank: int,
        distributed: bool,
    ) -> None:
        super().__init__(rank=rank, world_size=world_size)
        self.cfg, self.device = cfg, device
        self.local_rank, self.distributed = local_rank, distributed
        os.makedirs(cfg.output_dir, exist_ok=True)
        self._log: TextIO | None = None
        if rank == 0:
            self._log = open(os.path.join(cfg.output_dir, "log.txt"), "w")  # noqa: SIM115

    def print0(self, s: str) -> None:
        """Print a log line (rank 0 only) and write it to log.txt."""
        if self._log is not None:
            print(s, flush=True)
            self._log.write(s + "\n")

    def log_plan(self, sched: Schedule, layout: tuple[int, int, int], *, random_data: bool) -> None:
        """The run's shape and schedule, under the log's header."""
        sc, (seq_len, micro_tokens, accum) = self.cfg.scale, layout
        self.print0(
            f"track {self.cfg.track} seed {self.cfg.seed} world {self.world_size} "
            f"device {self.device.type} dtype {sc.dtype} "
            f"rows {micro_tokens // seq_len}x{seq_len} accum {accum}"
        )
        self.print0(f"schedule {asdict(sched)}")
        if random_data:
            self.print0(
                "DATA: uniform random tokens (--random-data); losses are not FineWeb losses"
            )

    def sync(self) -> None:
        """Wait for the device (CUDA) so the clock reads finished work."""
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def wrap(self, model: nn.Module, *, compile: bool | None) -> nn.Module:
        """`torch.compile` (default: on CUDA only), then DDP across the ranks when distributed."""
        import torch
        from torch.nn.parallel import DistributedDataParallel

        use_compile = compile if compile is not None else self.device.type == "cuda"
        wrapped = cast("nn.Module", torch.compile(model)) if use_compile else model
        if self.distributed:
            cuda = self.device.type == "cuda"
            wrapped = DistributedDataParallel(
                wrapped, device_ids=[self.local_rank] if cuda else None
            )
        return wrapped

    def val_loss(
        self,
        model: nn.Module,
        val: npt.NDArray[np.int64],
        layout: tuple[int, int, int],
        autocast: Callable[[], AbstractContextManager[Any]] = nullcontext,
    ) -> float:
        """Mean next-token loss over the val tokens, split across ranks in training-shaped
        forwards (`model(x, y)` returns the mean loss)."""
        import torch
        import torch.distributed as dist

        (seq_len, rank_tokens, _), world = layout, self.world_size  # a BatchLayout or its tuple
        step_tokens = rank_tokens * world
        n_batches = (len(val) - 1) // step_tokens
        total = torch.zeros((), device=self.device)
        with torch.no_grad():
            for i in range(n_batches):
                start = i * step_tokens + self.rank * rank_tokens
                buf = torch.from_numpy(val[start : start + rank_tokens + 1]).to(self.device)
                with autocast():
                    total += model(buf[:-1].view(-1, seq_len), buf[1:].view(-1, seq_len)).float()
            if world > 1:
                dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return float(total.item()) / (n_batches * world)

    def export(self, model: nn.Module) -> None:
        """torch.export the model at the evaluation shape to cfg.model_path (rank 0 writes)."""
        import torch

        cfg = self.cfg
        shape = (cfg.eval_batch_seqs, cfg.eval_seq_len)
        example = torch.randint(0, cfg.scale.vocab_size, shape, device=self.device)
        self.export_model(model, example, cfg.model_path)
        self.print0(f"exported model to {cfg.model_path}")

    def close(self) -> None:
        """Close the event channel and the log; leave the process group."""
        import torch.distributed as dist

        super().close()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.distributed:
            dist.barrier()
            dist.destroy_process_group()


def start(cfg: HarnessConfig, code_path: str) -> Run:
    """Bring this process up for `cfg`: ranks from torchrun's RANK/WORLD_SIZE/LOCAL_RANK (plain
    python is world size 1), the track's device, the process group (NCCL on CUDA, gloo on
    CPU); then the `hello` event and the log's header with the code read from `code_path`."""
    import torch
    import torch.distributed as dist

    distributed = "RANK" in os.environ
    rank = int(os.environ.get("RANK", 0))
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if cfg.scale.device == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit(f"track {cfg.track} needs CUDA, and none is available")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if distributed:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    run = Run(
        cfg,
        device,
        rank=rank,
        world_size=world_size,
        local_rank=local_rank,
        distributed=distributed,
    )
    run.hello()
    if rank == 0:
        with open(code_path, encoding="utf-8") as f:
            code = f.read()
        for line in header_lines(code, device):
            run.print0(line)
    return run
