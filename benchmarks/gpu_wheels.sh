#!/usr/bin/env bash
# The wheels gpu_suite.sh installs on the GPU machine, whose image has only torch, torchvision, numpy,
# opencv-python-headless, rich, typer, matplotlib, scipy, pandas, onnxruntime, pytest and pytest-timeout
# (and no network). Run it where PyPI is reachable; it fills benchmarks/wheels/cpXY/ (ignored by git),
# which travels with the checkout (carry it: the whole folder stays under 64 MiB with the checkout).
#
#   bash benchmarks/gpu_wheels.sh          # manylinux x86_64 wheels for CPython 3.12 (the GPU machine)
#   bash benchmarks/gpu_wheels.sh 3.11     # for another Python (gpu_suite.sh --smoke uses this machine's)
#
# Every wheel is fetched with --no-deps: the list below names the dependencies itself (what the project
# imports on the suite's path and the image lacks). Left out on purpose: onnx/onnxslim (export only),
# ultralytics' polars/nvidia-ml-py/ultralytics-platform (not imported for predict), pillow (matplotlib's,
# in the image).
set -euo pipefail
cd "$(dirname "$0")"
PYVER=${1:-3.12}
TAG=cp${PYVER/./}
DEST=wheels/$TAG
WHEELS=(  # the versions the project's tests run with
  av==18.1.0              # PyAV: video decoding/encoding (bundles FFmpeg; the largest, ~36 MB)
  ultralytics==8.4.190 ultralytics-thop==2.2.3 pyyaml==6.0.4 psutil==7.2.2  # the YOLO detector
  requests==2.34.2 urllib3==2.8.0 idna==3.20 certifi==2026.10.19.post1 charset-normalizer==3.5.3
  lap==0.5.13 filterpy==2.0.0  # tracking (ByteTrack assignment, Kalman smoothing)
  pycocotools==2.0.11     # COCO evaluation
)
mkdir -p "$DEST"
PIP=(python3 -m pip)
"${PIP[@]}" download --quiet --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
  --abi "$TAG" --abi abi3 --abi none --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 --platform any \
  --dest "$DEST" "${WHEELS[@]}"
ls "$DEST"
du -sh "$DEST"
