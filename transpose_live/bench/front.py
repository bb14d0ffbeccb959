"""The speed-accuracy front (`bench --front VIDEO`): end-to-end frames/s on the user's clip and machine for
our models at each precision this CPU runs, and for the YOLO-pose families through `--model detector`,
with COCO AP from the published tables. Every run is `bench_pipeline` (the same chain, decode to
encode), one model after the other on the same frames and threads.

Weights: speed does not depend on them, so our models run with random weights (AP: the paper's, with
its 56-AP person detector; the default YOLO11n detector may cost some AP, not measured without trained
weights). A YOLO-pose model runs its trained `.pt` where one is found (beside --detector-weights, in
ultralytics' weights folder or the working folder), else the architecture built from ultralytics' model
yaml, untrained, for timing only (the `weights` column says which; an untrained model finds nobody, so
its run has no people to track or draw). INT8 runs an NNCF export calibrated on the clip itself.
"""

from __future__ import annotations

import importlib.util
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from transpose_live.config import RunConfig
from transpose_live.errors import UserError

OUR_MODELS = ("tp_r_a3", "tp_r_a4", "tp_h_s")
# COCO val2017 keypoint mAP 50-95 at 640 px, Ultralytics' published tables (docs.ultralytics.com/tasks/pose,
# docs.ultralytics.com/datasets/pose/coco; cited in docs/speed.md)
YOLO_POSE_AP = {
    "yolo11n-pose": 50.0, "yolo11s-pose": 58.9, "yolo11m-pose": 64.9, "yolo11x-pose": 69.5,
    "yolo26n-pose": 57.2, "yolo26s-pose": 63.0, "yolo26m-pose": 68.8, "yolo26x-pose": 71.6,
}
FRONT_MODELS = (*OUR_MODELS, *YOLO_POSE_AP)
DEFAULT_FRAMES = 60
CALIBRATION_FRAMES = 30


@dataclass(frozen=True)
class FrontRun:
    """One point of the front: a model at a precision."""

    model: str  # a registry name (ours) or a YOLO-pose name
    precision: str  # as asked (auto|fp32|bf16|int8)

    @property
    def ours(self) -> bool:
        return self.model in OUR_MODELS

    @property
    def family(self) -> str:
        if self.ours:
            return f"TransPose ({self.precision})"
        return "YOLO11-pose" if self.model.startswith("yolo11") else "YOLO26-pose"


def parse_front_models(text: str | None) -> tuple[str, ...]:
    """--models for --front: 'all' (default) or names from FRONT_MODELS."""
    if text is None or text.strip().lower() == "all":
        return FRONT_MODELS
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in FRONT_MODELS]
    if unknown or not names:
        raise UserError(f"--front --models: unknown {', '.join(unknown) or 'empty list'}; choose from "
                        f"{', '.join(FRONT_MODELS)}")
    return names


def front_precisions(asked: str = "auto") -> tuple[str, ...]:
    """Our models' precisions: the one asked, or (auto) every one this CPU runs: fp32, its native bf16/fp16,
    and int8 where OpenVINO and NNCF are installed."""
    from transpose_live.backends.precision import cpu_precision
    from transpose_live.device import parse_precision

    name = parse_precision(asked)
    if name != "auto":
        return (name,)
    found = ["fp32"]
    if cpu_precision().auto != "fp32":
        found.append(cpu_precision().auto)
    if all(importlib.util.find_spec(p) is not None for p in ("openvino", "nncf")):
        found.append("int8")
    return tuple(found)


def front_runs(models: tuple[str, ...], precision: str = "auto") -> list[FrontRun]:
    """Ours at each precision, the YOLO-pose models at the one asked (auto: the CPU's own)."""
    ours = [FrontRun(m, p) for p in front_precisions(precision) for m in models if m in OUR_MODELS]
    return ours + [FrontRun(m, precision) for m in models if m not in OUR_MODELS]


def yolo_weights(name: str, search: list[Path], cache: Path) -> tuple[Path, str]:
    """(weights path, "trained" | "untrained (yaml), timing only"): a trained `name.pt` from `search`,
    else the architecture from ultralytics' yaml saved (once) under `cache`."""
    for folder in search:
        if (folder / f"{name}.pt").is_file():
            return folder / f"{name}.pt", "trained"
    path = cache / f"{name}-untrained.pt"
    if not path.is_file():
        from transpose_live.ultralytics_env import configure_ultralytics_offline

        configure_ultralytics_offline()
        from ultralytics import YOLO

        from transpose_live.paths import write_atomic

        write_atomic(path, lambda tmp: YOLO(f"{name}.yaml").save(str(tmp)), f"{name} built from its yaml")
    return path, "untrained (yaml), timing only"


def weight_folders(cfg: RunConfig) -> list[Path]:
    """Where trained YOLO-pose weights are looked for."""
    from ultralytics.utils import SETTINGS

    folders = [Path(cfg.detector_weights).expanduser().parent] if cfg.detector_weights else []
    from transpose_live.pipeline.detector import resolve_detector_weights

    folders.append(Path(resolve_detector_weights(None)).expanduser().parent)
    return [*folders, Path(SETTINGS["weights_dir"]), Path.cwd()]


