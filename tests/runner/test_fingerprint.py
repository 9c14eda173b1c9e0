"""runner.fingerprint: the host's CPU and memory, and the GPU table parsed from
`nvidia-smi` (here a stand-in script on PATH), with malformed or failing output dropped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner.fingerprint import SMI_FIELDS, cpu_info, cpuinfo_field, host_hardware, nvidia_smi_gpus

SMI_LINE = (
    "0, NVIDIA H100 80GB HBM3, GPU-abc, 550.54, 1980, 2619, 1755, 700.00, 81559, 00000000:18:00.0"
)


def fake_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str, code: int = 0) -> None:
    """An `nvidia-smi` on PATH that prints `output` for the query and a table otherwise."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "nvidia-smi"
    (bin_dir / "query.txt").write_text(output)
    script.write_text(
        "#!/bin/sh\n"
        f'case "$1" in --query-gpu=*) cat "{bin_dir}/query.txt"; exit {code};; esac\n'
        "echo '| NVIDIA-SMI table |'\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_cpu_info_reports_this_host() -> None:
    info = cpu_info()
    assert info["cpu_count"] == os.cpu_count()
    assert isinstance(info["memory_total_bytes"], int) and info["memory_total_bytes"] > 0
    assert cpuinfo_field("no such field in cpuinfo") is None
    hw = host_hardware("cpu")
    assert "gpus" not in hw and hw["cpu_count"] == os.cpu_count()


def test_gpu_rows_are_parsed_into_typed_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_smi(tmp_path, monkeypatch, SMI_LINE + "\n" + SMI_LINE.replace("0,", "1,", 1) + "\n")
    gpus = nvidia_smi_gpus()
    assert len(gpus) == 2 and len(gpus[0]) == len(SMI_FIELDS)
    assert gpus[0]["name"] == "NVIDIA H100 80GB HBM3"
    assert gpus[0]["clocks_max_sm_mhz"] == 1980 and gpus[0]["power_limit_w"] == 700.0
    assert gpus[0]["pci_bus_id"] == "00000000:18:00.0" and gpus[1]["index"] == 1
    hw = host_hardware("cuda")
    assert hw["gpu_count"] == 2 and hw["gpu_model"] == "NVIDIA H100 80GB HBM3"
    assert hw["driver_version"] == 550.54
    assert hw["nvidia_smi"] == "| NVIDIA-SMI table |\n"


def test_malformed_or_failing_nvidia_smi_yields_no_gpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_smi(tmp_path, monkeypatch, "garbage\n0, too, few\n" + SMI_LINE + ", extra\n")
    assert nvidia_smi_gpus() == []
    (tmp_path / "bin" / "nvidia-smi").write_text(
        "#!/bin/sh\necho 'NVIDIA-SMI has failed'; exit 9\n"
    )
    assert nvidia_smi_gpus() == []
    hw = host_hardware("cuda")
    assert hw["gpu_count"] == 0 and hw["gpu_model"] is None and hw["nvidia_smi"] is None
