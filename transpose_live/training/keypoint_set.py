"""Keypoint sets of training data (`KeypointSet`, COCO17 and MPII16 live in `transpose_live.keypoints`):
any other set comes from a COCO category entry
(`keypoints`, `skeleton` 1-based, optional `flip_pairs`), with flip pairs derived from the names
(left_x/right_x, l_x/r_x, x_left/x_right) when the entry does not give them.
"""

from __future__ import annotations

import re

from transpose_live.errors import UserError
from transpose_live.keypoints import COCO17, MPII16, KeypointSet

__all__ = ["COCO17", "MPII16", "KeypointSet", "derive_flip_pairs", "from_coco_category"]


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
