"""Attention explanations: which image regions each predicted keypoint depends on (spec section 4).

    >>> from transpose_live.explain import explain, parse_keypoints
    >>> result = explain(estimator, image_bgr, [[x1, y1, x2, y2]], keypoints=parse_keypoints("left_wrist,nose"))
    >>> result.save("panel.png")
"""

from transpose_live.explain.explain import (
    Explanation,
    explain,
    explain_poses,
    parse_box,
    parse_keypoints,
    write_png,
)
from transpose_live.explain.panel import panel_grid, panel_size, render_panels

__all__ = [
    "Explanation", "explain", "panel_grid", "panel_size", "parse_box", "parse_keypoints",
    "render_panels", "write_png",
]
