"""fp16 and bf16 against fp32 on the real inference path, for every model: decoded keypoints (what users see).

    python benchmarks/gpu_precision.py --device cuda --out benchmarks/results          # all ten models
    python benchmarks/gpu_precision.py --device cpu --models tp_r_a3 --people 2 --out /tmp/p   # CPU check

Each model runs through `PoseEstimator` (BatchNorm folded, cast to the precision, channels-last, flip
test, DARK) on coco-mini people (ground-truth boxes), in fp32 with TF32 off (the reference), fp16 and
bf16; on the CPU half precision runs by `cpu_half_allowed()` (torch's CPU kernels, slow). Two weight sets,
since no trained TransPose weights exist here:
  fill        the conformance fill (tests' weights): BatchNorm statistics that do not match the
              activations, so activations grow layer after layer (TransPose-H's first attention scores
              reach ~890) and heatmaps are flat: a worst case for half precision, not what users run;
  calibrated  the same fill with each BatchNorm's statistics re-estimated on these crops (what a trained
              network's statistics are: every BatchNorm output near zero mean, unit variance).
Reported: the first encoder layer's largest attention score (softmax's input, fp32), the heatmaps'
relative error (max |difference| / max |fp32 map| per person), the decoded keypoints' error in heatmap
pixels of each person's crop, and the keypoint scores' largest difference. On untrained weights the
maps are flat, so a tiny heatmap difference can move an argmax far: the keypoint errors of such maps say
little; the trained-model test (tests/test_gpu_path_fp16.py) judges keypoints and AP.
Writes <out>/gpu-precision.{json,md}.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from transpose_live.bench.model_bench import strict_fp32  # noqa: E402
from transpose_live.engine import PoseEstimator  # noqa: E402
from transpose_live.engine.boxes import box_to_center_scale, crop_regions, xyxy_to_xywh  # noqa: E402
from transpose_live.engine.crops import crop_frame, frame_to_tensor  # noqa: E402
from transpose_live.engine.precision import cpu_half_allowed  # noqa: E402
from transpose_live.evaluation.boxes_source import gt_person_boxes, load_coco  # noqa: E402
from transpose_live.models import MODELS, model_info  # noqa: E402
from transpose_live.models.factory import create_model  # noqa: E402


def find_shared() -> Path:
    for p in (ROOT.parent / "shared", ROOT / "shared"):
        if (p / "data" / "coco-mini").is_dir():
            return p
    raise SystemExit("gpu_precision: ../shared (coco-mini, conformance/fill.py) not found")


def people(shared: Path, count: int):
    """[(BGR image, boxes (n, 4))] of coco-mini val images, `count` people in all, largest first."""
    coco = load_coco(shared / "data" / "coco-mini" / "annotations" / "person_keypoints_val2017.json")
    boxes = gt_person_boxes(coco)
    order = sorted(boxes, key=lambda i: -float(np.prod(boxes[i][0][:, 2:] - boxes[i][0][:, :2], axis=1).sum()
                                              if len(boxes[i][0]) else 0))
    out, total = [], 0
    for image_id in order:
        b = boxes[image_id][0][: count - total]
        if not len(b):
            continue
        image = cv2.imread(str(shared / "data" / "coco-mini" / "val2017" / coco.imgs[image_id]["file_name"]))
        out.append((image, b))
        total += len(b)
        if total >= count:
            break
    return out


def filled(name: str, shared: Path) -> torch.nn.Module:
    import importlib.util

    spec = importlib.util.spec_from_file_location("fill", shared / "conformance" / "fill.py")
    fill = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fill)
    model = create_model(name)
    sd = model.state_dict()
    fill.fill_state_dict(sd)
    model.load_state_dict(sd)
    return model.eval()


def calibrated(model: torch.nn.Module, name: str, samples, device: torch.device) -> torch.nn.Module:
    """A copy whose BatchNorm statistics are re-estimated (cumulative average, fp32 on `device`) on the
    samples' crops; returned on the CPU."""
    model = copy.deepcopy(model).to(device).eval()
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    size = model_info(name).input_size
    with torch.no_grad():
        for image, boxes in samples:
            xywh = xyxy_to_xywh(torch.from_numpy(boxes).double().to(device))
            center, scale = box_to_center_scale(xywh, size[1] / size[0])
            with strict_fp32():
                model(crop_frame(frame_to_tensor(image, device), center, scale, size))
    return model.eval().cpu()


def run(model, name, device, precision, samples) -> tuple[np.ndarray, torch.Tensor]:
    """(keypoints (N, J, 3), merged heatmaps (N, J, h, w) float32 on the CPU) of the samples' people."""
    spec = model_info(name)
    with cpu_half_allowed(), strict_fp32(precision == "fp32"):
        est = PoseEstimator.from_module(copy.deepcopy(model), name, device=device, precision=precision)
        est.warmup()
        poses = est.estimate_batch([s[0] for s in samples], [s[1] for s in samples])
        crops = []
        for image, boxes in samples:
            xywh = xyxy_to_xywh(torch.from_numpy(boxes).double().to(est.device))
            center, scale = box_to_center_scale(xywh, spec.input_size[1] / spec.input_size[0])
            crops.append(crop_frame(frame_to_tensor(image, est.device), center, scale, spec.input_size))
        with torch.inference_mode():
            heatmaps, _ = est._infer(torch.cat(crops), False)
    return np.concatenate([p.keypoints for p in poses]), heatmaps.float().cpu()


