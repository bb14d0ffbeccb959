#!/usr/bin/env bash
# Fills benchmarks/wheels/ (ignored by git) with the wheels gpu_suite.sh installs when the GPU machine
# has only torch, torchvision, opencv, numpy, typer and rich: run it on a machine with PyPI (same Python
# version and platform as the GPU machine), then carry the folder.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m pip wheel --no-deps --wheel-dir wheels \
  ultralytics ultralytics-thop pyyaml requests urllib3 idna certifi charset-normalizer scipy psutil polars \
  lap filterpy matplotlib contourpy cycler fonttools kiwisolver pyparsing python-dateutil six packaging pillow \
  pytest pytest-timeout iniconfig pluggy pygments pycocotools
du -sh wheels
