"""A keypoint set: names, skeleton and left/right flip pairs of the joints a model predicts.

COCO-17 and MPII-16 are built in; any other set comes from a COCO category entry
(`keypoints`, `skeleton` 1-based, optional `flip_pairs`), with flip pairs derived from the names
(left_x/right_x, l_x/r_x, x_left/x_right) when the entry does not give them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from transpose_live.errors import UserError
from transpose_live.keypoints import FLIP_PAIRS, KEYPOINT_NAMES, SKELETON


@dataclass(frozen=True)
class KeypointSet:
    names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...] = ()  # 0-based joint index pairs
    flip_pairs: tuple[tuple[int, int], ...] = ()  # 0-based (left, right) pairs

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

    def lower_body(self) -> tuple[int, ...]:
        """Joints of the legs and hips (by name), the rest counts as upper body (half-body crops)."""
        words = ("hip", "knee", "ankle", "foot", "heel", "toe", "pelvis", "leg")
        return tuple(i for i, n in enumerate(self.names) if any(w in n.lower() for w in words))

    def to_meta(self) -> dict:
        """Plain lists for checkpoint metadata / JSON."""
        return {
            "keypoint_names": list(self.names),
            "skeleton": [list(p) for p in self.skeleton],
            "flip_pairs": [list(p) for p in self.flip_pairs],
        }

    @classmethod
    def from_meta(cls, meta: dict) -> "KeypointSet":
        return cls(
            tuple(meta["keypoint_names"]),
            tuple(tuple(int(i) for i in p) for p in meta.get("skeleton", [])),
            tuple(tuple(int(i) for i in p) for p in meta.get("flip_pairs", [])),
        )


def _mirror_name(name: str) -> str | None:
    """The other side's name: a first or last token left/right or l/r swapped; None if sideless."""
    tokens = re.split(r"([_\- ])", name.strip().lower())
    swap = {"left": "right", "right": "left", "l": "r", "r": "l"}
    for pos in (0, len(tokens) - 1):
        if len(tokens) > 1 and tokens[pos] in swap:
            tokens[pos] = swap[tokens[pos]]
            return "".join(tokens)
    return None


def derive_flip_pairs(names) -> tuple[tuple[int, int], ...]:
    """Left/right pairs found by name: left_x/right_x, l_x/r_x, x_left/x_right (case-insensitive)."""
    index = {str(n).strip().lower(): i for i, n in enumerate(names)}
    pairs = set()
    for name, i in index.items():
        j = index.get(_mirror_name(name) or "")
        if j is not None and j != i:
            pairs.add((min(i, j), max(i, j)))
    return tuple(sorted(pairs))


def from_coco_category(category: dict) -> KeypointSet:
    """Keypoint set of a COCO category entry; flip pairs from `flip_pairs` or derived from the names."""
    names = category.get("keypoints")
    if not isinstance(names, list) or not names:
        raise UserError("the person category has no 'keypoints' name list")
    skeleton = tuple((int(a) - 1, int(b) - 1) for a, b in category.get("skeleton") or [])
    if category.get("flip_pairs"):
        flips = tuple((int(a), int(b)) for a, b in category["flip_pairs"])
    else:
        flips = derive_flip_pairs(names)
    return KeypointSet(tuple(str(n) for n in names), skeleton, flips)


COCO17 = KeypointSet(KEYPOINT_NAMES, SKELETON, FLIP_PAIRS)

MPII16 = KeypointSet(
    ("r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax", "upper_neck",
     "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist"),
    ((0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (10, 11), (11, 12), (12, 7),
     (7, 13), (13, 14), (14, 15)),
    ((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
)
