"""`DIR/summary.json` + `DIR/summary.csv` of one batch run and its one-line throughput."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from transpose_live.paths import write_atomic

CSV_FIELDS = ("input", "status", "frames", "persons", "seconds", "attempts", "json", "render", "worker", "error")


@dataclass
class BatchReport:
    """What a batch run did. `rows`: one dict per input (CSV_FIELDS); statuses: done (this run),
    skipped (done earlier with the same options), failed, interrupted (not finished)."""

    out_dir: Path
    options_hash: str
    options: dict
    executor: str = "none"
    workers: int = 0
    threads_per_worker: int | None = None
    wall_seconds: float = 0.0
    interrupted: int | None = None
    rows: list[dict] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.rows)

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.rows if r["status"] == "failed"]

    @property
    def frames(self) -> int:
        """Frames processed in this run (skipped inputs not counted)."""
        return sum(r["frames"] for r in self.rows if r["status"] == "done")

    @property
    def persons(self) -> int:
        return sum(r["persons"] for r in self.rows if r["status"] == "done")

    def throughput(self) -> str:
        wall = max(self.wall_seconds, 1e-9)
        inputs = "1 input" if len(self.rows) == 1 else f"{len(self.rows)} inputs"
        parts = [f"{inputs}: {self.count('done')} done, {self.count('skipped')} skipped, "
                 f"{self.count('failed')} failed"]
        if self.count("interrupted"):
            parts[0] += f", {self.count('interrupted')} interrupted"
        if self.workers:
            parts.append(f"{self.frames} frames, {self.persons} persons in {self.wall_seconds:.1f} s")
            threads = f" x {self.threads_per_worker} threads" if self.threads_per_worker else ""
            parts.append(f"{self.frames / wall:.1f} frames/s, {self.persons / wall:.1f} persons/s "
                         f"over {self.workers} {self.executor} workers{threads}")
        return " | ".join(parts)

    def to_json(self) -> dict:
        wall = max(self.wall_seconds, 1e-9)
        return {
            "out_dir": str(self.out_dir), "options_hash": self.options_hash, "options": self.options,
            "executor": self.executor, "workers": self.workers, "threads_per_worker": self.threads_per_worker,
            "inputs": len(self.rows), "done": self.count("done"), "skipped": self.count("skipped"),
            "failed": self.count("failed"), "interrupted": self.count("interrupted"),
            "frames": self.frames, "persons": self.persons, "wall_seconds": round(self.wall_seconds, 3),
            "frames_per_second": round(self.frames / wall, 3), "persons_per_second": round(self.persons / wall, 3),
            "failures": [{"input": r["input"], "error": r["error"]} for r in self.failed],
            "items": self.rows,
        }

    def write(self) -> tuple[Path, Path]:
        """Both files, each written to a temporary name and renamed."""
        js = write_atomic(self.out_dir / "summary.json", json.dumps(self.to_json(), indent=1, default=str) + "\n", "summary")
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        cs = write_atomic(self.out_dir / "summary.csv", buf.getvalue(), "summary")
        return js, cs
