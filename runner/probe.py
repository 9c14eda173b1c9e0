"""The software fingerprint of an interpreter: run inside the image (or with the local
Python) as `python -m runner.probe`; prints one JSON object. Imports torch, so it runs in a
separate process, never in the runner itself.
"""

from __future__ import annotations

import json
import platform
import sys
from typing import Any


def software() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libc": "-".join(platform.libc_ver()),
    }
    try:
        import numpy

        info["numpy"] = numpy.__version__
    except ImportError:
        info["numpy"] = None
    try:
        torch = _torch()
    except ImportError:
        info["torch"] = None
        return info
    info["torch"] = torch.__version__
    info["cuda"] = torch.version.cuda
    info["cuda_available"] = torch.cuda.is_available()
    info["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    try:
        nccl = torch.cuda.nccl.version() if torch.cuda.is_available() else None
        info["nccl"] = ".".join(map(str, nccl)) if isinstance(nccl, tuple) else nccl
    except Exception:
        info["nccl"] = None
    try:
        import triton

        info["triton"] = triton.__version__
    except ImportError:
        info["triton"] = None
    info["torch_threads"] = torch.get_num_threads()
    return info


def _torch() -> Any:
    """torch, imported on first use and typed loosely: the module stays importable without it."""
    import torch

    return torch


if __name__ == "__main__":
    json.dump(software(), sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
