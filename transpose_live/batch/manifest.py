"""`DIR/manifest.jsonl`: one JSON line per state change of an input, appended by the driver only.

Fields: `input` (absolute path), `size`, `mtime` (ns), `options` (hash), `status`
(running|done|failed|interrupted), `frames`, `persons`, `seconds`, `error`, `attempts`,
`worker` (host:pid), `outputs` (paths relative to DIR), `time` (UTC). The last line of an
(input, options) pair is its state: a rerun skips the pairs that are `done` for an unchanged
input whose outputs are all there, and redoes the failed and the unfinished ones.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

MANIFEST_NAME = "manifest.jsonl"


class Manifest:
    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / MANIFEST_NAME
        self.latest: dict[tuple[str, str], dict] = {}
        if self.path.exists():
            with open(self.path, encoding="utf-8") as f:
                for line in f:
                    try:
                        rec = json.loads(line)
                        self.latest[(rec["input"], rec["options"])] = rec
                    except (json.JSONDecodeError, KeyError, TypeError):
                        continue  # a line cut short by a crash
        self._file = None

    def state(self, input_path: Path, ohash: str) -> dict | None:
        return self.latest.get((str(input_path), ohash))

    def is_done(self, input_path: Path, ohash: str, stat: os.stat_result | None, outputs: dict[str, Path]) -> bool:
        """Done earlier with these options, the input unchanged and every asked output present."""
        rec = self.state(input_path, ohash)
        return (rec is not None and stat is not None and rec.get("status") == "done"
                and rec.get("size") == stat.st_size and rec.get("mtime") == stat.st_mtime_ns
                and all(p.is_file() for p in outputs.values()))

    def record(self, input_path: Path, ohash: str, stat: os.stat_result | None, status: str, **fields) -> dict:
        rec = {"input": str(input_path), "size": stat.st_size if stat else None,
               "mtime": stat.st_mtime_ns if stat else None, "options": ohash, "status": status,
               "frames": 0, "persons": 0, "seconds": 0.0, "error": None, "attempts": 0, "worker": None,
               "outputs": {}}
        rec.update(fields)
        rec["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self._file is None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._file.write(json.dumps(rec, separators=(",", ":")) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.latest[(rec["input"], ohash)] = rec
        return rec

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
