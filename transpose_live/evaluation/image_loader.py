"""DataLoader-style prefetch: JPEGs are decoded in worker threads ahead of the model.

Images are grouped into batches of about `people_per_batch` people (at least one image each), and
up to `prefetch` batches are decoded ahead while the model runs on the current one.
OpenCV releases the GIL while decoding, so threads decode in parallel.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from transpose_live.images import read_image


@dataclass(frozen=True)
class ImageJob:
    """One image to evaluate and its person boxes (xyxy) and scores."""

    image_id: int
    path: Path
    boxes: np.ndarray
    scores: np.ndarray


@dataclass
class LoadedBatch:
    jobs: list[ImageJob]
    frames: list[np.ndarray]

    @property
    def people(self) -> int:
        return sum(len(j.boxes) for j in self.jobs)


def group_jobs(jobs: Sequence[ImageJob], people_per_batch: int) -> list[list[ImageJob]]:
    """Consecutive groups of images holding about `people_per_batch` people (never empty)."""
    groups: list[list[ImageJob]] = []
    current: list[ImageJob] = []
    count = 0
    for job in jobs:
        if current and count + len(job.boxes) > people_per_batch:
            groups.append(current)
            current, count = [], 0
        current.append(job)
        count += len(job.boxes)
    if current:
        groups.append(current)
    return groups


class PrefetchLoader:
    """Iterates `LoadedBatch`es, decoding `prefetch` batches ahead in `workers` threads."""

    def __init__(self, jobs: Sequence[ImageJob], people_per_batch: int = 64, workers: int | None = None,
                 prefetch: int = 2) -> None:
        self.groups = group_jobs(jobs, max(1, int(people_per_batch)))
        self.workers = workers or max(1, min(8, (os.cpu_count() or 2)))
        self.prefetch = max(1, int(prefetch))

    def __len__(self) -> int:
        return len(self.groups)

    def __iter__(self) -> Iterator[LoadedBatch]:
        with ThreadPoolExecutor(self.workers, thread_name_prefix="eval-decode") as pool:
            pending: deque = deque()
            groups = iter(self.groups)

            def submit_next() -> None:
                group = next(groups, None)
                if group is not None:
                    pending.append((group, [pool.submit(read_image, job.path, "check --images") for job in group]))

            for _ in range(self.prefetch + 1):
                submit_next()
            try:
                while pending:
                    group, futures = pending.popleft()
                    frames = [f.result() for f in futures]
                    submit_next()
                    yield LoadedBatch(group, frames)
            finally:
                for _, futures in pending:
                    for f in futures:
                        f.cancel()
