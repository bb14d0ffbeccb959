"""Multi-camera 3D from per-camera 2D poses (docs/3d.md):

sync.py (per-camera recordings -> ticks of matched frames) -> association.py (who is who across views:
epipolar consistency; 3D ids over time) -> dlt.py (confidence-weighted DLT per keypoint with outlier-view
rejection) -> filtering.py (3D gap filling + zero-lag smoothing, analytics/smoothing.py) -> writers.py
(TRC, C3D, JSONL, CSV). session.py triangulates ticks, files.py runs poses files end to end, live.py
ticks from live cameras; metrics.py:
reprojection and bone-length statistics."""
