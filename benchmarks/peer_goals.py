"""The CPU speed goals against the nano peer (issue #33), one command:

    python benchmarks/peer_goals.py                    # squat (1 person) + exercise (3), ~8 minutes
    python benchmarks/peer_goals.py --frames 10 --chunk 5 --pairs 2 --out /tmp/x   # quick look

Pairs. This machine's speed changes by 2x and more for seconds at a time, whatever runs (no other process
here; a fixed bf16 matrix product, `probe_ms`, took 14-146 ms depending on the moment). Long
runs one after the other then compare minutes, not programs. So each configuration runs right beside the
peer, in alternating order, two ways:

- frame pairs: each of `--frames` frames (decoded beforehand) through the peer's predict and through our
  detector -> pose model -> tracker, one right after the other, the probe just before and after each pair
  (so the table can say whether the ratio differs between the fast and the slow phases);
- chunk pairs: `--chunk` frames (default 60) through our whole loop and the peer's loop, `--pairs` times
  (default 4); each chunk is a whole run of its own, started and ended, so shorter chunks weigh the
  start-up more than a real file does.

A ratio is our fps / the peer's in the pair; the goal is judged on the median. Each side's models are built
and warmed once per clip (an untimed chunk first, so the one-time static-shape compile of a crowd's batch
size is not counted).

Our loop is the whole chain (`bench --pipeline`'s `bench_pipeline`: read -> detect -> pose -> track, no
rendering, every frame detected: no frame skipping); the peer is ultralytics YOLO11n-pose (`YOLO(w)(frame)`,
PyTorch, its defaults) with the same 2-thread budget:

- `before`: `--precision auto` (bf16 on CPUs with it) as it ran before issue #33's last changes:
  OpenVINO's dynamic-shape models only (`OpenVINORunner.STATIC_SHAPES = 0`) and torch on every core for
  the crops and decoding (`runtime.threads.glue_only_torch` not applied), the whole detector;
- `whole-detector`: `auto` with the detector's keypoint branch computed as well (before
  `yolo_runtime.boxes_only` cut it off for TransPose runs, which use only the boxes);
- `auto`: the default now: each input shape compiled statically (`backends.runners.OpenVINORunner`),
  one torch thread for the glue when no model runs on torch, the detector without its keypoint branch;
- `int8` (CPUs with VNNI/AMX only, where INT8 pays): `--precision int8` of a checkpoint, as a user runs
  it: the run makes the checkpoint's INT8 model (`pipeline.int8_cache`, in a temporary
  $TRANSPOSE_LIVE_HOME) with `--int8-calib dance.mp4` (not one of the measured clips).

Pose weights are random (speed does not depend on them; for `int8`, saved as a checkpoint first); the detector is YOLO11n-pose on OpenVINO at
640 px (its boxes, the same network the peer runs). Writes benchmarks/results/peer-goals-<cpu kind>.{json,md}
with the load average before and after each chunk.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import transpose_live  # noqa: F401  (first: sets OpenMP's passive wait policy before torch loads)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from front import CLIPS, RESULTS, SHARED, cpu_kind, cpu_name  # noqa: E402

PEER = SHARED / "weights" / "yolo11n-pose.pt"
GOALS = {1: 1.3, 3: 0.8}  # people -> least ratio to the peer (issue #33, AVX-512 CPUs)
FULL_SPEED = 2.0  # a frame pair whose probes took at most this times the run's fastest ran in a fast phase


def probe_ms() -> float:
    """Time of a fixed matrix product on 2 threads, in the precision our models run here (bf16 on CPUs
    with it, else fp32): how fast the machine is right now, whatever the host does to it."""
    import torch

    dtype = torch.bfloat16 if cpu_kind() == "avx512-bf16" else torch.float32
    a = torch.ones(1024, 1024, dtype=dtype)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        a @ a
        t0 = time.perf_counter()
        for _ in range(10):
            a @ a
        return round(1000 * (time.perf_counter() - t0), 2)
    finally:
        torch.set_num_threads(threads)


def int8_run(folder: Path) -> dict:
    """The `int8` configuration: a random tp_r_a3 saved as a checkpoint, run with --precision int8 and
    --int8-calib dance.mp4; its INT8 model is made in `folder` (as $TRANSPOSE_LIVE_HOME) when first built."""
    import torch

    from transpose_live.models import load_model

    checkpoint = folder / "tp_r_a3_random.pth"
    torch.save(load_model("tp_r_a3", weights=None, device="cpu").module.state_dict(), checkpoint)
    os.environ["TRANSPOSE_LIVE_HOME"] = str(folder / "home")
    return dict(weights=str(checkpoint), precision="int8", int8_calibration=str(SHARED / "data" / "clips" / "dance.mp4"))


class Side:
    """One configuration's models (or the peer), built once per clip: one frame (`frame`) or a chunk of the
    clip through the whole loop (`run`)."""

    def __init__(self, name: str, setup: dict) -> None:
        self.name, self.setup = name, setup
        if name == "peer":
            from transpose_live.bench.pipeline_bench import PeerModel

            self.peer = PeerModel(PEER)
            return
        from transpose_live.chain import build_chain
        from transpose_live.config import RunConfig

        self.cfg = RunConfig.for_command("bench").replace(
            model="tp_r_a3", weights=setup.get("weights"), precision=setup.get("precision", "auto"),
            int8_calibration=setup.get("int8_calibration"),
            detector_weights=str(PEER), flip_test=False, threads=2)
        with self._as_configured():
            chain = build_chain(self.cfg, detector=True)
        self.estimator, self.detector = chain.estimator, chain.detector
        if setup.get("whole_detector"):  # the detector's keypoint branch computed too, as before boxes_only
            from transpose_live.pipeline.detector import PersonDetector

            self.detector = PersonDetector(str(PEER), backend=self.detector.backend, imgsz=self.detector.imgsz,
                                           threads=2, precision=self.estimator.runtime.precision, keypoints=True)
        from transpose_live.tracking import PoseTracker

        self.tracker = PoseTracker(smooth=self.cfg.smooth)

    @contextlib.contextmanager
    def _as_configured(self):
        from transpose_live.backends.runners import OpenVINORunner
        from transpose_live.runtime import threads

        glue, shapes = threads.glue_only_torch, OpenVINORunner.STATIC_SHAPES
        if self.setup.get("before"):
            OpenVINORunner.STATIC_SHAPES, threads.glue_only_torch = 0, threads.active_budget
        try:
            yield
        finally:
            OpenVINORunner.STATIC_SHAPES, threads.glue_only_torch = shapes, glue

    def frame(self, image, t: float) -> float:
        """ms for one frame's work, decoding aside: the peer's predict, or our detector -> pose -> tracker."""
        t0 = time.perf_counter()
        if self.name == "peer":
            self.peer(image)
        else:
            with self._as_configured():
                boxes, scores = self.detector(image)
                self.tracker.update(self.estimator.estimate(image, boxes, scores), t, image=image)
        return 1000 * (time.perf_counter() - t0)

    def run(self, clip: Path, frames: int) -> dict:
        from transpose_live.bench.pipeline_bench import bench_peer, bench_pipeline

        load = os.getloadavg()[0]
        if self.name == "peer":
            got = bench_peer(clip, self.peer, max_frames=frames, threads=2)
            return dict(config=self.name, fps=got["fps"], load=[round(load, 2), round(os.getloadavg()[0], 2)])
        with self._as_configured():
            got = bench_pipeline(clip, self.cfg, estimator=self.estimator, det=self.detector, max_frames=frames,
                                 render=False, progress=False)
        stages = {k: v["ms_per_frame"] for k, v in got["stages"].items() if v["ms_per_frame"]}
        return dict(config=self.name, fps=got["fps"], precision=got["precision"], persons=got["persons"],
                    stages=stages, threads=got.get("threads"),
                    load=[round(load, 2), round(os.getloadavg()[0], 2)])


def frame_pairs(clip: Path, sides: dict, frames: int) -> dict:
    """Each frame through the peer and each configuration one right after the other (order alternating per
    frame), probed just before and after: config -> {"ours_ms", "peer_ms", "probe_ms", "ratios"} with ratio = the
    peer's ms / ours (= our fps / its fps)."""
    from transpose_live.pipeline.sources import open_video

    with open_video(clip) as source:
        images = [frame.image for frame, _ in zip(source, range(frames))]
    out = {name: {"ours_ms": [], "peer_ms": [], "probe_ms": []} for name in sides if name != "peer"}
    for i, image in enumerate(images):
        for name, got in out.items():
            order = ("peer", name) if i % 2 == 0 else (name, "peer")
            before = probe_ms()
            ms = {who: sides[who].frame(image, i / 30.0) for who in order}
            got["probe_ms"].append(max(before, probe_ms()))  # the slower of the probes just before and after
            got["ours_ms"].append(round(ms[name], 2))
            got["peer_ms"].append(round(ms["peer"], 2))
    for got in out.values():
        got["ratios"] = [round(p / o, 3) for p, o in zip(got["peer_ms"], got["ours_ms"])]
    return out


