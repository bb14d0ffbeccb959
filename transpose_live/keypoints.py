"""COCO-17 keypoint definitions shared by every stage (names, flip pairs, skeleton, OKS sigmas)."""

from __future__ import annotations

KEYPOINT_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
NUM_KEYPOINTS = len(KEYPOINT_NAMES)

# Left/right pairs swapped when a crop is mirrored.
FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16),
)


def flip_permutation() -> list[int]:
    """Channel order that maps a mirrored heatmap stack back to the COCO order."""
    perm = list(range(NUM_KEYPOINTS))
    for a, b in FLIP_PAIRS:
        perm[a], perm[b] = b, a
    return perm


# COCO skeleton (0-based joint indices).
SKELETON: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6),
    (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)

# Per-keypoint OKS sigmas used by COCO evaluation (pycocotools' defaults).
OKS_SIGMAS: tuple[float, ...] = (
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
    0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
)


def keypoint_index(name: str) -> int:
    """Index of a keypoint by name (case-insensitive, '-' or ' ' accepted for '_')."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    try:
        return KEYPOINT_NAMES.index(key)
    except ValueError:
        raise ValueError(
            f"unknown keypoint {name!r}; choose from: {', '.join(KEYPOINT_NAMES)}"
        ) from None
