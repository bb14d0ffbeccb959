#!/usr/bin/env bash
# The GPU suite: what the design promises, measured on one GPU, in two commands of under 10 minutes each.
#
#   bash benchmarks/gpu_wheels.sh                        # once, where PyPI is reachable: benchmarks/wheels/cp312
#   OUT=/some/dir bash benchmarks/gpu_suite.sh --part 1  # on the GPU machine: install, CUDA tests, precision, models
#   OUT=/some/dir bash benchmarks/gpu_suite.sh --part 2  #   pipeline vs the peer, fp16 vs bf16, N cameras
#   bash benchmarks/gpu_suite.sh --smoke                 # here, on the CPU: every step, tiny, in a venv that
#                                                        # mirrors the GPU machine's image (see below)
#
# Results go under $OUT (default benchmarks/results/gpu-<date>); commit them under benchmarks/results/.
# Steps (each with its own timeout; a failed or skipped step is one line in $OUT/steps.txt, the next
# step still runs):
#  both    install   missing packages from the carried wheels (--no-deps; one by one if
#                    installing them together fails)                                  -> install.txt
#  part 1  tests     the CUDA tests (skipped without a GPU on the CPU)                 -> gpu-tests.txt
#          precision fp16 and bf16 vs fp32 keypoints, all ten models                 -> gpu-precision.{json,md}
#          models    crops/s at batch 1/8/32/64 (fp16) vs reference-style fp32 batch 1 -> gpu-models.{json,md,png}
#  part 2  pipeline  walking.mp4 end to end (tp_r_a4 fp16) vs the peer (yolo11n-pose) -> gpu-pipeline.{json,md}
#          bf16      fp16 vs bf16 crops/s on CUDA (issue #22)                        -> gpu-bf16.{json,md}
#          cameras   N clips as live cameras on one model vs N processes (skipped cleanly when the
#                    multi-camera webcam is not there)                                -> gpu-cameras.{json,md}
# The GPU machine's image has torch, torchvision, numpy, opencv-python-headless, rich, typer, matplotlib,
# scipy, pandas, onnxruntime, pytest, pytest-timeout and no network; ../shared (or ./shared) must be there.
#
# --smoke: builds (once; reused) a venv holding only those packages, from this machine's local wheels
# (torch 2.14.1 from local disk), installs the carried wheels for its Python the way the GPU machine does,
# and runs every step on the CPU with one small model, a few frames and a few people.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PART=all
SMOKE=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --smoke) SMOKE=1 ;;
    --part) PART=$2; shift ;;
    *) echo "gpu_suite: unknown argument $1 (use --part 1|2|all, --smoke)" >&2; exit 2 ;;
  esac
  shift
done
IMAGE_PACKAGES="torch==2.14.1 torchvision numpy opencv-python-headless rich typer matplotlib scipy pandas onnxruntime pytest pytest-timeout"

if [[ $SMOKE == 1 ]]; then
  VENV=${SMOKE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/transpose-live/gpu-smoke-venv}
  if [[ ! -f $VENV/.image-packages ]] || [[ "$(cat "$VENV/.image-packages")" != "$IMAGE_PACKAGES" ]]; then
    echo "gpu_suite: building the image-like venv $VENV (only: $IMAGE_PACKAGES)"
    rm -rf "$VENV" && python3 -m venv "$VENV" && "$VENV/bin/pip" install --quiet $IMAGE_PACKAGES || exit 1
    echo "$IMAGE_PACKAGES" > "$VENV/.image-packages"
  fi
  PY=$VENV/bin/python
  # a fresh copy of the venv's state each time: carried wheels installed by an earlier smoke are removed
  "$PY" -m pip uninstall --quiet -y av ultralytics ultralytics-thop pyyaml psutil requests urllib3 idna certifi \
    charset-normalizer lap filterpy pycocotools >/dev/null 2>&1
  TAG=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
  [[ -d benchmarks/wheels/$TAG ]] || bash benchmarks/gpu_wheels.sh "$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')" \
    >/dev/null 2>&1 || { echo "gpu_suite: benchmarks/gpu_wheels.sh failed" >&2; exit 1; }
  OUT=${OUT:-$(mktemp -d)}
  DEVICE=cpu; MODELS=tp_r_a3; BATCHES=1,2; ITERS=2; WARMUP=1; FRAMES=4; PIPE_MODEL=tp_r_a3; PEOPLE=1
  PRECISIONS=bf16; CAMERAS=2; CAM_FRAMES=4; BF16_MODELS=tp_r_a3
