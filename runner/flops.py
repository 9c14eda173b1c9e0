"""Forward FLOPs per token of an exported model, counted by torch's own counter
(torch.utils.flop_counter.FlopCounterMode) while the loaded program runs one evaluation batch.

The counter knows matmuls, convolutions and the fused attention kernels of CUDA
(flash, efficient, cuDNN); on CPU, scaled_dot_product_attention dispatches to
`_scaled_dot_product_flash_attention_for_cpu`, which its table lacks, so it is added here with
torch's own attention formula (`sdpa_flop_count`: QK^T and AV over the full T x T scores, as
the kernel computes them whatever the mask). Elementwise work (norms, activations, softmax) is
not counted, as in every MFU convention (PaLM, Appendix B). torch is imported only inside
functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

METHOD = (
    "torch.utils.flop_counter.FlopCounterMode over the exported program, one evaluation batch "
    "(matmuls and attention; attention over the full T x T scores)"
)


def forward_flops(module: Any, batch: Any) -> int:
    """FLOPs of one forward call of `module` on `batch` (no gradients)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=_extra_formulas()) as fc:
        module(batch)
    return int(fc.get_total_flops())


def forward_flops_block(module: Any, batch: Any) -> dict[str, Any]:
    """What the evaluator reports: the total and per-token figures and how they were counted."""
    total = forward_flops(module, batch)
    tokens = int(batch.numel())
    return {
        "forward_flops": total,
        "forward_flops_per_token": total / tokens,
        "flops_batch_tokens": tokens,
        "flops_method": METHOD,
    }


def _cpu_sdpa_flops(
    query_shape: Any, key_shape: Any, value_shape: Any, *args: Any, out_shape: Any = None, **kw: Any
) -> int:
    from torch.utils import flop_counter

    count: Callable[..., int] = flop_counter.sdpa_flop_count  # torch's formula, untyped there
    return int(count(query_shape, key_shape, value_shape))


def _extra_formulas() -> dict[Any, Any]:
    import torch

    op = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    return {op: _cpu_sdpa_flops} if op is not None else {}