class FrontBench:
    """Runs `FrontRun`s on one video: our INT8 exports are made once per model, calibrated on the clip."""

    def __init__(self, video: str | Path, cfg: RunConfig, max_frames: int | None = DEFAULT_FRAMES,
                 render: bool = True, console=None) -> None:
        from transpose_live.pipeline.detector_export import detector_cache_dir

        self.video, self.cfg, self.max_frames, self.render, self.console = Path(video), cfg, max_frames, render, console
        self.cache = detector_cache_dir().parent / "front"
        self._tmp = tempfile.TemporaryDirectory(prefix="tl-front-")
        self._calibration = None

    def close(self) -> None:
        self._tmp.cleanup()

    def __enter__(self) -> "FrontBench":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, point: FrontRun) -> dict:
        """One record: the model, precision and runtime that ran, weights, AP (and its source), fps, people."""
        from transpose_live.bench.pipeline_bench import bench_pipeline

        values, weights_note = self._values(point)
        s = bench_pipeline(self.video, self.cfg.replace(**values), max_frames=self.max_frames, render=self.render,
                           progress=False, console=self.console)
        ap, source = published_ap(point.model)
        return dict(model=point.model, family=point.family, precision=s["precision"], backend=s["backend"],
                    weights=weights_note, ap=ap, ap_source=source, fps=s["fps"], frames=s["frames"],
                    persons_per_frame=round(s["persons"] / max(s["frames"], 1), 2),
                    detect_ms=s["stages"]["detect"]["ms_per_frame"], pose_ms=s["stages"]["pose"]["ms_per_frame"],
                    detector=s["detector"], detector_imgsz=s["detector_imgsz"])

    def _values(self, point: FrontRun) -> tuple[dict, str]:
        if not point.ours:
            path, note = yolo_weights(point.model, weight_folders(self.cfg), self.cache)
            return dict(model="detector", weights="official", detector_weights=str(path),
                        precision=point.precision), note
        if point.precision == "int8":
            from transpose_live.backends.quantize import int8_pays

            note = "" if int8_pays() else " (no VNNI/AMX here: INT8 does not pay)"
            return dict(model=point.model, weights=str(self._int8(point.model)), precision="int8"), \
                f"random, INT8 export calibrated on the clip; timing only{note}"
        return dict(model=point.model, weights="random", precision=point.precision), "random, timing only"

    def _int8(self, model: str) -> Path:
        from transpose_live.backends.export import export_model
        from transpose_live.models.registry import model_info
        from transpose_live.pipeline.calibration import calibration_crops

        out = Path(self._tmp.name) / f"{model}-int8"
        if not out.exists():
            if self._calibration is None:
                self._calibration = calibration_crops(self.video, tuple(model_info(model).input_size),
                                                      self.cfg.detector_weights, max_frames=CALIBRATION_FRAMES)
            export_model(model, weights=None, fmt="openvino", out=out, precision="int8",
                         calibration=self._calibration)
        return out


def published_ap(model: str) -> tuple[float | None, str]:
    """(COCO val2017 keypoint AP in %, where it is published)."""
    if model in YOLO_POSE_AP:
        return YOLO_POSE_AP[model], "Ultralytics docs, 640 px"
    from transpose_live.models.registry import model_info

    return model_info(model).paper_ap.val_det, "TransPose paper, with its person detector"


def front_table(records: list[dict], title: str) -> Table:
    """Family, model, what ran, weights, AP, frames/s and people per frame, fastest first per family."""
    table = Table(title=title, caption="AP: published COCO val2017 keypoint AP (ours: the paper's, top-down with "
                                       "its 56-AP person detector); fps: measured here, end to end.",
                  caption_justify="left")
    for col in ("family", "model", "ran", "weights", "AP", "fps", "people/frame"):
        table.add_column(col, justify="right" if col in ("AP", "fps", "people/frame") else "left")
    for r in sorted(records, key=lambda r: (r["family"], -r["fps"])):
        table.add_row(r["family"], r["model"], f"{r['precision']} on {r['backend']}", r["weights"],
                      "-" if r["ap"] is None else f"{r['ap']:.1f}", f"{r['fps']:.2f}", f"{r['persons_per_frame']:.1f}")
    return table


def front_plot(records: list[dict], path: str | Path, title: str = "") -> Path:
    """fps (log x) vs published AP, one line per family (ours: one per precision)."""
    import matplotlib  # noqa: PLC0415
    import matplotlib.ticker  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    from transpose_live.paths import write_atomic

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for family in sorted({r["family"] for r in records}):
        points = sorted((r for r in records if r["family"] == family and r["ap"] is not None), key=lambda r: r["fps"])
        ax.plot([r["fps"] for r in points], [r["ap"] for r in points], marker="o", label=family)
        for r in points:
            ax.annotate(r["model"], (r["fps"], r["ap"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("frames/s end to end (this machine)")
    ax.set_ylabel("COCO val2017 keypoint AP (published)")
    ax.set_title("\n".join(textwrap.wrap(title, 90)), fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        return write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110), "--plot file")
    finally:
        plt.close(fig)
