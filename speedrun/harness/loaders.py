"""Tokens for a variant: the track's `.bin` shards streamed across ranks, uniform random tokens
for the untimed warmup (and timing checks without data), the head of the validation or dev
shard for the variant's own val lines, and the split of a step's batch into forwards.
numpy and torch are imported inside the functions: the harness is torch-free to import."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, NamedTuple

from speedrun.harness.config import HarnessConfig, Scale

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import torch

    Tokens = npt.NDArray[np.int64]


def read_shard(path: str | os.PathLike[str]) -> npt.NDArray[np.uint16]:
    """The tokens of one `.bin` shard (modded-nanogpt's format), memory-mapped."""
    from speedrun.data.shards import read_shard as read

    return read(path)


class TokenLoader:
    """Streams the train shards in order; each call every rank takes its own contiguous slice
    of `rank_tokens` (+1 for the shifted targets), like the speedrun's and llm.c's loaders."""

    def __init__(self, files: list[str], rank: int, world_size: int, device: torch.device) -> None:
        if not files:
            raise SystemExit("no training shards found: run `speedrun data fetch` first")
        self.files, self.rank, self.world, self.device = files, rank, world_size, device
        self.shard, self.pos = -1, 0
        self.tokens = self._advance()

    def _advance(self) -> npt.NDArray[np.uint16]:
        import numpy as np

        self.shard, self.pos = (self.shard + 1) % len(self.files), 0
        return np.asarray(read_shard(self.files[self.shard]))

    def next_batch(self, rank_tokens: int, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets), each (rank_tokens // seq_len, seq_len) int64 on the device."""
        import numpy as np
        import torch

        step_tokens = rank_tokens * self.world
        if self.pos + step_tokens + 1 > len(self.tokens):
            self.tokens = self._advance()
        start = self.pos + self.rank * rank_tokens
        buf = torch.from_numpy(self.tokens[start : start + rank_tokens + 1].astype(np.int64))
        self.pos += step_tokens
        x = buf[:-1].view(-1, seq_len)  # (B, T)
        y = buf[1:].view(-1, seq_len)  # (B, T), next tokens
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)


class RandomTokens:
    """Uniform random tokens with TokenLoader's `next_batch`, from a seeded generator: what the
    untimed warmup trains on (the training data is locked until warmup_end), and the data of
    `--random-data` timing checks."""

    def __init__(self, vocab_size: int, seed: int, device: torch.device) -> None:
        import torch

        self.vocab_size, self.device = vocab_size, device
        self.generator = torch.Generator().manual_seed(seed)

    def next_batch(self, rank_tokens: int, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        buf = torch.randint(0, self.vocab_size, (rank_tokens + 1,), generator=self.generator)
        return buf[:-1].view(-1, seq_len).to(self.device), buf[1:].view(-1, seq_len).to(self.device)


def load_val_tokens(cfg: HarnessConfig, max_tokens: int) -> Tokens | None:
    """The first max_tokens (+1 target) tokens of the variant's own validation data: the real
    slice when run by hand (capped at its size), else the runner's dev tail; None without."""
    import numpy as np

    path = cfg.val_file or cfg.dev_file
    if not path:
        return None
    cap = min(max_tokens, cfg.val_tokens or max_tokens)
    tokens = np.asarray(read_shard(path))
    return tokens[: min(len(tokens), cap + 1)].astype(np.int64)


Batches = TokenLoader | RandomTokens  # what a training step draws its rows from


class BatchLayout(NamedTuple):
    seq_len: int  # tokens per row
    micro_tokens: int  # tokens per rank per forward
    accum: int  # forwards per optimizer step


def batch_layout(
    scale: Scale, world_size: int, *, seq_len: int | None = None, micro_tokens: int | None = None
) -> BatchLayout:
    """Cut the track's batch (scale.batch_tokens per step, all ranks) into rows of `seq_len`
    (default: the track's) and forwards of at most `micro_tokens` per rank (default: the
    rank's whole share); SystemExit when it does not divide evenly."""
    seq_len = seq_len or scale.seq_len
    rank_tokens = scale.batch_tokens // world_size
    micro = min(rank_tokens, micro_tokens or rank_tokens)
    if scale.batch_tokens % world_size or rank_tokens % micro or micro % seq_len:
        raise SystemExit(
            f"a batch of {scale.batch_tokens} tokens does not split into {world_size} ranks "
            f"of {micro}-token forwards of {seq_len}-token rows"
        )
    return BatchLayout(seq_len, micro, rank_tokens // micro)
