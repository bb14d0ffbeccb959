"""Clips with known identities for tests/test_identity.py and benchmarks/tracking.py.

People are cut from the shared one-person clips (one person per clip: their YOLO11n-pose box per source
frame, plus a margin) and pasted onto a blurred background along scripted paths, nearer people (lower feet)
over farther ones, so they cross, hide behind each other, turn back, leave the frame and come back. The
ground truth per frame is each person's box; a person less than `MIN_VISIBLE` visible (hidden by people in
front or by the frame border) is not expected to be tracked in that frame, and a tracker's box on such a
person (and on no visible one) is ignored rather than counted false (MOTChallenge's rule for hidden people).

Scoring (`score`) is TrackEval's (the `trackeval` package): HOTA, IDF1 and CLEAR's id switches, boxes matched
at IoU >= 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared"
CLIPS = SHARED / "data" / "clips"
POSE_WEIGHTS = SHARED / "weights" / "yolo11n-pose.pt"
# one person each (selfie-jacky_* are all the same man: only one of them is used)
PEOPLE = ("selfie-lsc_walk.mp4", "selfie-jacky_walk.mp4", "dance.mp4", "squat.mp4", "stage-dance.mp4")
SPRITE_FRAMES = 24  # source frames per person (ping-pong looped)
MIN_VISIBLE = 0.5
MARGIN = 0.08  # of the box, around the person cut from the source clip


def load_yolo():
    import torch

    from transpose_live.ultralytics_env import configure_ultralytics_offline

    configure_ultralytics_offline()
    from ultralytics import YOLO

    torch.set_num_threads(2)
    return YOLO(str(POSE_WEIGHTS))


@dataclass
class Sprite:
    """One person: crops (BGR) and the person's box in each crop."""

    crops: list
    boxes: list

    def at(self, frame: int):
        n = len(self.crops)
        k = frame % (2 * n - 2) if n > 1 else 0
        k = k if k < n else 2 * n - 2 - k
        return self.crops[k], self.boxes[k]


