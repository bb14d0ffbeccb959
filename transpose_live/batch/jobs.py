"""What one input's work is: the options hash, the output names and the job sent to a worker.

Outputs of an input `a/b/clip.mp4` run with options hash `3fa2b1c0` land in
`OUT/a/b/clip.mp4.3fa2b1c0.jsonl` (+ `.mp4`, or the image's own suffix, with --render), so runs of
the same input with different options never overwrite each other. Workers write
`clip.mp4.3fa2b1c0.part.jsonl` first and rename it when the input is complete.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from transpose_live.batch.inputs import InputFile
from transpose_live.config import RunConfig, file_options


def _identity(value):
    """A file option's identity: its absolute path, size and mtime (a changed file changes the hash)."""
    if isinstance(value, (str, Path)) and value and Path(value).expanduser().is_file():
        p = Path(value).expanduser().resolve()
        st = p.stat()
        return {"file": str(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return value


def options_record(cfg: RunConfig) -> dict:
    """Every output-changing option of the run (`RunConfig` fields not marked `changes_output=False`,
    so options added later count too), file options replaced by their identity. Not --render: a rerun
    with --render redoes only the inputs that lack their rendered file."""
    files = file_options()
    return {k: _identity(v) if k in files else v for k, v in cfg.output_record().items()}


def options_hash(cfg: RunConfig) -> str:
    """8 hex digits identifying the output-changing options."""
    text = json.dumps(options_record(cfg), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def output_paths(item: InputFile, out_dir: Path, ohash: str, render: bool) -> dict[str, Path]:
    """{'json': ..., 'render': ...}: the final output names of one input (render only when asked)."""
    base = out_dir / item.rel.parent / f"{item.rel.name}.{ohash}"
    outs = {"json": base.with_name(base.name + ".jsonl")}
    if render:
        suffix = item.path.suffix.lower() if item.kind == "image" else ".mp4"
        outs["render"] = base.with_name(base.name + suffix)
    return outs


def temp_path(final: Path) -> Path:
    """Where a worker writes `final` before renaming it: same folder, `.part` before the suffix."""
    return final.with_name(f"{final.stem}.part{final.suffix}")


def make_job(job_id: int, item: InputFile, outputs: dict[str, Path]) -> dict:
    """The few hundred bytes sent to a worker for one input (paths are on shared storage)."""
    return {"id": job_id, "input": str(item.path), "kind": item.kind,
            "outputs": {k: str(v) for k, v in outputs.items()}}
