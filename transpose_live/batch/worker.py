"""One batch worker: the models loaded once, then one input at a time through the frame stream.

The same class runs inside a local worker process and inside a Ray actor. A job is a small dict
(input path, output paths; see `jobs.make_job`); the result is a small dict:
`{"id", "status": done|failed|interrupted|setup-error, "frames", "persons", "seconds", "error"}`.
Outputs are written under `.part` names and renamed only when the whole input went through, so a
final name never holds a half file. Progress goes out through `report(event)`:
`{"type": "start", "job", "pid", "host", "frames_total"}` then `{"type": "frames", "job", "done"}`.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Callable

from transpose_live.batch.jobs import temp_path
from transpose_live.config import RunConfig
from transpose_live.errors import UserError, first_line
from transpose_live.paths import commit

REPORT_EVERY_S = 0.25


class BatchWorker:
    """cfg: the resolved run config (`cli/batch_cmd.resolve_options`). threads: CPU threads for this
    worker (None: leave). A model that cannot be loaded does not raise here: every job then answers
    `setup-error`."""

    def __init__(self, cfg: RunConfig, threads: int | None = None, report: Callable[[dict], None] | None = None) -> None:
        self.cfg = cfg
        self.report = report or (lambda event: None)
        self.pid = os.getpid()
        self.host = socket.gethostname()
        self.setup_error: str | None = None
        try:
            if threads:
                from transpose_live.runtime import apply_budget

                apply_budget(threads)
            from transpose_live.chain import build_chain

            self.chain = build_chain(cfg)
        except Exception as exc:  # noqa: BLE001 - reported with every job, the driver stops the batch
            self.setup_error = first_line(exc)

    def run(self, job: dict) -> dict:
        """Processes one input; never raises for a bad input (its error is in the result)."""
        result = {"id": job["id"], "status": "failed", "frames": 0, "persons": 0, "seconds": 0.0, "error": None,
                  "worker": f"{self.host}:{self.pid}"}
        if self.setup_error is not None:
            return {**result, "status": "setup-error", "error": self.setup_error}
        finals = {k: Path(v) for k, v in job["outputs"].items()}
        temps = {k: temp_path(v) for k, v in finals.items()}
        t0 = time.perf_counter()
        try:
            run = self._run_pipeline(job, temps)
            result.update(frames=run.frames, persons=run.persons)
            if run.interrupted is not None:
                result.update(status="interrupted", error=f"interrupted by signal {run.interrupted}")
            elif run.frames == 0:
                result["error"] = f"no frame could be read from {job['input']}"
            else:
                for key in sorted(temps, key=lambda k: k == "json"):  # the JSONL last: it marks completion
                    commit(self._written(temps[key], key), finals[key])
                result["status"] = "done"
        except UserError as exc:
            result["error"] = first_line(exc)
        except Exception as exc:  # noqa: BLE001 - one bad input must not stop the batch
            result["error"] = f"{type(exc).__name__}: {first_line(exc)}"
        finally:
            result["seconds"] = round(time.perf_counter() - t0, 3)
            if result["status"] != "done":
                for key, tmp in temps.items():
                    self._remove(tmp, key)
        return result

    def _run_pipeline(self, job: dict, temps: dict[str, Path]):
        from transpose_live.pipeline import ImageSource, Outputs, StreamInput, open_video, open_writers, run_stream
        from transpose_live.pipeline.writers import CallbackWriter

        for tmp in temps.values():
            tmp.parent.mkdir(parents=True, exist_ok=True)
            _remove_stale_temporaries(tmp)
        image = job["kind"] == "image"
        source = ImageSource(job["input"]) if image else open_video(job["input"])
        self.report({"type": "start", "job": job["id"], "pid": self.pid, "host": self.host,
                     "frames_total": source.frame_count})
        progress = {"done": 0, "sent": time.monotonic()}

        def on_result(_frame, _poses) -> None:
            progress["done"] += 1
            now = time.monotonic()
            if now - progress["sent"] >= REPORT_EVERY_S:
                progress["sent"] = now
                self.report({"type": "frames", "job": job["id"], "done": progress["done"]})

        # The writers commit to the `.part` names on close (also when interrupted); `run` renames
        # those to the final names only after a complete run.
        render = temps.get("render")
        outputs = Outputs(json=temps["json"], image_dir=self._image_dir(render) if render and image else None,
                          video=render if render and not image else None)
        try:
            writers = open_writers(outputs, source, self.chain.estimator.keypoints,
                                   extra=[lambda: CallbackWriter(on_result)])
        except BaseException:
            source.close()
            raise
        run = run_stream([StreamInput(source, writers, self.chain.tracker())], self.chain.estimator,
                         self.chain.detector, self.chain.pipeline_options(progress=False),
                         after_run=[] if image else [self.chain.stitch_after_run(job["input"])])
        self.report({"type": "frames", "job": job["id"], "done": progress["done"]})
        return run

    # --- images rendered with --render: the stream writes into a folder under the image's name
    @staticmethod
    def _image_dir(tmp: Path) -> Path:
        return tmp.with_name(tmp.name + ".d")

    def _written(self, tmp: Path, key: str) -> Path:
        folder = self._image_dir(tmp)
        if key == "render" and folder.is_dir():
            files = [p for p in folder.iterdir() if p.is_file()]
            if len(files) != 1:
                raise UserError(f"expected one rendered image in {folder}, found {len(files)}")
            commit(files[0], tmp)
            folder.rmdir()
        return tmp

    def _remove(self, tmp: Path, key: str) -> None:
        _remove_stale_temporaries(tmp)
        tmp.unlink(missing_ok=True)
        folder = self._image_dir(tmp)
        if key == "render" and folder.is_dir():
            for p in folder.iterdir():
                p.unlink(missing_ok=True)
            folder.rmdir()


def _remove_stale_temporaries(part: Path) -> None:
    """The writers' own temporary siblings of `part` (`.name.<random>.partial.ext`) left behind by
    a worker that was killed: removed before the input is run again."""
    for stale in part.parent.glob(f".{part.stem}.*.partial{part.suffix}"):
        stale.unlink(missing_ok=True)
