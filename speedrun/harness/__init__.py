"""The harness: the contract between a training variant and the runner, and the plumbing a
variant shares with the others (torch-free to import: torch only inside functions).

A *harness variant* imports this package (`from speedrun import harness`, all it needs); the
runner detects that statically (`is_harness_variant`) before it starts anything, and then:

* hands the variant its configuration (`HarnessConfig`, `load_config`) in a JSON file named by
  `SPEEDRUN_CONFIG`: the track and its `Scale` (device, dtype, world size, model shape,
  sequence length, batch, token ceiling), the train shard paths, a *dev* shard (the tail of
  the validation shard, past the slice that is scored) for the variant's own loss reports,
  the output directory and where to export the model — but never the scored validation
  tokens;
* listens on the event channel named by `SPEEDRUN_EVENTS` (one JSON object per line, sent by
  `Harness`) and timestamps each event on arrival with its own monotonic clock. Events:
  `hello`, `warmup_start`, `warmup_end` (sent once, even without a warmup: the timed clock
  starts there, and only then does the runner let the variant read its training shards and
  dev tail: a warmup trains on made-up tokens only), `val_pause` / `val_resume` (untimed up to
  a share of the timed time), `done` (with the script's own `train_time_ms`), `export` (the
  model file is written; it is hashed then and must not change afterwards). Untimed time is
  capped by the track; the runner's figure is official;
* after training, evaluates the exported model in a separate process that alone sees the
  validation slice. The model is exported with `torch.export` (a graph of tensor operations,
  not Python), so no submitted code runs where the validation tokens are.

Run by hand (no `SPEEDRUN_CONFIG`), `standalone_config` builds the same configuration from a
track definition and a local data directory, and events are dropped.

What a variant may use besides the contract, so that its file is the recipe (model,
optimizer, schedule, training loop) and not plumbing:

    arg_parser, resolve_run   the common options; the config and the recipe's schedule for
                              its track (overrides applied, capped at the token ceiling)
    start -> Run              torchrun ranks, device, process group, the log and its header
                              (code, versions, nvidia-smi or CPU); a Run is a Harness, plus
                              print0, log_plan, sync, wrap (compile + DDP), val_loss, export,
                              close
    batch_layout              a step's batch cut into rows and forwards per rank
    TokenLoader, RandomTokens train shards streamed across ranks; seeded random tokens
    read_shard, load_val_tokens   a `.bin` shard; the head of the val slice or dev tail
    step_line, peak_memory_line   log lines in modded-nanogpt's format

A *legacy variant* (an unmodified speedrun script) knows nothing of this; the runner then
times the whole process and marks the log's loss as self-reported.
"""

from speedrun.harness.config import (
    CONFIG_ENV,
    HARNESS_VERSION,
    MODEL_FILE,
    HarnessConfig,
    Scale,
    load_config,
    standalone_config,
)
from speedrun.harness.detect import is_harness_variant
from speedrun.harness.events import DATA_WAIT_S, EVENT_NAMES, EVENTS_ENV, Harness
from speedrun.harness.loaders import (
    Batches,
    BatchLayout,
    RandomTokens,
    TokenLoader,
    batch_layout,
    load_val_tokens,
    read_shard,
)
from speedrun.harness.run import Run, Schedule, arg_parser, resolve_run, start
from speedrun.harness.runlog import cpu_model, header_lines, peak_memory_line, step_line

__all__ = [
    "CONFIG_ENV",
    "DATA_WAIT_S",
    "EVENTS_ENV",
    "EVENT_NAMES",
    "HARNESS_VERSION",
    "MODEL_FILE",
    "BatchLayout",
    "Batches",
    "Harness",
    "HarnessConfig",
    "RandomTokens",
    "Run",
    "Scale",
    "Schedule",
    "TokenLoader",
    "arg_parser",
    "batch_layout",
    "cpu_model",
    "header_lines",
    "is_harness_variant",
    "load_config",
    "load_val_tokens",
    "peak_memory_line",
    "read_shard",
    "resolve_run",
    "standalone_config",
    "start",
    "step_line",
]
