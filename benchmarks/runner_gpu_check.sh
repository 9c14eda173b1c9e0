#!/usr/bin/env bash
# GPU check of the runner (not runnable on the CPU-only build machines).
#
# On a machine with at least one CUDA GPU, runs the seed recipe through the runner's LOCAL
# backend on 1 GPU under the gpt2-124m-1xgpu track's settings (GPT-2 small, 1024-token
# sequences, 524,288 tokens a step, bf16) for a short fixed number of steps, then checks the
# signed bundle: it verifies, the attempt completed, the evaluation ran on the GPU, and the
# fingerprint carries nvidia-smi's view (model, UUID, driver, clocks, power limit) and the
# CUDA/NCCL versions.
#
# The data is a stand-in: FineWeb-format shards of uniform random GPT-2 tokens (the machine
# may have no internet), recorded in SHA256SUMS.json so the runner accepts them offline; the
# loss is therefore ~ln(50257), which is fine for a plumbing check.
#
#   PYTHON=/path/to/python bash benchmarks/runner_gpu_check.sh [STEPS]
#
# PYTHON must have a CUDA build of torch and this project's dependencies (numpy, scipy,
# cryptography, jsonschema, huggingface_hub); the script puts the repository on PYTHONPATH.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
STEPS="${1:-20}"
WORK="$(mktemp -d -t runner-gpu-check-XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export SPEEDRUN_KEY="$WORK/runner.key"

echo "== environment"
nvidia-smi --query-gpu=index,name,uuid,driver_version,power.limit --format=csv
"$PYTHON" - <<'PY'
import torch, scipy, cryptography, jsonschema, numpy  # noqa: F401  (fail early and clearly)
assert torch.cuda.is_available(), "this torch has no CUDA device"
print(f"torch {torch.__version__} cuda {torch.version.cuda} on {torch.cuda.get_device_name(0)}")
PY

echo "== stand-in FineWeb shards (random GPT-2 tokens)"
"$PYTHON" - "$WORK/data" <<'PY'
import sys
from pathlib import Path
import numpy as np
from speedrun.data import shards
from speedrun.data.fetch import write_sums
from speedrun.tracks import get_track

track = get_track("gpt2-124m-1xgpu")
folder = Path(sys.argv[1]) / track.dataset.name
folder.mkdir(parents=True)
rng = np.random.default_rng(0)
sums = {}
sizes = {track.dataset.val_file.name: track.dataset.val_tokens + 1_000_000,
         track.dataset.train_name(1): 40 * track.scale.batch_tokens}
for name, n in sizes.items():
    sums[name] = shards.write_shard(folder / name, rng.integers(0, 50257, n, dtype=np.uint16))
write_sums(folder, sums)
print(f"{len(sums)} shards in {folder}")
PY

echo "== the seed recipe, $STEPS steps"
VARIANT="$WORK/train_gpt.py"
"$PYTHON" - records/seed-recipe/train_gpt.py "$VARIANT" "$STEPS" <<'PY'
import sys
src = open(sys.argv[1]).read()
tail = 'if __name__ == "__main__":\n    main(sys.argv[1:])'
assert tail in src, "the seed recipe's entry point changed; update this script"
open(sys.argv[2], "w").write(src.replace(tail, f'if __name__ == "__main__":\n    main(["--steps", "{sys.argv[3]}"])'))
PY

"$PYTHON" -m speedrun.cli keys init >/dev/null
"$PYTHON" -m speedrun.cli run "$VARIANT" --track gpt2-124m-1xgpu --backend local \
  --data-dir "$WORK/data" --train-shards 1 --out "$WORK/out" --seed 1 --time-limit 3600
BUNDLE="$(ls "$WORK"/out/*.bundle.tar.gz)"
"$PYTHON" -m speedrun.cli verify "$BUNDLE" --pubkey "$SPEEDRUN_KEY.pub"

echo "== the bundle's fingerprint"
"$PYTHON" - "$BUNDLE" <<'PY'
import json, sys
from speedrun.bundle import read_bundle

m = read_bundle(open(sys.argv[1], "rb").read()).manifest
hw, sw = m["fingerprint"]["hardware"], m["fingerprint"]["software"]
assert m["exit"]["status"] == "completed", m["exit"]
assert m["evaluation"]["device"].startswith("cuda"), m["evaluation"]
assert hw["accelerator"] == "cuda" and hw["gpu_count"] >= 1 and hw["gpu_model"], hw
for gpu in hw["gpus"]:
    for field in ("name", "uuid", "driver_version", "clocks_max_sm_mhz", "power_limit_w"):
        assert gpu.get(field) not in (None, ""), (field, gpu)
    assert str(gpu["uuid"]).startswith("GPU-"), gpu
assert hw["nvidia_smi"] and "NVIDIA-SMI" in hw["nvidia_smi"]
assert sw["cuda"] and sw["cuda_available"] and sw["nccl"], sw
print(json.dumps({"figures": m["figures"], "gpus": hw["gpus"], "software": sw}, indent=2))
print("GPU CHECK OK")
PY
