"""The independent evaluator: the validation loss of an exported model, computed by the runner.

Run as `python -m runner.evaluate --model M --tokens S --seq-len T --batch-seqs B
--val-tokens N --vocab-size V --out R` in a separate container (or process) that alone sees the
scored tokens. It

1. checks the archive without torch and loads only a sanitized copy (`runner.pt2check`: no
   pickles, no symbolic expressions, no code, identifiers only, ATen calls only), resolves every
   call target against torch's operator registry before deserializing, then functionalizes the
   graph and refuses it unless every call is a known, pure ATen operator (no I/O, no custom
   namespace) or an allowed higher-order operator, and it mutates no buffer or input;
2. requires (B, T) int64 tokens in and exactly (B, T, V) floating logits out, V being the
   track's padded vocabulary (a wider output could hide anything in its extra columns);
3. scores the slice in windows of T tokens: window w is x = tokens[wT:(w+1)T],
   y = tokens[wT+1:(w+1)T+1], B windows a call; the score is the mean of -log_softmax(logits)
   at the targets, computed in float32;
4. probes causality against those scored passes themselves. Before scoring it draws, from the
   operating system's secret random source, PROBES = 688 (window, cut) pairs uniformly over the
   scored windows and positions, and keeps (while scoring) the target log-probs of the probed
   windows only (rows x T floats). Each probe row is its window with the tokens after the cut
   replaced by real tokens of another window at the same positions (the first one differing
   from the original); a cut at T-1 leaves the window unchanged. Rows are dealt into batches
   that mix windows of different scored batches in random order (no window twice in a batch),
   filled up with at least MIN_UNCHANGED_ROWS unchanged windows, and the target log-probs at
   positions <= cut must equal the scored ones within the output dtype's tolerance. So reading
   a later token, or another row of the batch (its consecutive window holds the last target),
   shows, and one scored batch is run again to refuse non-deterministic models (which would
   otherwise read as leaks). A model that leaks at 1% of the scored positions is missed with
   probability 0.99^688 < 0.1%. Cost: ceil((688 + 8) / B) + 1 extra forward passes: 12 on
   cpu-tiny (B = 64, against 16 scored batches), 23 on the GPU tracks (B = 32, against 320).

`--private-tokens P --private-val-tokens M` adds a held-out slice, scored the same way:
`private_val_loss`, `private_tokens_scored`. It is not probed again: a leak there could only
lower the private loss, which widens the gap the runner fails a run for, and cannot help the
scored figure (which is probed).

Exit 0 with `{"ok": true, ...}` in R; exit 3 with `{"ok": false, "refused": reason}` when the
model breaks a rule; any other failure exits 1. torch is imported only inside functions.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import operator
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from runner import flops, pt2check
from runner.causality import (
    LOGPROB_TOL,
    MIN_UNCHANGED_ROWS,
    PROBES,
    Model,
    ProbePlan,
    Shape,
    plan_probes,
    probe_causality,
    score,
)
from runner.pt2check import ALLOWED_HOPS, IO_OPS
from runner.pt2fields import RefusedError

__all__ = [
    "EXIT_REFUSED",
    "MIN_UNCHANGED_ROWS",
    "PROBES",
    "RefusedError",
    "Shape",
    "evaluate",
    "main",
    "plan_probes",
]

EXIT_REFUSED = 3
_PYTHON_OPS = ("getitem", "add", "sub", "mul", "floordiv", "truediv", "mod", "neg")
ALLOWED_PYTHON = frozenset(
    getattr(operator, name) for name in (*_PYTHON_OPS, "eq", "ne", "lt", "le", "gt", "ge")
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m runner.evaluate")
    p.add_argument("--model", required=True)
    p.add_argument("--tokens", required=True)
    p.add_argument("--seq-len", type=int, required=True)
    p.add_argument("--batch-seqs", type=int, required=True)
    p.add_argument("--val-tokens", type=int, required=True)
    p.add_argument("--vocab-size", type=int, required=True, help="the track's padded vocabulary")
    p.add_argument("--private-tokens", help="a held-out slice, scored and probed the same way")
    p.add_argument("--private-val-tokens", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    out = Path(args.out)
    private = (args.private_tokens, args.private_val_tokens) if args.private_tokens else None
    try:
        result = evaluate(
            args.model,
            args.tokens,
            args.seq_len,
            args.batch_seqs,
            args.val_tokens,
            args.vocab_size,
            private=private,
            work_dir=out.resolve().parent,  # writable, unlike the model's folder; /tmp is small
        )
        code = 0
    except RefusedError as exc:
        result, code = {"ok": False, "refused": str(exc)}, EXIT_REFUSED
    tmp = out.with_name(out.name + ".partial")
    tmp.write_text(json.dumps(result, indent=2, sort_keys=True))
    os.replace(tmp, out)
    return code


def evaluate(
    model_path: str,
    tokens_path: str,
    seq_len: int,
    batch_seqs: int,
    val_tokens: int,
    vocab_size: int,
    *,
    private: tuple[str, int] | None = None,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """The result the CLI writes; `private` (path, tokens) adds a held-out slice's loss."""
    started = time.monotonic()
    tokens = _read_slice(tokens_path, val_tokens, seq_len)
    held = _read_slice(*private, seq_len) if private else None
    shape = Shape(seq_len, batch_seqs, vocab_size, val_tokens // seq_len)
    with tempfile.TemporaryDirectory(prefix=".evaluate-", dir=work_dir) as tmp:
        copy = Path(tmp) / "model.pt2"
        summary = pt2check.sanitize_archive(Path(model_path), copy)
        check_contract(summary, shape)
        program = load_program(str(copy), summary.targets)
    ops = check_program(program)
    model = Model(program.module(), _program_device(program), vocab_size)
    result = {"ok": True, **score_slice(model, tokens, shape), "ops": ops}
    result |= count_flops(model, tokens, shape)
    if held is not None:
        held_shape = replace(shape, windows=(held.size - 1) // seq_len)
        part = score_slice(model, held, held_shape, probe=False)
        result["private_val_loss"] = part["val_loss"]
        result["private_tokens_scored"] = part["tokens_scored"]
    result |= {"seq_len": seq_len, "batch_seqs": batch_seqs, "vocab_size": vocab_size}
    result |= {"device": str(model.device), "torch": _torch().__version__}
    result["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
    return result


def _read_slice(path: str, n_tokens: int, seq_len: int) -> Any:
    from speedrun.data.shards import read_shard

    tokens = read_shard(path)[: n_tokens + 1].astype("int64")
    if tokens.size != n_tokens + 1 or n_tokens < seq_len:
        raise ValueError(f"{path}: {tokens.size} tokens, need {n_tokens + 1}")
    return tokens


def score_slice(model: Model, tokens: Any, shape: Shape, *, probe: bool = True) -> dict[str, Any]:
    """Score one slice and probe the model's causality on it (the plan drawn first)."""
    rng = secrets.SystemRandom()  # never a fixed seed
    plan = plan_probes(tokens, shape, rng) if probe else ProbePlan([], -1, 0)
    torch = _torch()
    data = torch.from_numpy(tokens)
    with torch.no_grad():
        scored = score(model, data, shape, plan)
        causality = probe_causality(model, data, shape, plan, scored) if probe else None
    n_tokens = shape.windows * shape.seq_len
    return {
        "val_loss": scored.loss_sum / n_tokens,
        "tokens_scored": n_tokens,
        "windows": shape.windows,
        "causality": causality,
    }


def count_flops(model: Model, tokens: Any, shape: Shape) -> dict[str, Any]:
    """Forward FLOPs per token on the slice's first batch (runner.flops), after scoring;
    zero-padded like the last scored batch when the slice has fewer than B windows."""
    torch = _torch()
    B, T = shape.batch_seqs, shape.seq_len
    used = min(B, shape.windows)
    batch = torch.zeros(B, T, dtype=torch.int64)
    batch[:used] = torch.from_numpy(tokens[: used * T]).view(used, T)
    return flops.forward_flops_block(model.module, batch.to(model.device))


def check_contract(summary: pt2check.ArchiveSummary, shape: Shape) -> None:
    """(B, T) int64 tokens in, (B, T, V) floating logits out, as the archive declares them."""
    B, T, V = shape.batch_seqs, shape.seq_len, shape.vocab_size
    given, wanted = summary.input, pt2check.TensorSpec("int64", (B, T))
    if given != wanted:
        raise RefusedError(f"the model must take (B, T) = {wanted.shape} int64 tokens, not {given}")
    out = summary.output
    if out is None or out.shape != (B, T, V) or out.dtype not in LOGPROB_TOL:
        raise RefusedError(
            f"the model must map tokens to (B, T, V) = {(B, T, V)} floating-point logits "
            f"(V is the track's padded vocabulary), not {out}"
        )


# --- loading and checking the program -----------------------------------------------------------


@contextlib.contextmanager
def _tensors_only_unpickling() -> Iterator[None]:
    """Within the block, torch.load only rebuilds tensors and raw pickle is refused (a second
    line behind pt2check, whose sanitized copy holds no pickle at all)."""
    import pickle

    torch = _torch()

    real_load = torch.load

    def tensors_only(*args: Any, **kwargs: Any) -> Any:
        kwargs["weights_only"] = True
        return real_load(*args, **kwargs)

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise RefusedError("the archive holds pickled Python objects, which are not allowed")

    saved: list[tuple[Any, str, Any]] = [
        (torch, "load", real_load),
        (pickle, "loads", pickle.loads),
    ]
    saved.append((torch._C, "_pickle_load_obj", getattr(torch._C, "_pickle_load_obj", None)))
    torch.load = tensors_only
    pickle.loads = refuse
    torch._C._pickle_load_obj = refuse
    try:
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


def load_program(path: str, targets: Iterable[str]) -> Any:
    """Load a sanitized archive (pt2check's copy) whose call targets all resolve to ATen."""
    torch = _torch()

    check_targets(targets)
    with _tensors_only_unpickling():
        try:
            program = torch.export.load(path)
        except RefusedError:
            raise
        except Exception as exc:
            raise RefusedError(
                f"cannot load the exported model: {type(exc).__name__}: {exc}"
            ) from None
    return program.run_decompositions({})  # functionalize: in-place ops become pure ones


def check_targets(targets: Iterable[str]) -> None:
    """Every `torch.ops.aten.OP.OVERLOAD` names a registered ATen overload that _check_target
    allows, looked up before torch deserializes anything (its loader walks attributes)."""
    torch = _torch()
    for target in sorted(targets):
        _, _, namespace, op, *overload = target.split(".")
        if namespace != "aten":
            continue  # torch.ops.higher_order.NAME, NAME in ALLOWED_HOPS (pt2check)
        try:
            packet = getattr(torch.ops.aten, op)
        except (AttributeError, RuntimeError):
            packet = None
        known = (
            isinstance(packet, torch._ops.OpOverloadPacket) and overload[0] in packet.overloads()
        )
        if not known:
            raise RefusedError(f"{target} is not a registered ATen operator")
        _check_target(getattr(packet, overload[0]), in_place=True)  # functionalized after loading


def check_program(program: Any) -> list[str]:
    """Refuse anything but pure ATen graphs; return the sorted names of the ops used."""
    sig = program.graph_signature
    if sig.buffers_to_mutate or sig.user_inputs_to_mutate:
        raise RefusedError("the model mutates buffers or inputs")
    ops: set[str] = set()
    _check_graph(program.graph_module, ops, depth=0)
    return sorted(ops)


def _check_graph(graph_module: Any, ops: set[str], depth: int) -> None:
    torch = _torch()

    if depth > 4:
        raise RefusedError("subgraphs nested too deeply")
    for node in graph_module.graph.nodes:
        if node.op in ("call_module", "call_method"):
            raise RefusedError(f"graph calls Python ({node.op} {node.target})")
        if node.op == "get_attr":
            sub = getattr(graph_module, str(node.target), None)
            if isinstance(sub, torch.fx.GraphModule):
                _check_graph(sub, ops, depth + 1)
        if node.op == "call_function":
            ops.add(_check_target(node.target))


def _check_target(target: Any, in_place: bool = False) -> str:
    torch = _torch()

    if isinstance(target, torch._ops.OpOverload):
        name = target._schema.name  # "aten::add"
        namespace, _, base = name.partition("::")
        if namespace != "aten":
            raise RefusedError(f"non-ATen operator {name} is not allowed")
        if base in IO_OPS:
            raise RefusedError(f"I/O operator {name} is not allowed")
        if target._schema.is_mutable and not in_place:
            raise RefusedError(f"mutating operator {name} is not allowed")
        return str(target)
    if isinstance(target, torch._ops.HigherOrderOperator):
        if target.name() not in ALLOWED_HOPS:
            raise RefusedError(f"higher-order operator {target.name()} is not allowed")
        return f"higher_order.{target.name()}"
    if (
        target in ALLOWED_PYTHON
        or getattr(target, "__module__", "") == "torch.fx.experimental.sym_node"
    ):
        return getattr(target, "__name__", str(target))
    raise RefusedError(f"call of {getattr(target, '__qualname__', target)!r} is not allowed")


def _program_device(program: Any) -> Any:
    torch = _torch()

    for tensor in list(program.state_dict.values()) + list(program.constants.values()):
        if isinstance(tensor, torch.Tensor):
            return tensor.device
    return torch.device("cpu")


def _torch() -> Any:
    """torch, imported on first use and typed loosely: the module stays importable without it."""
    import torch

    return torch


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