def make_sprite(model, clip: str, frames: int = SPRITE_FRAMES) -> Sprite:
    cap = cv2.VideoCapture(str(CLIPS / clip))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    stride = max(1, min(3, total // frames))
    crops, boxes, index = [], [], 0
    while len(crops) < frames:
        ok, image = cap.read()
        if not ok:
            break
        index += 1
        if (index - 1) % stride:
            continue
        r = model.predict(image, imgsz=416, device="cpu", verbose=False, classes=[0])[0]
        if len(r.boxes) == 0:
            continue
        b = r.boxes.xyxy.numpy()[int(np.argmax(r.boxes.conf.numpy()))]
        w, h = b[2] - b[0], b[3] - b[1]
        x1, y1 = int(max(0, b[0] - MARGIN * w)), int(max(0, b[1] - MARGIN * h))
        x2, y2 = int(min(image.shape[1], b[2] + MARGIN * w)), int(min(image.shape[0], b[3] + MARGIN * h))
        crops.append(image[y1:y2, x1:x2].copy())
        boxes.append(np.array([b[0] - x1, b[1] - y1, b[2] - x1, b[3] - y1], np.float32))
    cap.release()
    return Sprite(crops, boxes)


@dataclass
class Path2D:
    """Keyframes (frame, x centre, feet y, person height in px), linear in between; x off the frame = away."""

    keys: list

    def at(self, f: int) -> tuple[float, float, float]:
        keys = self.keys
        if f <= keys[0][0]:
            return tuple(keys[0][1:])
        for (f0, *a), (f1, *b) in zip(keys, keys[1:]):
            if f <= f1:
                u = (f - f0) / max(f1 - f0, 1)
                return tuple(float(p + u * (q - p)) for p, q in zip(a, b))
        return tuple(keys[-1][1:])


@dataclass
class Scenario:
    name: str
    what: str
    size: tuple  # (width, height)
    frames: int
    people: list  # (sprite index, Path2D)
    fps: float = 30.0
    cache: dict = field(default_factory=dict)


def scenarios(scale: float = 1.0, speed: float = 1.0) -> list[Scenario]:
    """The benchmark's clips (the test uses the first, smaller). `speed` > 1: faster walks (fewer frames)."""
    def sc(v):
        return v * scale

    def fr(v):
        return int(round(v / speed))

    W, H = int(sc(960)), int(sc(540))
    out = [
        Scenario("hide-turn-leave", "B walks behind A, hides ~1 s, turns back; then B leaves for 3 s and returns",
                 (W, H), fr(300), [
                     (0, Path2D([(0, sc(560), sc(470), sc(330)), (fr(300), sc(560), sc(470), sc(330))])),
                     (1, Path2D([(0, sc(150), sc(440), sc(300)), (fr(50), sc(560), sc(440), sc(300)),
                                 (fr(80), sc(560), sc(440), sc(300)), (fr(120), sc(250), sc(440), sc(300)),
                                 (fr(150), sc(-200), sc(440), sc(300)), (fr(240), sc(-200), sc(440), sc(300)),
                                 (fr(280), sc(250), sc(440), sc(300))])),
                 ]),
        Scenario("cross-three", "three people of different sizes cross twice, back and forth", (W, H), fr(240), [
            (2, Path2D([(0, sc(120), sc(500), sc(360)), (fr(120), sc(840), sc(500), sc(360)),
                        (fr(240), sc(120), sc(500), sc(360))])),
            (3, Path2D([(0, sc(840), sc(430), sc(260)), (fr(120), sc(120), sc(430), sc(260)),
                        (fr(240), sc(840), sc(430), sc(260))])),
            (4, Path2D([(0, sc(480), sc(380), sc(200)), (fr(60), sc(300), sc(380), sc(200)),
                        (fr(180), sc(660), sc(380), sc(200)), (fr(240), sc(480), sc(380), sc(200))])),
        ]),
        Scenario("swap-exits", "two people cross, both leave, they come back on the other side", (W, H), fr(300), [
            (0, Path2D([(0, sc(200), sc(480), sc(320)), (fr(100), sc(1150), sc(480), sc(320)),
                        (fr(190), sc(1150), sc(480), sc(320)), (fr(300), sc(500), sc(480), sc(320))])),
            (2, Path2D([(0, sc(760), sc(450), sc(300)), (fr(100), sc(-200), sc(450), sc(300)),
                        (fr(200), sc(-200), sc(450), sc(300)), (fr(300), sc(400), sc(450), sc(300))])),
        ]),
    ]
    return out


def background(size) -> np.ndarray:
    cap = cv2.VideoCapture(str(CLIPS / "vtest.avi"))
    ok, image = cap.read()
    cap.release()
    return cv2.GaussianBlur(cv2.resize(image, size), (0, 0), 25)


def render(scenario: Scenario, sprites: list[Sprite], f: int):
    """(image, gt boxes (M,4), gt person indices (M,), visible fraction (M,)) of frame `f`."""
    W, H = scenario.size
    if "bg" not in scenario.cache:
        scenario.cache["bg"] = background((W, H))
    image = scenario.cache["bg"].copy()
    placed = []
    for who, (sprite_index, path) in enumerate(scenario.people):
        x, feet, height = path.at(f)
        crop, box = sprites[sprite_index].at(f + 7 * who)
        s = height / max(box[3] - box[1], 1)
        b = box * s
        ox, oy = x - (b[0] + b[2]) / 2, feet - b[3]
        placed.append((feet, who, crop, s, ox, oy, b + np.array([ox, oy, ox, oy], np.float32)))
    placed.sort(key=lambda p: p[0])  # far (feet higher up) first, near ones over them
    cover = np.zeros((H, W), np.int16) - 1
    for _, who, crop, s, ox, oy, _ in placed:
        c = cv2.resize(crop, (max(1, round(crop.shape[1] * s)), max(1, round(crop.shape[0] * s))))
        x0, y0 = int(round(ox)), int(round(oy))
        xa, ya, xb, yb = max(0, x0), max(0, y0), min(W, x0 + c.shape[1]), min(H, y0 + c.shape[0])
        if xb > xa and yb > ya:
            image[ya:yb, xa:xb] = c[ya - y0:yb - y0, xa - x0:xb - x0]
            cover[ya:yb, xa:xb] = who
    boxes, people, visible = [], [], []
    for _, who, *_, b in sorted(placed, key=lambda p: p[1]):
        x1, y1, x2, y2 = (int(round(v)) for v in b)
        area = max((x2 - x1) * (y2 - y1), 1)
        seen = (cover[max(0, y1):max(0, y2), max(0, x1):max(0, x2)] == who).sum()
        boxes.append(b)
        people.append(who)
        visible.append(seen / area)
    return image, np.array(boxes, np.float32), np.array(people), np.array(visible)


def detect(model, image: np.ndarray, imgsz: int = 640):
    """YOLO11n-pose on one frame as `Poses`."""
    from transpose_live.poses import Poses

    r = model.predict(image, imgsz=imgsz, device="cpu", verbose=False)[0]
    if r.keypoints is None or len(r.boxes) == 0:
        return Poses.empty()
    return Poses(r.keypoints.data.float().numpy(), r.boxes.xyxy.numpy(), r.boxes.conf.numpy())


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from transpose_live.tracking import box_iou

    return box_iou(a, b) if len(a) and len(b) else np.zeros((len(a), len(b)))


def score(gt: list, tracks: list) -> dict:
    """TrackEval HOTA / IDF1 / id switches. gt: per frame (boxes, person ids, visible); tracks: per frame
    (boxes, track ids) with -1 ids left out. Also 'ids_per_person': track ids covering each person."""
    from trackeval.metrics import CLEAR, HOTA, Identity

    gt_ids, tr_ids, sims = [], [], []
    gmap, tmap = {}, {}
    per_person: dict[int, set] = {}
    for (gb, gp, vis), (tb, tid) in zip(gt, tracks):
        keep = vis >= MIN_VISIBLE
        tb, tid = np.asarray(tb, np.float32).reshape(-1, 4), np.asarray(tid)
        hidden, shown = _iou(tb, gb[~keep]), _iou(tb, gb[keep])
        drop = (hidden.max(1) >= 0.5) if hidden.size else np.zeros(len(tb), bool)
        if shown.size:
            drop &= shown.max(1) < 0.5  # a box on a visible person counts, even over a hidden one
        tb, tid = tb[~drop & (tid >= 0)], tid[~drop & (tid >= 0)]
        gb, gp = gb[keep], gp[keep]
        sim = _iou(gb, tb)
        for i, j in zip(*np.nonzero(sim >= 0.5)):
            per_person.setdefault(int(gp[i]), set()).add(int(tid[j]))
        gt_ids.append(np.array([gmap.setdefault(int(p), len(gmap)) for p in gp], int))
        tr_ids.append(np.array([tmap.setdefault(int(t), len(tmap)) for t in tid], int))
        sims.append(sim)
    data = dict(num_timesteps=len(gt), num_gt_ids=len(gmap), num_tracker_ids=len(tmap),
                num_gt_dets=sum(len(g) for g in gt_ids), num_tracker_dets=sum(len(t) for t in tr_ids),
                gt_ids=gt_ids, tracker_ids=tr_ids, similarity_scores=sims)
    quiet = {"PRINT_CONFIG": False}
    hota = HOTA(quiet).eval_sequence(data)
    ident = Identity(quiet).eval_sequence(data)
    clear = CLEAR(quiet).eval_sequence(data)
    return {"IDF1": float(ident["IDF1"]), "HOTA": float(np.mean(hota["HOTA"])), "IDSW": int(clear["IDSW"]),
            "MOTA": float(clear["MOTA"]), "ids": len(tmap),
            "ids_per_person": {p: sorted(v) for p, v in sorted(per_person.items())}}


def detections(model, scenario: Scenario, sprites: list[Sprite], imgsz: int = 640) -> tuple[list, list]:
    """(per-frame YOLO11n-pose `Poses`, per-frame ground truth (boxes, person ids, visible))."""
    dets, gt = [], []
    for f in range(scenario.frames):  # noqa: B007
        image, gb, gp, vis = render(scenario, sprites, f)
        dets.append(detect(model, image, imgsz))
        gt.append((gb, gp, vis))
    return dets, gt


def track_ours(scenario: Scenario, sprites: list[Sprite], dets: list, with_image: bool = True, **tracker) -> tuple:
    """Our `PoseTracker` (ids only) over the cached detections: (per-frame (boxes, ids), seconds in update)."""
    import time

    from transpose_live.tracking import PoseTracker

    trk = PoseTracker(smooth="none", **tracker)
    out, spent = [], 0.0
    for f, poses in enumerate(dets):
        image = render(scenario, sprites, f)[0] if with_image else None
        t0 = time.perf_counter()
        res = trk.update(poses, f / scenario.fps, image=image)
        spent += time.perf_counter() - t0
        out.append((res.boxes, res.track_ids))
    return out, spent


def _peer_tracker(cfg_path: str):
    import yaml
    from ultralytics.trackers.track import TRACKER_MAP
    from ultralytics.utils import IterableSimpleNamespace

    cfg = IterableSimpleNamespace(**yaml.safe_load(Path(cfg_path).read_text()))
    cfg.device = "cpu"
    return TRACKER_MAP[cfg.tracker_type](args=cfg)


def track_peers(model, scenario: Scenario, sprites: list[Sprite], configs: dict, imgsz: int = 640) -> tuple:
    """ultralytics' trackers on one YOLO pass per frame: the first of `configs` (name -> tracker yaml) runs
    inside `YOLO.track(persist=True)`; the others get the same frame's detections and detector features
    (`feats`, what `with_reid` + `model: auto` pools) through `tracker.update` exactly as ultralytics' own
    callback passes them. Returns ({name: per-frame (boxes, ids)}, per-frame `Poses`, ground truth)."""
    from transpose_live.poses import Poses

    names = list(configs)
    others = {n: _peer_tracker(configs[n]) for n in names[1:]}
    grabbed = {}

    def grab(predictor):
        r = predictor.results[0]
        grabbed["boxes"], grabbed["feats"] = r.boxes.cpu().numpy(), getattr(r, "feats", None)
        grabbed["with_feats"] = grabbed.get("with_feats", 0) + (grabbed["feats"] is not None)
        grabbed["poses"] = (Poses(r.keypoints.data.float().numpy(), r.boxes.xyxy.numpy(), r.boxes.conf.numpy())
                            if r.keypoints is not None and len(r.boxes) else Poses.empty())

    model.add_callback("on_predict_postprocess_end", grab)  # before the tracker's own callback
    out = {n: [] for n in names}
    dets, gt = [], []
    for f in range(scenario.frames):
        image, gb, gp, vis = render(scenario, sprites, f)
        r = model.track(image, imgsz=imgsz, device="cpu", verbose=False, persist=True, tracker=configs[names[0]])[0]
        out[names[0]].append(_rows(r.boxes.xyxy.numpy(), r.boxes.id))
        for n, trk in others.items():
            tracks = trk.update(grabbed["boxes"], image, feats=grabbed["feats"]).reshape(-1, 8)
            out[n].append(_rows(tracks[:, :4], tracks[:, 4]))
        dets.append(grabbed["poses"])
        gt.append((gb, gp, vis))
    if grabbed.get("with_feats", 0) < scenario.frames:
        raise RuntimeError("the detector's features did not reach the ReID trackers")
    return out, dets, gt


def _rows(boxes, ids) -> tuple:
    if ids is None or len(boxes) == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, int)
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(ids).astype(int)


def keypoint_boxes(poses):
    """The frame's poses with boxes from their own confident keypoints (a stand-in for `--det-every` frames)."""
    boxes = poses.boxes.copy()
    for i, k in enumerate(poses.keypoints):
        good = k[k[:, 2] >= 0.3, :2]
        if len(good) >= 2:
            (x1, y1), (x2, y2) = good.min(0), good.max(0)
            pad = 0.1 * max(x2 - x1, y2 - y1)
            boxes[i] = [x1 - pad, y1 - pad, x2 + pad, y2 + pad]
    return poses.with_(boxes=boxes)
