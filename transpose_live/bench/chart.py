"""PNG chart of bench records: params vs crops/s, bubble area proportional to GFLOPs."""

from __future__ import annotations

from pathlib import Path

FAMILY_COLOURS = {
    "transpose_r": "tab:red", "transpose_h": "tab:orange", "hrnet": "tab:blue", "simplebaseline": "tab:green",
}


def speed_chart(records: list[dict], path: str | Path, title: str = "") -> Path:
    """One panel per batch size (our precision, fused attention; reference-style runs left out)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    ours = [r for r in records if r["attention"] != "reference" and r["crops_per_s"]]
    batches = sorted({r["batch"] for r in ours})
    if not batches:
        raise ValueError("no timed records to chart")
    fig, axes = plt.subplots(1, len(batches), figsize=(5.5 * len(batches), 4.5), squeeze=False)
    for ax, batch in zip(axes[0], batches):
        for r in (r for r in ours if r["batch"] == batch):
            colour = FAMILY_COLOURS.get(r["family"], "tab:gray")
            ax.scatter(r["params"] / 1e6, r["crops_per_s"], s=r["gflops"] * 40, color=colour, alpha=0.5,
                       edgecolors="black", linewidths=0.5)
            ax.annotate(r["model"], (r["params"] / 1e6, r["crops_per_s"]), fontsize=7,
                        xytext=(4, 4), textcoords="offset points")
        ax.set_xlabel("params (M)")
        ax.set_ylabel("crops / s")
        ax.set_title(f"batch {batch} ({ours[0]['precision']})")
        ax.grid(alpha=0.3)
        top = max(r["crops_per_s"] for r in ours if r["batch"] == batch)
        ax.set_ylim(0, top * 1.2)
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, alpha=0.6, label=f) for f, c in FAMILY_COLOURS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False,
               title="bubble area ~ GFLOPs", title_fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
