"""speedrun.logparse.header: what a log says before its first step (the code between `=`
rulers, or printed before one; the software versions; the GPUs from nvidia-smi's table, its
`-L` list or track 3's version line) and the peak-memory line after its last step."""

from __future__ import annotations

import hashlib

from speedrun.logparse.header import Header, find_peak, parse_header
from speedrun.logparse.text import LogText, split_lines

RULER = "=" * 100
CODE = "import torch\nprint('train')\n"
SMI = [
    "+-----------------------------------------------------------------------------+",
    "| NVIDIA-SMI 535.129.03   Driver Version: 535.129.03   CUDA Version: 12.2     |",
    "|   0  NVIDIA H100 80GB HBM3          On  |   00000000:61:00.0 Off |          0 |",
    "|   1  NVIDIA H100 80GB HBM3          On  |   00000000:62:00.0 Off |          0 |",
    "|   2  NVIDIA H100 PCIe               On  |   00000000:63:00.0 Off |          0 |",
]


def log(*lines: str) -> LogText:
    return split_lines("\n".join(lines) + "\n", max_line_chars=10_000)


def header_of(text: LogText) -> Header:
    first_step = next(i for i, h in enumerate(text.heads) if h.startswith("step:"))
    return parse_header(text, 0, first_step)


def test_the_2024_layout_code_between_rulers_then_versions_and_gpus() -> None:
    text = log(
        RULER,
        CODE.rstrip("\n"),
        RULER,
        "Running pytorch 2.4.1+cu121 compiled for CUDA 12.1",
        *SMI,
        "step:0/10 val_loss:5.0 train_time:0ms step_avg:nanms",
    )
    header = header_of(text)
    assert header.code == CODE
    assert header.code_sha256 == hashlib.sha256(CODE.encode()).hexdigest()
    assert header.versions == {
        "torch": "2.4.1+cu121",
        "cuda": "12.1",
        "driver": "535.129.03",
        "driver_cuda": "12.2",
    }
    # the model most GPUs have, and every GPU counted
    assert (header.gpu_model, header.gpu_count) == ("NVIDIA H100 80GB HBM3", 3)
    assert not header.is_harness


def test_code_printed_before_a_ruler_and_a_harness_variant() -> None:
    code = "from speedrun import harness\n\n\nharness.start()"
    text = log(
        code,
        RULER,
        "Running Python 3.12.3",
        "GPU 0: NVIDIA H200 (UUID: GPU-1)",
        "step:0/10 val_loss:5.0",
    )
    header = header_of(text)
    assert header.code == code  # print added the newline before the ruler
    assert header.is_harness and header.versions == {"python": "3.12.3"}
    assert (header.gpu_model, header.gpu_count) == ("NVIDIA H200", 1)


def test_track3_names_gpu_and_world_size_on_its_version_line() -> None:
    text = log(
        "Running pytorch 2.11.0+cu128 on NVIDIA H100 80GB HBM3 with world_size 8",
        "step:0/10 val_loss:5.0",
    )
    header = header_of(text)
    assert (header.gpu_model, header.gpu_count) == ("NVIDIA H100 80GB HBM3", 8)
    assert header.code is None  # no ruler: no code


def test_a_run_that_follows_another_has_an_empty_header() -> None:
    header = parse_header(log("step:0/1 val_loss:5.0"), 3, 3)
    assert header.is_empty() and header == Header()


def test_the_peak_memory_line_is_found_after_the_last_step_only_nearby() -> None:
    text = log(
        "step:10/10 val_loss:3.3 train_time:1ms step_avg:1ms",
        "peak memory allocated: 30000 MiB reserved: 31000 MiB",
    )
    found = find_peak(text, 1, len(text.heads))
    assert found is not None and found[0] == 1
    assert found[1].group(1, 2) == ("30000", "31000")
    far = log("step:1/1 val_loss:3.3", *["x"] * 150, "peak memory consumption: 1 MiB")
    assert find_peak(far, 1, len(far.heads)) is None
