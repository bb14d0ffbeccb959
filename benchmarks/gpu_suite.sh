#!/usr/bin/env bash
# The GPU suite, one command, for the day a GPU is lent (under 10 minutes on one H100, no downloads):
#
#   bash benchmarks/gpu_suite.sh            # on the GPU machine, from the repository root
#   bash benchmarks/gpu_suite.sh --smoke    # anywhere: the same steps on the CPU, tiny, results in a temp folder
#
# 1. the CUDA tests (tests that skip without a GPU)          -> results/gpu-tests.txt
# 2. the model bench: all models fp16 at batch 1/8/32/64 against the reference-style run
#    (fp32, batch 1, materialised attention) of every TransPose model -> results/gpu-models.{json,md,png}
# 3. the pipeline on walking.mp4 (tp_r_a4, torch fp16) against the peer (yolo11n-pose, fp16) on the same
#    GPU and frames, with and without rendering  -> results/gpu-pipeline.{json,md,png}
#
# Needs torch (CUDA), torchvision, opencv(-headless), typer, rich, numpy; the rest (ultralytics, lap,
# filterpy, matplotlib, pytest ...) is installed from carried wheels when missing: run
# `bash benchmarks/gpu_wheels.sh` on a machine with PyPI first (it fills benchmarks/wheels/, ignored by git)
# and carry that folder. ../shared (clips, yolo11n-pose.pt) must sit beside the checkout, or in ./shared.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
SMOKE=0
[[ "${1:-}" == "--smoke" ]] && SMOKE=1
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export YOLO_OFFLINE=1 HF_HUB_OFFLINE=1

if [[ -d ../shared ]]; then SHARED=$(cd ../shared && pwd)
elif [[ -d shared ]]; then SHARED=$ROOT/shared; ln -sfn "$SHARED" ../shared 2>/dev/null || true
else echo "gpu_suite: ../shared not found (clips and yolo11n-pose.pt)" >&2; exit 2; fi
CLIP=$SHARED/data/clips/walking.mp4
PEER=$SHARED/weights/yolo11n-pose.pt

if [[ $SMOKE == 1 ]]; then
  DEVICE=cpu; OUT=$(mktemp -d); MODELS=tp_r_a3; BATCHES=1; ITERS=1; WARMUP=1; FRAMES=3; PIPE_MODEL=tp_r_a3
else
  DEVICE=cuda; OUT=$ROOT/benchmarks/results; MODELS=all; BATCHES=1,8,32,64; ITERS=30; WARMUP=10; FRAMES=150
  PIPE_MODEL=tp_r_a4
  "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
    || { echo "gpu_suite: torch sees no CUDA device; use --smoke for the CPU check" >&2; exit 2; }
fi
mkdir -p "$OUT"
echo "gpu_suite: device $DEVICE, results in $OUT"

# carried wheels for whatever is missing (no network)
missing=$("$PY" - <<'PY'
import importlib.util
need = {"ultralytics": "ultralytics", "lap": "lap", "filterpy": "filterpy", "matplotlib": "matplotlib",
        "pytest": "pytest", "pytest_timeout": "pytest-timeout", "pycocotools": "pycocotools", "av": "av"}
print(" ".join(pkg for mod, pkg in need.items() if importlib.util.find_spec(mod) is None))
PY
)
if [[ -n "$missing" ]]; then
  if [[ -d benchmarks/wheels ]]; then
    "$PY" -m pip install --quiet --no-index --find-links benchmarks/wheels $missing || echo "gpu_suite: some wheels missing: $missing" >&2
  else
    echo "gpu_suite: not installed and no benchmarks/wheels to install from: $missing" >&2
  fi
fi

# 1. CUDA tests
if [[ $SMOKE == 0 ]]; then
  timeout 240 "$PY" -m pytest -q -p no:cacheprovider tests/test_bench.py tests/test_estimator.py \
    tests/test_models_conformance.py -k "cuda or fp16" 2>&1 | tee "$OUT/gpu-tests.txt" | tail -3 || true
fi

# 2. the model bench (fp16 on CUDA, batch 1/8/32/64, reference-style fp32 batch 1 for the speed-up)
timeout 300 "$PY" benchmarks/run_benchmarks.py --device "$DEVICE" --models "$MODELS" --batch "$BATCHES" \
  --warmup "$WARMUP" --iters "$ITERS" --attention reference --name gpu-models --out "$OUT"

# 3. the pipeline against the peer on the same device and frames
for render in no-render render; do
  timeout 150 "$PY" -m transpose_live bench --pipeline "$CLIP" --models "$PIPE_MODEL" --weights random \
    --device "$DEVICE" --backend torch --detector-weights "$PEER" --detector-imgsz 640 --peer "$PEER" \
    --max-frames "$FRAMES" --"$render" --json "$OUT/gpu-pipeline-$render.json"
done
"$PY" - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
runs = {r: json.loads((out / f"gpu-pipeline-{r}.json").read_text()) for r in ("no-render", "render")}
(out / "gpu-pipeline.json").write_text(json.dumps(runs, indent=1) + "\n")
env = runs["render"]["environment"]
lines = [f"# Pipeline on {env['device_name']} vs the peer", "",
         "| run | transpose-live fps | peer fps | ratio | persons/frame |", "|---|---|---|---|---|"]
for name, r in runs.items():
    p = r["pipeline"]
    lines.append(f"| {p['model']} {p['precision']}, {name} | {p['fps']:.1f} | {r['peer']['fps']:.1f} | "
                 f"{r['ratio']:.2f}x | {p['persons'] / max(p['frames'], 1):.1f} |")
(out / "gpu-pipeline.md").write_text("\n".join(lines) + "\n")
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3))
    names = list(runs)
    ax.bar([i - 0.2 for i in range(2)], [runs[n]["pipeline"]["fps"] for n in names], 0.4, label="transpose-live")
    ax.bar([i + 0.2 for i in range(2)], [runs[n]["peer"]["fps"] for n in names], 0.4, label="peer")
    ax.set_xticks(range(2), names); ax.set_ylabel("frames / s"); ax.legend(); fig.tight_layout()
    fig.savefig(out / "gpu-pipeline.png", dpi=110)
except ImportError:
    print("gpu_suite: matplotlib missing, no gpu-pipeline.png")
PY
rm -f "$OUT"/gpu-pipeline-no-render.json "$OUT"/gpu-pipeline-render.json
echo "gpu_suite: done, results in $OUT"
