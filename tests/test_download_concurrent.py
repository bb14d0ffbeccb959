"""Several processes that need the same official checkpoint at once (batch workers, DDP ranks, Ray actors
on one node all start together) download it once: the others wait and find it in the cache."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_simultaneous_downloads_of_one_checkpoint(weights_mirror, tmp_path):
    from transpose_live.models.registry import MODELS

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    cmd = [sys.executable, "-m", "transpose_live", "weights", "download", "tp_r_a3"]
    runs = [subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(3)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in runs]
    assert [rc for rc, _ in results] == [0, 0, 0], results
    checkpoint = MODELS["tp_r_a3"].checkpoint
    cached = Path(env["TRANSPOSE_LIVE_HOME"]) / "weights" / checkpoint
    served = weights_mirror.file(checkpoint)
    assert hashlib.sha256(cached.read_bytes()).digest() == hashlib.sha256(served.read_bytes()).digest()
    assert not cached.with_name(checkpoint + ".part").exists()
    assert sum(1 for path, _ in weights_mirror.requests if path.endswith(checkpoint)) == 1
