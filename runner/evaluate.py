"""The independent evaluator: the validation loss of an exported model, computed by the runner.

Run as `python -m runner.evaluate --model M --tokens S --seq-len T --batch-seqs B --out R` in
a separate container (or process) that alone sees the scored tokens. It

1. loads the torch.export archive with every unpickling path forced to tensors only
   (`torch.export.load` would otherwise unpickle arbitrary objects: code execution);
2. functionalizes the graph and refuses it unless every call is a known, pure ATen operator
   (no I/O such as `aten.from_file`, no custom or non-ATen operators, no Python modules or
   methods) or an allowed higher-order operator, and it mutates no buffer or input;
3. computes the mean cross-entropy over the slice in windows of the track's length T:
   window k is x = tokens[kT:(k+1)T], y = tokens[kT+1:(k+1)T+1], batch_seqs windows a call;
4. probes causality on the first batch: logits at positions <= k must not change when later
   tokens change, and no sequence's logits may change when another sequence of the batch
   does (windows are consecutive, so a batch-mixing model could read its own targets).

Exit 0 with `{"ok": true, ...}` in R; exit 3 with `{"ok": false, "refused": reason}` when the
model breaks a rule; any other failure exits 1. torch is imported only inside functions.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import operator
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

EXIT_REFUSED = 3
IO_OPS = frozenset({"from_file", "_print", "save", "load", "_assert_async", "_nested_from_file"})
ALLOWED_HOPS = frozenset({"flex_attention", "wrap_with_set_grad_enabled", "wrap_with_autocast"})
ALLOWED_PYTHON = frozenset(
    {
        operator.getitem,
        operator.add,
        operator.sub,
        operator.mul,
        operator.floordiv,
        operator.truediv,
        operator.mod,
        operator.neg,
        operator.eq,
        operator.ne,
        operator.lt,
        operator.le,
        operator.gt,
        operator.ge,
    }
)
PROBE_FRACTIONS = (0.25, 0.5, 0.75)


class RefusedError(Exception):
    """The model breaks an evaluation rule (as opposed to failing to run)."""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m runner.evaluate")
    p.add_argument("--model", required=True)
    p.add_argument("--tokens", required=True)
    p.add_argument("--seq-len", type=int, required=True)
    p.add_argument("--batch-seqs", type=int, required=True)
    p.add_argument("--val-tokens", type=int, required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    try:
        result = evaluate(args.model, args.tokens, args.seq_len, args.batch_seqs, args.val_tokens)
        code = 0
    except RefusedError as exc:
        result, code = {"ok": False, "refused": str(exc)}, EXIT_REFUSED
    tmp = Path(args.out + ".partial")
    tmp.write_text(json.dumps(result, indent=2, sort_keys=True))
    os.replace(tmp, args.out)
    return code


def evaluate(
    model_path: str, tokens_path: str, seq_len: int, batch_seqs: int, val_tokens: int
) -> dict[str, Any]:
    torch = _torch()

    from speedrun.shards import read_shard

    started = time.monotonic()
    program = load_program(model_path)
    ops = check_program(program)
    module = program.module()
    device = _program_device(program)
    tokens = torch.from_numpy(read_shard(tokens_path)[: val_tokens + 1].astype("int64"))
    if tokens.numel() != val_tokens + 1:
        raise ValueError(f"{tokens_path}: {tokens.numel()} tokens, need {val_tokens + 1}")
    total_loss, n_tokens, first = 0.0, 0, None
    with torch.no_grad():
        for x, y, used in _batches(tokens, seq_len, batch_seqs):
            logits = _forward(module, x.to(device), seq_len)
            losses = torch.nn.functional.cross_entropy(
                logits[:used].float().reshape(-1, logits.size(-1)),
                y[:used].reshape(-1).to(device),
                reduction="sum",
            )
            total_loss += float(losses)
            n_tokens += used * seq_len
            if first is None:
                first = (x, logits)
        assert first is not None
        probe = probe_causality(module, first[0].to(device), first[1], seq_len)
    return {
        "ok": True,
        "val_loss": total_loss / n_tokens,
        "tokens_scored": n_tokens,
        "windows": n_tokens // seq_len,
        "seq_len": seq_len,
        "batch_seqs": batch_seqs,
        "device": str(device),
        "ops": ops,
        "causality": probe,
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
        "torch": torch.__version__,
    }


def _batches(tokens: Any, seq_len: int, batch_seqs: int) -> Iterator[tuple[Any, Any, int]]:
    """(x, y, used) with x, y of shape (batch_seqs, seq_len); the last batch is padded."""
    torch = _torch()

    n_windows = (tokens.numel() - 1) // seq_len
    for start in range(0, n_windows, batch_seqs):
        used = min(batch_seqs, n_windows - start)
        x = torch.zeros(batch_seqs, seq_len, dtype=torch.int64)
        y = torch.zeros(batch_seqs, seq_len, dtype=torch.int64)
        for i in range(used):
            k = start + i
            x[i] = tokens[k * seq_len : (k + 1) * seq_len]
            y[i] = tokens[k * seq_len + 1 : (k + 1) * seq_len + 1]
        yield x, y, used


def _forward(module: Any, x: Any, seq_len: int) -> Any:
    torch = _torch()

    out = module(x)
    if (
        not isinstance(out, torch.Tensor)
        or out.dim() != 3
        or tuple(out.shape[:2]) != tuple(x.shape)
    ):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise RefusedError(f"the model must map (B, T) tokens to (B, T, V) logits, gave {shape}")
    if not torch.isfinite(out).all():
        raise RefusedError("the model produced non-finite logits")
    return out


def probe_causality(module: Any, x: Any, logits: Any, seq_len: int) -> dict[str, Any]:
    """Change later tokens (or other sequences) and check earlier logits stay put."""
    torch = _torch()

    gen = torch.Generator().manual_seed(1234)
    vocab = logits.size(-1)
    scale = max(1.0, float(logits.abs().max()))
    tol = (1e-4 if logits.dtype == torch.float32 else 2e-2) * scale
    worst, checks = 0.0, []
    for fraction in PROBE_FRACTIONS:
        k = max(0, min(seq_len - 2, int(seq_len * fraction)))
        changed = x.clone()
        changed[:, k + 1 :] = torch.randint(0, vocab, changed[:, k + 1 :].shape, generator=gen)
        diff = float(
            (_forward(module, changed, seq_len)[:, : k + 1] - logits[:, : k + 1]).abs().max()
        )
        worst = max(worst, diff)
        checks.append({"position": k, "max_abs_diff": diff})
        if diff > tol:
            raise RefusedError(
                f"not causal: logits at positions <= {k} change with later tokens ({diff:.3g})"
            )
    if x.size(0) > 1:
        changed = x.clone()
        changed[1:] = torch.randint(0, vocab, changed[1:].shape, generator=gen)
        diff = float((_forward(module, changed, seq_len)[0] - logits[0]).abs().max())
        checks.append({"batch_independence": True, "max_abs_diff": diff})
        worst = max(worst, diff)
        if diff > tol:
            raise RefusedError(f"sequences of a batch influence each other ({diff:.3g})")
    return {"passed": True, "tolerance": tol, "max_abs_diff": worst, "checks": checks}


@contextlib.contextmanager
def _tensors_only_unpickling() -> Iterator[None]:
    """Within the block, torch.load only rebuilds tensors and raw pickle is refused."""
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


def load_program(path: str) -> Any:
    torch = _torch()

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


def _check_target(target: Any) -> str:
    torch = _torch()

    if isinstance(target, torch._ops.OpOverload):
        name = target._schema.name  # "aten::add"
        namespace, _, base = name.partition("::")
        if namespace != "aten":
            raise RefusedError(f"non-ATen operator {name} is not allowed")
        if base in IO_OPS:
            raise RefusedError(f"I/O operator {name} is not allowed")
        if target._schema.is_mutable:
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
