"""The one place a run's per-source sinks are made: `Outputs` (what a command was asked to write for
one source) -> `writer_makers` (one line per kind of writer: add a new sink there) -> `open_writers`
(opened in order; on a failure those already open are aborted). They end in `writers.close_writers`,
called once by the stream's output stage.

    >>> writers = open_writers(Outputs(video=Path("out.mp4"), json="out.jsonl"), source, estimator.keypoints)
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from transpose_live.pipeline.csv_writer import CsvWriter
from transpose_live.pipeline.writers import (
    CallbackWriter,
    CocoResultsWriter,
    ImageDirWriter,
    JsonlWriter,
    VideoWriter,
    Writer,
    frame_record,
)


@dataclass
class Outputs:
    """What a run writes for one source (paths as given, checked by `paths.OutputGuard` first). json "-":
    every record to `stdout` (a function printing one JSON record; it raises `EndOfOutput` when its
    reader has gone)."""

    video: Path | None = None
    json: str | Path | None = None
    image_dir: Path | None = None
    coco: Path | None = None
    csv: Path | None = None
    video_options: object = None  # transpose_live.media.EncodeOptions (codec, crf, sound)
    stdout: Callable[[dict], None] | None = None
    osc: str | None = None  # --osc HOST:PORT: every frame's poses as OSC bundles (osc_sink.py)

    def named(self) -> list[str]:
        return [str(p) for p in (self.video, self.json, self.image_dir, self.coco, self.csv) if p and str(p) != "-"]


def writer_makers(outputs: Outputs, source, keypoints) -> list[Callable[[], Writer]]:
    """The writers `outputs` asks for, as functions making them (a new per-source sink: one line here).
    source: its `fps`, `size` and `audio` set the video; keypoints: the CSV's columns."""
    makers = []
    if outputs.json is not None and str(outputs.json) == "-":
        printer = outputs.stdout or (lambda record: print(json.dumps(record, separators=(",", ":")), flush=True))
        makers.append(lambda: CallbackWriter(lambda f, p: printer(frame_record(f, p)),
                                             on_event=printer))
    elif outputs.json:
        makers.append(lambda: JsonlWriter(outputs.json))
    if outputs.coco:
        makers.append(lambda: CocoResultsWriter(outputs.coco))
    if outputs.csv:
        makers.append(lambda: CsvWriter(outputs.csv, keypoints.names))
    if outputs.image_dir:
        makers.append(lambda: ImageDirWriter(outputs.image_dir))
    if outputs.video:
        makers.append(lambda: VideoWriter(outputs.video, source.fps, source.size, outputs.video_options,
                                          getattr(source, "audio", None)))
    if outputs.osc:
        from transpose_live.pipeline.osc_sink import OscSink

        makers.append(lambda: OscSink(outputs.osc, keypoints))
    return makers


def open_writers(outputs: Outputs, source, keypoints, extra: Sequence[Callable[[], Writer]] = ()) -> list:
    """Opens the writers of `outputs` (and the `extra` makers: web view, progress callbacks) for one
    source; when one cannot be opened, those already open are aborted before the error goes on."""
    with contextlib.ExitStack() as opened:
        writers = []
        for make in [*writer_makers(outputs, source, keypoints), *extra]:
            writer = make()
            opened.callback(writer.abort)
            writers.append(writer)
        opened.pop_all()
    return writers
