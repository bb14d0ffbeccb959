"""Keypoint sets shared by every stage: COCO-17 (names, flip pairs, skeleton, OKS sigmas), MPII-16, and
`KeypointSet`, the names/skeleton/flip pairs a model predicts (a trained checkpoint carries its own)."""

from __future__ import annotations

from dataclasses import dataclass

from transpose_live.errors import UserError

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


# OKS sigma of every joint of a set other than COCO-17 (no per-joint values exist for it): about the
# mean of COCO's sigmas, so OKS-based tracking behaves alike for any keypoint set.
DEFAULT_SIGMA = 0.07


def oks_sigmas(num_keypoints: int) -> tuple[float, ...]:
    """COCO's per-joint sigmas for 17 keypoints, else `DEFAULT_SIGMA` for every joint."""
    return OKS_SIGMAS if num_keypoints == NUM_KEYPOINTS else (DEFAULT_SIGMA,) * int(num_keypoints)


def normal_name(name: str) -> str:
    """'Left Wrist' / 'left-wrist' -> 'left_wrist' (how keypoint names are compared)."""
    return str(name).strip().lower().replace("-", "_").replace(" ", "_")


_SIDES = {"left": -1, "l": -1, "right": 1, "r": 1}


def side_of(name: str) -> int:
    """-1 left, +1 right, 0 centre, from a first or last name token (left_x, l_x, x_left, x_r ...)."""
    tokens = normal_name(name).split("_")
    if len(tokens) > 1:
        for token in (tokens[0], tokens[-1]):
            if token in _SIDES:
                return _SIDES[token]
    return 0


@dataclass(frozen=True)
class KeypointSet:
    """The joints a model predicts: names, skeleton (0-based index pairs) and left/right flip pairs."""

    names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...] = ()
    flip_pairs: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        n = len(self.names)
        if n < 1:
            raise UserError("a keypoint set needs at least one keypoint name")
        for a, b in (*self.skeleton, *self.flip_pairs):
            if not (0 <= a < n and 0 <= b < n):
                raise UserError(f"keypoint pair ({a}, {b}) is outside the {n} keypoints")

    def __len__(self) -> int:
        return len(self.names)

    def flip_permutation(self) -> list[int]:
        """Channel order mapping a mirrored joint stack back to this order."""
        perm = list(range(len(self.names)))
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    def index(self, name: str) -> int:
        """Index of a keypoint by name (case-insensitive, '-' or ' ' accepted for '_')."""
        key = normal_name(name)
        for i, own in enumerate(self.names):
            if normal_name(own) == key:
                return i
        raise ValueError(f"unknown keypoint {name!r}; choose from: {', '.join(self.names)}")

    def sides(self) -> tuple[int, ...]:
        """Per joint: -1 left, +1 right, 0 centre (from the names; the renderer's colours)."""
        return tuple(side_of(n) for n in self.names)

    def oks_sigmas(self) -> tuple[float, ...]:
        return oks_sigmas(len(self.names))

    def lower_body(self) -> tuple[int, ...]:
        """Joints of the legs and hips (by name), the rest counts as upper body (half-body crops)."""
        words = ("hip", "knee", "ankle", "foot", "heel", "toe", "pelvis", "leg")
        return tuple(i for i, n in enumerate(self.names) if any(w in n.lower() for w in words))

    def to_meta(self) -> dict:
        """Plain lists for checkpoint / export metadata and JSON."""
        return {
            "keypoint_names": list(self.names),
            "skeleton": [list(p) for p in self.skeleton],
            "flip_pairs": [list(p) for p in self.flip_pairs],
        }

    @classmethod
    def from_meta(cls, meta: dict) -> "KeypointSet":
        return cls(
            tuple(str(n) for n in meta["keypoint_names"]),
            tuple(tuple(int(i) for i in p) for p in meta.get("skeleton", [])),
            tuple(tuple(int(i) for i in p) for p in meta.get("flip_pairs", [])),
        )


COCO17 = KeypointSet(KEYPOINT_NAMES, SKELETON, FLIP_PAIRS)

MPII16 = KeypointSet(
    ("r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax", "upper_neck",
     "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist"),
    ((0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (10, 11), (11, 12), (12, 7),
     (7, 13), (13, 14), (14, 15)),
    ((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
)


def keypoint_index(name: str) -> int:
    """Index of a COCO keypoint by name (case-insensitive, '-' or ' ' accepted for '_')."""
    return COCO17.index(name)
