"""Real motion for the analytics tests and benchmarks/file_smoothing.py: YOLO11n-pose keypoints of a shared
clip, tracked by the project's `PoseTracker` (ids only, no smoothing) and written by the project's
`JsonlWriter`, so the file has exactly the schema `video --json` writes. No trained TransPose weights
exist; YOLO11n-pose is the motion signal."""

from __future__ import annotations

import time
from pathlib import Path

import cv2

SHARED = Path(__file__).resolve().parents[2] / "shared"
CLIPS = SHARED / "data" / "clips"
POSE_WEIGHTS = SHARED / "weights" / "yolo11n-pose.pt"


def record_yolo_poses(clip: Path, out: Path, imgsz: int = 320, max_frames: int | None = None) -> Path:
    """Writes `out` (JSONL, one line per frame) from every frame of `clip`; returns `out`."""
    import torch

    from transpose_live.pipeline.sources import Frame
    from transpose_live.pipeline.writers import JsonlWriter
    from transpose_live.poses import Poses
    from transpose_live.tracking import PoseTracker
    from transpose_live.ultralytics_env import configure_ultralytics_offline

    configure_ultralytics_offline()
    from ultralytics import YOLO

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    model = YOLO(str(POSE_WEIGHTS))
    tracker = PoseTracker(smooth="none", associate="oks")
    cap = cv2.VideoCapture(str(clip))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    writer = JsonlWriter(out)
    index = 0
    try:
        while max_frames is None or index < max_frames:
            ok, image = cap.read()
            if not ok:
                break
            r = model.predict(image, imgsz=imgsz, device="cpu", verbose=False)[0]
            if r.keypoints is None or len(r.boxes) == 0:
                poses = Poses.empty()
            else:
                poses = Poses(r.keypoints.data.float().numpy(), r.boxes.xyxy.numpy(), r.boxes.conf.numpy())
            poses = tracker.update(poses, index / fps)
            writer.write(Frame(index, image, index / fps, time.perf_counter()), poses, None)
            index += 1
        writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        cap.release()
        torch.set_num_threads(threads)
    return out
