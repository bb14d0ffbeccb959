"""`--csv`: one row per person per frame, the table spreadsheet and pandas users expect.

Columns: frame, [image (image runs)], timestamp, track_id, box_x1, box_y1, box_x2, box_y2,
box_score, then `<keypoint>_x`, `<keypoint>_y`, `<keypoint>_score` for each keypoint of the model
(COCO's 17 names, or a trained checkpoint's own set).
Numbers are rounded exactly as in the JSONL output (same values). The file is written under a
temporary name and renamed into place by `close()` (also after Ctrl-C).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from transpose_live.keypoints import KEYPOINT_NAMES
from transpose_live.pipeline.writers import TemporaryFileWriter
from transpose_live.poses import Poses

BOX_COLUMNS = ("box_x1", "box_y1", "box_x2", "box_y2", "box_score")


def csv_header(with_image: bool = False, keypoint_names=KEYPOINT_NAMES) -> list[str]:
    columns = ["frame"] + (["image"] if with_image else []) + ["timestamp", "track_id", *BOX_COLUMNS]
    for name in keypoint_names:
        columns += [f"{name}_x", f"{name}_y", f"{name}_score"]
    return columns


class CsvWriter(TemporaryFileWriter):
    """`write(frame, poses, image)` appends one row per person; `close()` renames the file into place."""

    def __init__(self, path: str | Path, keypoint_names=KEYPOINT_NAMES) -> None:
        super().__init__(path, "--csv file")
        self.keypoint_names = tuple(keypoint_names)
        self._file = open(self.tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115
        self._csv = csv.writer(self._file)
        self._with_image: bool | None = None
        self.rows = 0

    def write(self, frame, poses: Poses, image: np.ndarray | None = None) -> None:
        if self._with_image is None:  # header once the kind of source is known
            self._with_image = frame.name is not None
            self._csv.writerow(csv_header(self._with_image, self.keypoint_names))
        prefix = [int(frame.index)] + ([frame.name] if self._with_image else [])
        timestamp = round(float(frame.timestamp), 4)
        for person in poses.to_records():
            row = [*prefix, timestamp, person["track_id"], *person["box"], person["box_score"]]
            for x, y, score in person["keypoints"]:
                row += [x, y, score]
            self._csv.writerow(row)
            self.rows += 1
        self._file.flush()

    def _finish(self) -> None:
        if self._with_image is None:
            self._csv.writerow(csv_header(False, self.keypoint_names))
        self._file.close()
