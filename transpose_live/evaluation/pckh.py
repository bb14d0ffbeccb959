"""PCKh (MPII): a joint is correct when its distance to the ground truth is at most
alpha x head size (head size = 0.6 x the head box diagonal); alpha 0.5 is the headline number.

The standard table averages left and right joints: Head (head_top), Shoulder, Elbow, Wrist, Hip,
Knee, Ankle, and Mean over every joint except pelvis and thorax.
"""

from __future__ import annotations

import numpy as np
from rich.table import Table

from transpose_live.errors import UserError

MPII_NAMES = ("r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax", "upper_neck",
              "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist")
TABLE_GROUPS = (
    ("Head", (9,)), ("Shoulder", (12, 13)), ("Elbow", (11, 14)), ("Wrist", (10, 15)),
    ("Hip", (2, 3)), ("Knee", (1, 4)), ("Ankle", (0, 5)),
)
EXCLUDED_FROM_MEAN = (6, 7)  # pelvis, thorax


def pckh(pred_xy: np.ndarray, gt_xy: np.ndarray, visible: np.ndarray, head_sizes: np.ndarray,
         alpha: float = 0.5) -> dict:
    """pred/gt (N, 16, 2), visible (N, 16), head_sizes (N,) -> {"per_joint": (16,) %, "table": {...} %}.

    Joints not visible in the ground truth do not count. Percentages; NaN where a joint never counts.
    """
    pred = np.asarray(pred_xy, np.float64)
    gt = np.asarray(gt_xy, np.float64)
    vis = np.asarray(visible) > 0
    head = np.asarray(head_sizes, np.float64).reshape(-1)
    if pred.shape != gt.shape or pred.shape[1:] != (16, 2) or vis.shape != pred.shape[:2] or len(head) != len(pred):
        raise UserError(f"PCKh needs (N, 16, 2) predictions and ground truth; got {pred.shape} and {gt.shape}")
    if (head[vis.any(axis=1)] <= 0).any():
        raise UserError("PCKh needs a positive head size for every person (headbox in the MPII annotations)")
    dist = np.linalg.norm(pred - gt, axis=-1) / np.where(head > 0, head, 1.0)[:, None]
    hit = (dist <= alpha) & vis
    counts = vis.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_joint = 100.0 * hit.sum(axis=0) / counts
    table = {}
    for name, ids in TABLE_GROUPS:
        ids = list(ids)
        n = counts[ids].sum()
        table[name] = 100.0 * hit[:, ids].sum() / n if n else float("nan")
    keep = [j for j in range(16) if j not in EXCLUDED_FROM_MEAN]
    n = counts[keep].sum()
    table["Mean"] = 100.0 * hit[:, keep].sum() / n if n else float("nan")
    return {"alpha": alpha, "per_joint": per_joint, "table": table}


def pckh_results(keypoints: np.ndarray, gt_joints: np.ndarray, head_sizes: np.ndarray,
                 alphas: tuple[float, ...] = (0.5, 0.1)) -> list[dict]:
    """`pckh` at each alpha for predicted (N, 16, >=2) keypoints against (N, 16, 3) [x, y, visible] joints."""
    pred, gt = np.asarray(keypoints)[..., :2], np.asarray(gt_joints)
    return [pckh(pred, gt[..., :2], gt[..., 2], head_sizes, alpha) for alpha in alphas]


def pckh_metrics(results: list[dict]) -> dict[str, float]:
    """The numbers of `pckh_results` (alpha 0.5 first) by name: PCKh (the mean at 0.5), PCKh@0.1, PCKh_Head ..."""
    out = {"PCKh": float(results[0]["table"]["Mean"])}
    out.update({f"PCKh_{k}": float(v) for k, v in results[0]["table"].items() if k != "Mean"})
    for r in results[1:]:
        out[f"PCKh@{r['alpha']:g}"] = float(r["table"]["Mean"])
    return out


def pckh_table(results: list[dict], title: str = "MPII PCKh") -> Table:
    """Rows: one per alpha; columns: Head .. Ankle, Mean."""
    table = Table(title=title)
    table.add_column("PCKh@", justify="right")
    for name, _ in TABLE_GROUPS:
        table.add_column(name, justify="right")
    table.add_column("Mean", justify="right")
    for r in results:
        cells = [f"{r['table'][name]:.1f}" for name, _ in TABLE_GROUPS] + [f"{r['table']['Mean']:.1f}"]
        table.add_row(f"{r['alpha']:g}", *cells)
    return table
