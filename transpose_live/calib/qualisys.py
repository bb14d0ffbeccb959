"""Qualisys `.qca.txt` calibrations (XML) in OpenCV's conventions.

Per `<camera>` (named by its `serial`):
- `fov_video` (left, top, right, bottom) is the image window on the sensor: size = right - left + 1 by
  bottom - top + 1.
- `intrinsic` holds the focal lengths and principal point in sub-pixel sensor units: divided by 64 they
  are pixels, then the window's left / top are subtracted from the principal point. Distortion:
  radialDistortion1, 2, tangentalDistortion1, 2, radialDistortion3 (OpenCV's k1, k2, p1, p2, k3).
- `transform` holds a rotation R (r11 r12 r13 is the first row) and the camera position in mm. R maps world
  axes to camera axes whose y and z point opposite to OpenCV's, so with F = diag(1, -1, -1):
  R_opencv = F R and t_opencv = -F R position (metres here).
Reprojecting triangulated keypoints checks the conversion (tests/test_3d_calibration.py).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from transpose_live.calib.camera import Calibration, Camera

SUBPIXELS = 64.0
FLIP = np.diag([1.0, -1.0, -1.0])


def read_qca(path: str | Path) -> Calibration:
    """The active cameras of a Qualisys calibration."""
    root = ET.parse(str(path)).getroot()
    cameras = [qca_camera(node) for node in root.iter("camera") if node.get("active", "1") != "0"]
    return Calibration(cameras)


def qca_camera(node: ET.Element) -> Camera:
    """One `<camera>` element -> an OpenCV `Camera`."""
    fov = {k: float(v) for k, v in node.find("fov_video").attrib.items()}
    intr = {k: float(v) for k, v in node.find("intrinsic").attrib.items()}
    tr = {k: float(v) for k, v in node.find("transform").attrib.items()}
    size = (int(fov["right"] - fov["left"] + 1), int(fov["bottom"] - fov["top"] + 1))
    k = np.array([[intr["focalLengthU"] / SUBPIXELS, 0.0, intr["centerPointU"] / SUBPIXELS - fov["left"]],
                  [0.0, intr["focalLengthV"] / SUBPIXELS, intr["centerPointV"] / SUBPIXELS - fov["top"]],
                  [0.0, 0.0, 1.0]])
    dist = [intr["radialDistortion1"], intr["radialDistortion2"], intr["tangentalDistortion1"],
            intr["tangentalDistortion2"], intr["radialDistortion3"]]
    r = np.array([[tr[f"r{i}{j}"] for j in (1, 2, 3)] for i in (1, 2, 3)])
    position = np.array([tr["x"], tr["y"], tr["z"]]) / 1000.0
    rotation = FLIP @ r
    return Camera(node.get("serial", "cam"), size, k, dist, rotation, -rotation @ position)