def _median(values: list) -> float | None:
    return round(statistics.median(values), 3) if values else None


def summary(records: list[dict]) -> dict:
    """clip -> config -> fps per chunk, ratio per pair (our fps / the peer's in the same pair), medians."""
    out: dict = {}
    for clip in sorted({r["clip"] for r in records}):
        rows = [r for r in records if r["clip"] == clip]
        per = {}
        for config in dict.fromkeys(r["config"] for r in rows if r["config"] != "peer"):
            pairs = sorted({r["pair"] for r in rows if r["config"] == config})
            ours = {r["pair"]: r["fps"] for r in rows if r["config"] == config}
            peer = {r["pair"]: r["fps"] for r in rows if r["config"] == "peer" and r["against"] == config}
            ratios = [ours[k] / peer[k] for k in pairs if peer.get(k)]
            per[config] = dict(fps=[ours[k] for k in pairs], peer_fps=[peer.get(k) for k in pairs],
                               median_fps=round(statistics.median(ours.values()), 2),
                               median_peer_fps=round(statistics.median(peer.values()), 2) if peer else None,
                               ratios=[round(x, 3) for x in ratios],
                               median_ratio=round(statistics.median(ratios), 3) if ratios else None,
                               quartiles=[round(x, 3) for x in statistics.quantiles(ratios, n=4)]
                               if len(ratios) >= 2 else None)
        out[clip] = per
    return out


