"""Writing COCO keypoint results files (the entries: `transpose_live.coco.results_records`)."""

from __future__ import annotations

import json
from pathlib import Path

from transpose_live.paths import write_atomic


def write_results(path: str | Path, entries: list[dict]) -> Path:
    """The results list as JSON, written under a temporary name and renamed; a UserError if not writable."""
    return write_atomic(path, json.dumps(entries), "results file")
