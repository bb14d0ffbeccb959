"""Camera calibrations for multi-camera 3D: `Camera` / `Calibration` (camera.py), the readers and our
writer (formats.py: Pose2Sim/Anipose TOML, OpenCV YAML/JSON; qualisys.py: Qualisys `.qca.txt`) and
calibration from a checkerboard (board.py: intrinsics per camera, extrinsics from a board seen by several)."""
