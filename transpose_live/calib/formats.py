"""Reading calibrations from the files users have, and writing ours (Pose2Sim's TOML layout).

Read (`read_calibration`, the format from the suffix, else from the content):
- `.toml`: Pose2Sim / Anipose / ours. One table per camera with `name`, `size` [w, h], `matrix` (3x3 K),
  `distortions` [k1, k2, p1, p2(, k3)], `rotation` (Rodrigues vector, world -> camera), `translation`
  (metres), `fisheye` (must be false: fisheye models are not supported); other tables (`metadata`) skipped.
- `.json`: the same layout as JSON ({camera: {name, size, matrix, ...}}), or an OpenCV FileStorage JSON.
- `.yml` / `.yaml` / `.xml` (and FileStorage JSON): OpenCV FileStorage in EasyMocap's layout: `names`
  (camera names), per camera `K_<name>`, `dist_<name>`, `R_<name>` (Rodrigues) or `Rot_<name>` (3x3),
  `T_<name>` (metres), optional `size_<name>`. An `intri.yml` is read with the `extri.yml` beside it.
- `.qca.txt`: Qualisys (qualisys.py).
Not supported: Vicon `.xcp`, OptiTrack `.cal`, Caliscope/FreeMoCap `.toml` variants with other keys, fisheye.

Written (`write_calibration`): the Pose2Sim TOML layout above, one `[<name>]` table per camera, then
`[metadata]` with the reprojection error per camera (px) when known.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import cv2
import numpy as np

from transpose_live.calib.camera import Calibration, Camera
from transpose_live.errors import UserError
from transpose_live.paths import atomic_path

SUFFIXES = (".toml", ".json", ".yml", ".yaml", ".xml", ".qca.txt")


def read_calibration(path: str | Path) -> Calibration:
    """The cameras of a calibration file (see the module notes for the formats)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"calibration file {path} does not exist")
    name = path.name.lower()
    try:
        if name.endswith(".qca.txt") or name.endswith(".qca"):
            from transpose_live.calib.qualisys import read_qca

            calib = read_qca(path)
        elif name.endswith(".toml"):
            calib = _from_tables(tomllib.loads(path.read_text(encoding="utf-8")), path)
        elif name.endswith(".json") and not _is_filestorage_json(path):
            calib = _from_tables(json.loads(path.read_text(encoding="utf-8")), path)
        elif name.endswith((".yml", ".yaml", ".xml", ".json")):
            calib = _from_filestorage(path)
        else:
            raise UserError(f"{path}: unknown calibration type; give one of {', '.join(SUFFIXES)}")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, cv2.error, KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path}: not a readable calibration ({type(exc).__name__}: {exc})") from None
    if not calib.cameras:
        raise UserError(f"{path} holds no camera")
    return calib


def _is_filestorage_json(path: Path) -> bool:
    text = path.read_text(encoding="utf-8")
    return "opencv-matrix" in text or '"names"' in text


def _from_tables(data: dict, path: Path) -> Calibration:
    cameras = []
    for key, table in data.items():
        if not isinstance(table, dict) or "matrix" not in table:
            continue
        if table.get("fisheye", False):
            raise UserError(f"{path}: camera {key} is a fisheye model, which is not supported")
        cameras.append(Camera(str(table.get("name", key)), tuple(table["size"]), table["matrix"],
                              table.get("distortions", [0, 0, 0, 0]), table["rotation"], table["translation"]))
    errors = data.get("metadata", {}).get("errors", {}) if isinstance(data.get("metadata"), dict) else {}
    return Calibration(cameras, {str(k): float(v) for k, v in errors.items()})


def _node(fs, key: str):
    node = fs.getNode(key)
    if node.empty():
        return None
    if node.isSeq():
        return np.asarray([node.at(i).real() for i in range(node.size())])
    return node.mat()


def _names(fs) -> list[str]:
    node = fs.getNode("names")
    return [node.at(i).string() for i in range(node.size())] if not node.empty() else []


def _from_filestorage(path: Path) -> Calibration:
    stores = [cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)]
    extri = path.with_name(path.name.replace("intri", "extri"))
    if extri != path and extri.is_file():
        stores.append(cv2.FileStorage(str(extri), cv2.FILE_STORAGE_READ))
    names = next((n for n in (_names(fs) for fs in stores) if n), [])
    if not names:
        raise UserError(f"{path}: no 'names' list (OpenCV YAML/JSON calibrations in EasyMocap's layout)")

    def find(key):
        return next((v for v in (_node(fs, key) for fs in stores) if v is not None), None)

    cameras = []
    for name in names:
        k, dist, t = find(f"K_{name}"), find(f"dist_{name}"), find(f"T_{name}")
        rot = find(f"Rot_{name}")
        rot = find(f"R_{name}") if rot is None else rot
        if k is None or rot is None or t is None:
            raise UserError(f"{path}: camera {name} needs K_{name}, R_{name} (or Rot_{name}) and T_{name}")
        size = find(f"size_{name}")
        size = (int(size.ravel()[0]), int(size.ravel()[1])) if size is not None else (
            int(round(2 * k[0, 2])), int(round(2 * k[1, 2])))
        cameras.append(Camera(name, size, k, np.zeros(5) if dist is None else dist.ravel()[:5], rot, t))
    return Calibration(cameras)


def _fmt(values) -> str:
    arr = np.asarray(values, np.float64)
    if arr.ndim == 2:
        return "[ " + ", ".join(_fmt(row) for row in arr) + "]"
    return "[ " + ", ".join(repr(float(v)) for v in arr) + "]"


def calibration_toml(calib: Calibration) -> str:
    """The text of our TOML calibration (Pose2Sim's layout)."""
    lines = []
    for cam in calib.cameras:
        lines += [f"[{json.dumps(cam.name)}]", f"name = {json.dumps(cam.name)}", f"size = {_fmt(cam.size)}",
                  f"matrix = {_fmt(cam.matrix)}", f"distortions = {_fmt(cam.distortion)}",
                  f"rotation = {_fmt(cam.rvec)}", f"translation = {_fmt(cam.translation)}", "fisheye = false", ""]
    lines += ["[metadata]", "adjusted = false", "units = \"m\""]
    if calib.errors:
        lines += ["", "[metadata.errors]"] + [f"{json.dumps(k)} = {float(v)!r}" for k, v in calib.errors.items()]
    return "\n".join(lines) + "\n"


def write_calibration(calib: Calibration, path: str | Path) -> Path:
    """Writes our TOML calibration atomically; returns the path."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(calibration_toml(calib), encoding="utf-8")
    return Path(path)
