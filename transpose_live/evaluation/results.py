"""Writing COCO keypoint results files (the entries: `transpose_live.coco.results_records`)."""

from __future__ import annotations

import json
from pathlib import Path

from transpose_live.errors import UserError


def write_results(path: str | Path, entries: list[dict]) -> Path:
    """Writes the results list as JSON (parent folders created); a UserError if not writable."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(entries))
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
