"""`analyze --plot`: joint angles over time, one panel per person, the counted reps shaded and the
exercise's rest / active thresholds dashed (matplotlib, no window: the Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from transpose_live.analytics.analysis import Analysis
from transpose_live.analytics.angles import side_defs
from transpose_live.paths import atomic_path

MAX_PANELS = 8  # the longest tracks, when a file holds more people


def _columns(analysis: Analysis) -> list[int]:
    """The angles drawn: the exercise's (both sides), else knees, hips, elbows and the trunk."""
    if analysis.exercise is not None:
        return list(side_defs(analysis.defs, analysis.exercise.angle).values())
    return [j for j, d in enumerate(analysis.defs) if d.joint in ("knee", "hip", "elbow", "trunk")]


def plot_angles(analysis: Analysis, path: str | Path) -> int:
    """Writes the figure (format from the suffix: .png, .svg, .pdf ...); returns the panels drawn."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    tracks = sorted(analysis.tracks, key=lambda t: -int(t.series.present.sum()))[:MAX_PANELS]
    tracks.sort(key=lambda t: t.series.track_id)
    columns = _columns(analysis)
    ex = analysis.exercise
    fig, axes = plt.subplots(max(len(tracks), 1), 1, figsize=(10, 2.6 * max(len(tracks), 1) + 0.6),
                             sharex=True, squeeze=False)
    for ax, t in zip(axes[:, 0], tracks):
        for j in columns:
            ax.plot(t.series.times, t.angles[:, j], lw=1.3, label=analysis.defs[j].name)
        title = f"person #{t.series.track_id}"
        if ex is not None:
            for k, rep in enumerate(t.counter.reps):
                ax.axvspan(rep.start, rep.end, color="tab:green", alpha=0.15, label="rep" if k == 0 else None)
            for value, name in ((ex.rest, "rest"), (ex.active, "active")):
                ax.axhline(value, color="grey", ls="--", lw=0.8)
                ax.text(t.series.times[0], value, f" {name} {value:g}°", va="bottom", fontsize=7, color="grey")
            title += f": {t.count} {ex.name} rep{'s' * (t.count != 1)}"
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_ylabel("degrees")
        ax.set_ylim(0, 185)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=7, ncol=4)
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format=path.suffix.lstrip(".").lower() or "png")
    plt.close(fig)
    return len(tracks)