def _goal(people, ratio) -> str:
    return f">= {GOALS.get(people, '?')}x: " + ("met" if ratio and ratio >= GOALS.get(people, 99) else "not met")


def _spread(ratios: list) -> str:
    if len(ratios) < 2:
        return ""
    q = statistics.quantiles(ratios, n=4)
    return f" ({q[0]:.2f}-{q[2]:.2f})"


def markdown(payload: dict) -> str:
    kind = payload["cpu_kind"]
    fastest = min((x for per in payload.get("frame_pairs", {}).values() for got in per.values()
                   for x in got["probe_ms"]), default=0)
    lines = [f"# CPU speed goals against YOLO11n-pose ({kind})", "",
             f"`{payload['command']}` on {payload['cpu']} ({kind}), 2 threads each side, {payload['created']}.", "",
             "## Frame pairs: the chain's work per frame", "",
             f"Each of {payload['frames']} frames (decoded beforehand) goes through the peer's predict and through our "
             "detector -> pose model -> tracker one right after the other, the order alternating per frame; "
             "ratio = the peer's ms / ours (= our fps / its fps) per frame. Decoding and output are left out on "
             "both sides; the host's slow phases (below) hit both halves of a pair alike.", "",
             f"The probe (below) runs just before and just after each pair: *fast phase* are the pairs whose "
             f"two probes both took at most {FULL_SPEED}x the run's fastest ({fastest:.1f} ms), *slow phase* "
             "the others.", "",
             "| clip (people) | configuration | our ms/frame | peer ms/frame | ratio: median (quartiles) | "
             "fast phase: ratio (frames) | slow phase: ratio (frames) | goal (all frames) |",
             "|---|---|---|---|---|---|---|---|"]
    for clip, per in payload.get("frame_pairs", {}).items():
        for config, got in per.items():
            ratio = _median(got["ratios"])
            full = [r for r, p in zip(got["ratios"], got["probe_ms"]) if p <= FULL_SPEED * fastest]
            slowed = [r for r, p in zip(got["ratios"], got["probe_ms"]) if p > FULL_SPEED * fastest]
            lines.append(f"| {clip} ({CLIPS.get(clip, '?')}) | {config} | {_median(got['ours_ms']):.1f} | "
                         f"{_median(got['peer_ms']):.1f} | {ratio}x{_spread(got['ratios'])} | "
                         f"{_median(full) or '-'}x ({len(full)}) | {_median(slowed) or '-'}x ({len(slowed)}) | "
                         f"{_goal(CLIPS.get(clip), ratio)} |")
    lines += ["", "## Chunk pairs: the whole pipeline", "",
              f"The product's loop (`bench --pipeline`: read -> detect -> pose -> track, threads as in a run) on "
              f"{payload['chunk']} frames and the peer's loop (decode -> predict) on the same frames, one right after "
              f"the other, order alternating, {payload['pairs']} pairs per configuration and clip; ratio = our fps / "
              "the peer's in the pair.", "",
              "| clip (people) | configuration | our fps | peer fps | ratio: median (quartiles) | goal |",
              "|---|---|---|---|---|---|"]
    for clip, per in payload.get("summary", {}).items():
        for config, s in per.items():
            lines.append(f"| {clip} ({CLIPS.get(clip, '?')}) | {config} | {s['median_fps']:.1f} | "
                         f"{s['median_peer_fps'] or 0:.1f} | {s['median_ratio']}x{_spread(s['ratios'])} | "
                         f"{_goal(CLIPS.get(clip), s['median_ratio'])} |")
    loads = [x for r in payload["runs"] for x in r["load"]]
    peers = [r["fps"] for r in payload["runs"] if r["config"] == "peer"]
    probes = [p["ms"] for p in payload["probes"]] + [x for per in payload.get("frame_pairs", {}).values()
                                                     for got in per.values() for x in got["probe_ms"]]
    if loads:
        lines += ["", f"Load average over the chunks: {min(loads):.2f}-{max(loads):.2f}; the peer alone ran at "
                  f"{min(peers):.1f}-{max(peers):.1f} fps over them."]
    if probes:
        lines += ["", f"The host's phases: a fixed probe ({'bf16' if kind == 'avx512-bf16' else 'fp32'} products of "
                  f"1024x1024 matrices on 2 threads, `probe_ms`) took {min(probes):.1f}-{max(probes):.1f} ms "
                  f"(median {statistics.median(probes):.1f}) over this run, with no other process on the machine."]
    return "\n".join(lines + [""])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunk", type=int, default=60, help="frames per chunk")
    parser.add_argument("--pairs", type=int, default=4, help="pairs (ours, peer) per configuration and clip")
    parser.add_argument("--frames", type=int, default=60, help="frames for the frame pairs")
    parser.add_argument("--configs", default="before,whole-detector,auto,int8")
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    from transpose_live.backends.quantize import int8_pays

    with tempfile.TemporaryDirectory(prefix="tl-goals-") as tmp:
        wanted = args.configs.split(",")
        known = (("before", dict(before=True, whole_detector=True)), ("whole-detector", dict(whole_detector=True)),
                 ("auto", {}))
        configs = {name: setup for name, setup in known if name in wanted}
        if "int8" in wanted and int8_pays():
            configs["int8"] = int8_run(Path(tmp))
        records: list[dict] = []
        probes: list[dict] = []
        payload = dict(command="python benchmarks/peer_goals.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                       cpu=cpu_name(), cpu_kind=cpu_kind(), chunk=args.chunk, pairs=args.pairs, frames=args.frames,
                       created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), runs=records,
                       probes=probes, frame_pairs={})
        args.out.mkdir(parents=True, exist_ok=True)
        stem = args.out / f"peer-goals-{payload['cpu_kind']}"
        for clip_name in args.clips.split(","):
            clip = SHARED / "data" / "clips" / clip_name
            sides = {"peer": Side("peer", {})} | {name: Side(name, setup) for name, setup in configs.items()}
            for side in sides.values():
                side.run(clip, args.chunk)  # untimed: first-shape compiles, caches
            payload["frame_pairs"][clip_name] = frame_pairs(clip, sides, args.frames)
            for name, got in payload["frame_pairs"][clip_name].items():
                print(f"{clip_name} frame pairs {name:8s} median ratio {_median(got['ratios'])}", flush=True)
            for pair in range(args.pairs):
                for name in configs:
                    order = ["peer", name] if pair % 2 == 0 else [name, "peer"]
                    probes.append(dict(clip=clip_name, pair=pair, against=name, ms=probe_ms()))
                    for who in order:
                        record = sides[who].run(clip, args.chunk)
                        records.append(dict(record, clip=clip_name, pair=pair, against=name))
                    probes.append(dict(clip=clip_name, pair=pair, against=name, ms=probe_ms()))
                    got = {r["config"]: r["fps"] for r in records[-2:]}
                    print(f"{clip_name} pair {pair} {name:8s} {got[name]:6.1f} fps, peer {got['peer']:6.1f}: "
                          f"{got[name] / got['peer']:.2f}x  probes {probes[-2]['ms']}/{probes[-1]['ms']} ms  "
                          f"load {records[-1]['load']}", flush=True)
                payload["summary"] = summary(records)
                stem.with_suffix(".json").write_text(json.dumps(payload, indent=1))
            del sides
        stem.with_suffix(".md").write_text(markdown(payload))
    print(markdown(payload))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