def attention_scores(model, name, samples) -> float | None:
    """The largest |q.k| / sqrt(d) of the first encoder layer in fp32 (softmax's input; what fp16 must hold)."""
    layers = getattr(getattr(model, "global_encoder", None), "layers", None)
    if layers is None:
        return None
    attn, seen = layers[0].self_attn, []

    def hook(module, args, kwargs):
        q = module._split_heads(torch.nn.functional.linear(args[0], *[t.chunk(3)[0] for t in
                                                                    (module.in_proj_weight, module.in_proj_bias)]))
        k = module._split_heads(torch.nn.functional.linear(args[0], *[t.chunk(3)[1] for t in
                                                                    (module.in_proj_weight, module.in_proj_bias)]))
        seen.append(float(((q @ k.transpose(-2, -1)) / q.shape[-1] ** 0.5).abs().max()))

    handle = attn.register_forward_pre_hook(hook, with_kwargs=True)
    spec = model_info(name)
    try:
        image, boxes = samples[0]
        center, scale = box_to_center_scale(xyxy_to_xywh(torch.from_numpy(boxes[:1]).double()),
                                            spec.input_size[1] / spec.input_size[0])
        with torch.inference_mode():
            model.eval()(crop_frame(frame_to_tensor(image, torch.device("cpu")), center, scale, spec.input_size))
    finally:
        handle.remove()
    return max(seen)


def compare(ref, got, ref_maps, got_maps, heatmap_px: np.ndarray) -> dict:
    err = np.linalg.norm(got[..., :2] - ref[..., :2], axis=-1) / heatmap_px[:, None]
    rel = ((got_maps - ref_maps).abs().amax(dim=(1, 2, 3)) / ref_maps.abs().amax(dim=(1, 2, 3)).clamp(min=1e-12))
    return {"median_hm_px": float(np.median(err)), "p95_hm_px": float(np.percentile(err, 95)),
            "max_hm_px": float(err.max()), "within_quarter_px": float((err <= 0.25).mean()),
            "max_score_diff": float(np.abs(got[..., 2] - ref[..., 2]).max()),
            "heatmap_rel_err_median": float(rel.median()), "heatmap_rel_err_max": float(rel.max())}


def write(out: Path, device: torch.device, records: list) -> None:
    out.mkdir(parents=True, exist_ok=True)
    env = {"device": str(device), "device_name": torch.cuda.get_device_name(device) if device.type == "cuda"
           else "cpu", "torch": torch.__version__}
    (out / "gpu-precision.json").write_text(json.dumps({"environment": env, "records": records}, indent=1))
    lines = [f"# fp16 / bf16 vs fp32 keypoints on {env['device_name']} (torch {env['torch']})", "",
             "Errors in heatmap pixels of each crop; `calibrated`: fill weights with BatchNorm statistics "
             "re-estimated on the crops (trained-like activations).", "",
             "| model | weights | precision | people | first-layer max score | heatmap rel. err median / max | "
             "keypoint err median / p95 / max | <= 0.25 px | max score diff |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        score = "-" if r["attention_score_max"] is None else f"{r['attention_score_max']:.0f}"
        lines.append(f"| {r['model']} | {r['weights']} | {r['precision']} | {r['people']} | {score} | "
                     f"{r['heatmap_rel_err_median']:.4f} / {r['heatmap_rel_err_max']:.4f} | "
                     f"{r['median_hm_px']:.2f} / {r['p95_hm_px']:.2f} / {r['max_hm_px']:.2f} | "
                     f"{100 * r['within_quarter_px']:.0f}% | {r['max_score_diff']:.4f} |")
    (out / "gpu-precision.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--models", default="all")
    parser.add_argument("--people", type=int, default=32)
    parser.add_argument("--precisions", default="fp16,bf16")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--budget-s", type=float, default=140, help="start no new model after this many seconds")
    args = parser.parse_args(argv)
    shared = find_shared()
    names = list(MODELS) if args.models == "all" else args.models.split(",")
    device = torch.device(args.device)
    samples = people(shared, args.people)
    records, started = [], time.perf_counter()
    for name in names:
        spec = model_info(name)
        regions = np.concatenate([crop_regions(b, spec.input_size[1] / spec.input_size[0]) for _, b in samples])
        heatmap_px = (regions[:, 2] - regions[:, 0]) / spec.heatmap_size[1]
        if time.perf_counter() - started > args.budget_s:
            print(f"gpu_precision: {args.budget_s} s budget spent, {name} and later models left out", file=sys.stderr)
            break
        base = filled(name, shared)
        for weights, model in (("fill", base), ("calibrated", calibrated(base, name, samples, device))):
            start = time.perf_counter()
            scores = attention_scores(model, name, samples)
            ref, ref_maps = run(model, name, device, "fp32", samples)
            for precision in args.precisions.split(","):
                got, got_maps = run(model, name, device, precision, samples)
                records.append({"model": name, "weights": weights, "precision": precision, "people": len(ref),
                                "attention_score_max": scores, **compare(ref, got, ref_maps, got_maps, heatmap_px)})
                print(json.dumps(records[-1]), flush=True)
            print(f"{name} {weights}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
        write(args.out, device, records)  # after every model: a timeout still leaves the models done
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