else
  PY=${PYTHON:-python3}
  TAG=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
  OUT=${OUT:-$ROOT/benchmarks/results/gpu-$(date -u +%Y%m%d)}
  DEVICE=cuda; MODELS=all; BATCHES=1,8,32,64; ITERS=20; WARMUP=5; FRAMES=150; PIPE_MODEL=tp_r_a4; PEOPLE=32
  PRECISIONS=fp16,bf16; CAMERAS=4; CAM_FRAMES=150; BF16_MODELS=tp_r_a4,tp_h_a6
  "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
    || { echo "gpu_suite: torch sees no CUDA device; use --smoke for the CPU check" >&2; exit 2; }
fi
mkdir -p "$OUT"
export PY TAG OUT DEVICE
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export YOLO_OFFLINE=1 HF_HUB_OFFLINE=1 YOLO_CONFIG_DIR="$OUT/.ultralytics" MPLBACKEND=Agg
if [[ -d ../shared ]]; then SHARED=$(cd ../shared && pwd)
elif [[ -d shared ]]; then SHARED=$ROOT/shared; [[ -e ../shared ]] || ln -s "$SHARED" ../shared 2>/dev/null || true
else echo "gpu_suite: ../shared not found (clips, coco-mini, yolo11n-pose.pt)" >&2; exit 2; fi
CLIP=$SHARED/data/clips/walking.mp4
PEER=$SHARED/weights/yolo11n-pose.pt
export CLIP PEER PIPE_MODEL FRAMES
echo "gpu_suite: part $PART, device $DEVICE, python $TAG, results in $OUT"

step() {  # step NAME TIMEOUT_S COMMAND...: runs it, logs to $OUT/NAME.log, one line in steps.txt
  local name=$1 limit=$2; shift 2
  local start=$SECONDS
  timeout "$limit" bash -c '"$@"' "$name" "$@" > "$OUT/$name.log" 2>&1  # bash -c: shell functions too
  local rc=$?
  local verdict=ok
  if [[ $rc == 124 ]]; then verdict="timed out after ${limit}s"
  elif [[ $rc == 3 ]]; then verdict="skipped ($(tail -1 "$OUT/$name.log"))"
  elif [[ $rc != 0 ]]; then verdict="failed (exit $rc): $(grep -v '^\s*$' "$OUT/$name.log" | tail -1 | cut -c1-200)"; fi
  printf '%-10s %4ds  %s\n' "$name" $((SECONDS - start)) "$verdict" | tee -a "$OUT/steps.txt"
}

install_wheels() {  # each missing package on its own: one that fails does not stop the others
  local wheels=benchmarks/wheels/$TAG
  "$PY" - "$wheels" <<'PY'
import importlib.util, pathlib, subprocess, sys
wheels = pathlib.Path(sys.argv[1])
need = {"av": "av", "ultralytics": "ultralytics", "ultralytics_thop": "ultralytics_thop", "yaml": "pyyaml",
        "psutil": "psutil", "requests": "requests", "urllib3": "urllib3", "idna": "idna", "certifi": "certifi",
        "charset_normalizer": "charset_normalizer", "lap": "lap", "filterpy": "filterpy",
        "pycocotools": "pycocotools"}
failed, todo = [], {}
for module, dist in need.items():
    if importlib.util.find_spec(module) is not None:
        print(f"{dist}: already there")
        continue
    found = sorted(wheels.glob(f"{dist}-*.whl")) if wheels.is_dir() else []
    if not found:
        print(f"{dist}: MISSING (no wheel under {wheels}; run benchmarks/gpu_wheels.sh)")
        failed.append(dist)
    else:
        todo[dist] = found[-1]
pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps"]
# all at once (one pip start-up); when that fails, one by one so that one bad wheel costs only its package
if todo and subprocess.run(pip + [str(w) for w in todo.values()], capture_output=True).returncode == 0:
    print("installed: " + " ".join(w.name for w in todo.values()))
else:
    for dist, wheel in todo.items():
        r = subprocess.run(pip + [str(wheel)], capture_output=True, text=True)
        print(f"{dist}: {'installed ' + wheel.name if r.returncode == 0 else 'FAILED ' + r.stderr.strip()[-200:]}")
        failed += [] if r.returncode == 0 else [dist]
import importlib
for module in ("av", "ultralytics", "lap", "filterpy", "pycocotools", "transpose_live.cli"):
    try:
        importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001
        print(f"import {module}: FAILED {type(exc).__name__}: {exc}")
        failed.append(module)
sys.exit(1 if failed else 0)
PY
}

export -f install_wheels
echo "# part $PART, $(date -u +%FT%TZ), device $DEVICE" >> "$OUT/steps.txt"
# every part installs (a part may land on a fresh machine); already-installed packages are skipped
step install 90 install_wheels
cp "$OUT/install.log" "$OUT/install.txt"
if [[ $PART == 1 || $PART == all ]]; then
  if [[ $SMOKE == 1 ]]; then TESTS=(tests/test_gpu_path.py -k "precision_choice or half_precision_branch")
  else TESTS=(tests/test_gpu_path.py tests/test_gpu_path_cuda.py tests/test_gpu_path_fp16.py tests/test_estimator.py
              tests/test_bench.py -k "gpu_path or cuda or fp16"); fi
  step tests 140 "$PY" -m pytest -q -p no:cacheprovider --timeout 120 "${TESTS[@]}"
  cp "$OUT/tests.log" "$OUT/gpu-tests.txt"
  step precision 160 "$PY" benchmarks/gpu_precision.py --device "$DEVICE" --models "$MODELS" --people "$PEOPLE" \
    --precisions "$PRECISIONS" --budget-s 110 --out "$OUT"
  step models 180 "$PY" benchmarks/run_benchmarks.py --device "$DEVICE" --models "$MODELS" --batch "$BATCHES" \
    --warmup "$WARMUP" --iters "$ITERS" --attention reference --name gpu-models --out "$OUT"
fi

if [[ $PART == 2 || $PART == all ]]; then
  pipeline() {
    for render in no-render render; do
      "$PY" -m transpose_live bench --pipeline "$CLIP" --models "$PIPE_MODEL" --weights random --device "$DEVICE" \
        --backend torch --detector-weights "$PEER" --detector-imgsz 640 --peer "$PEER" \
        --max-frames "$FRAMES" --"$render" --json "$OUT/gpu-pipeline-$render.json" || return $?
    done
    "$PY" benchmarks/gpu_report.py pipeline "$OUT"
  }
  export -f pipeline
  step pipeline 200 pipeline
  step bf16 100 "$PY" benchmarks/gpu_report.py bf16 "$OUT" --device "$DEVICE" --models "$BF16_MODELS" \
    --batches "$BATCHES"
  step cameras 180 "$PY" benchmarks/gpu_report.py cameras "$OUT" --device "$DEVICE" --cameras "$CAMERAS" \
    --frames "$CAM_FRAMES" --model "$PIPE_MODEL" --detector-weights "$PEER" --clips "$SHARED/data/clips"
fi
echo "gpu_suite: done, results in $OUT"
cat "$OUT/steps.txt"
! grep -q -E "failed|timed out" "$OUT/steps.txt"
