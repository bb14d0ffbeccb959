"""Calibration files and checkerboard calibration on the shared multi-camera recording's calibration data
(../shared/data/multiview: Qualisys calibration, checkerboard images 4x7 inner corners, 60 mm squares)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from helpers import SHARED, cli, require_shared
from transpose_live.calib.board import Board, calibrate_extrinsics, calibrate_intrinsics, find_corners, read_views
from transpose_live.calib.camera import Calibration, Camera
from transpose_live.calib.formats import read_calibration, write_calibration
from transpose_live.errors import UserError

MULTIVIEW = SHARED / "data" / "multiview"
QCA = MULTIVIEW / "calibration" / "Calib.qca.txt"
BOARD = Board(4, 7, 0.060)


@pytest.fixture(scope="module")
def qualisys() -> Calibration:
    require_shared(QCA)
    return read_calibration(QCA)


def test_qualisys_intrinsics_are_pixels_of_the_video_window(qualisys):
    assert qualisys.names == ["cam01", "cam02", "cam03", "cam04"]
    for cam in qualisys.cameras:
        assert cam.size == (1088, 1920)
        assert 1500 < cam.focal < 1900  # sub-pixel units / 64
        assert 0 < cam.matrix[0, 2] < cam.size[0] and 0 < cam.matrix[1, 2] < cam.size[1]
        assert np.allclose(cam.rotation @ cam.rotation.T, np.eye(3), atol=1e-6)
        # the cameras hang ~2 m up and look at the middle of the room: the origin is in front of each
        assert (cam.rotation @ np.zeros(3) + cam.translation)[2] > 1.0


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_checkerboard_focal_within_3_percent_of_qualisys(qualisys, index):
    name = qualisys.names[index]
    images = read_views(MULTIVIEW / "calibration" / "intrinsics" / f"int_{name}_img")
    result = calibrate_intrinsics(images, BOARD, name)
    assert result.views >= 3 and result.error < 2.0
    focal = (result.matrix[0, 0] + result.matrix[1, 1]) / 2
    assert abs(focal / qualisys.cameras[index].focal - 1) < 0.03


def test_toml_round_trip_and_pose2sim_layout(qualisys, tmp_path):
    path = write_calibration(Calibration(qualisys.cameras, {"cam01": 0.5}), tmp_path / "calib.toml")
    back = read_calibration(path)
    assert back.names == qualisys.names and back.errors == {"cam01": 0.5}
    for a, b in zip(qualisys.cameras, back.cameras):
        assert np.allclose(a.matrix, b.matrix) and np.allclose(a.rotation, b.rotation)
        assert np.allclose(a.translation, b.translation) and np.allclose(a.distortion, b.distortion)
    # Pose2Sim writes bare table names and float sizes
    text = path.read_text().replace('["cam01"]', "[cam_01]")
    (tmp_path / "p2s.toml").write_text(text)
    assert read_calibration(tmp_path / "p2s.toml").names[0] == "cam01"


def test_opencv_yaml_in_easymocap_layout(qualisys, tmp_path):
    for suffix in (".yml", ".json"):
        path = tmp_path / f"intri{suffix}"
        fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
        fs.write("names", qualisys.names)
        for cam in qualisys.cameras:
            fs.write(f"K_{cam.name}", cam.matrix)
            fs.write(f"dist_{cam.name}", cam.distortion[None])
            fs.write(f"R_{cam.name}", cam.rvec[:, None])
            fs.write(f"T_{cam.name}", cam.translation[:, None])
        fs.release()
        back = read_calibration(path)
        assert back.names == qualisys.names
        assert all(np.allclose(a.project(np.array([0.0, 0.0, 1.0])), b.project(np.array([0.0, 0.0, 1.0])))
                   for a, b in zip(qualisys.cameras, back.cameras))


def _board_image(cam: Camera, board: Board) -> np.ndarray:
    """A checkerboard (one square border) lying at the world origin, drawn into the camera's view."""
    px = 40  # texture pixels per square
    cols, rows = board.columns + 1, board.rows + 1
    tex = np.full(((rows + 2) * px, (cols + 2) * px), 255, np.uint8)
    for r in range(rows):
        for c in range(cols):
            if (r + c) % 2 == 0:
                tex[(r + 1) * px:(r + 2) * px, (c + 1) * px:(c + 2) * px] = 0
    # texture pixel (u, v) -> board metres: corner (0, 0) of the inner grid is texture (2 px, 2 px)
    corners_tex = np.float32([[0, 0], [tex.shape[1], 0], [tex.shape[1], tex.shape[0]], [0, tex.shape[0]]])
    metres = (corners_tex / px - 2) * board.square
    world = np.hstack([metres, np.zeros((4, 1))])
    h = cv2.getPerspectiveTransform(corners_tex, cam.project(world).astype(np.float32))
    return cv2.warpPerspective(tex, h, cam.size, borderValue=128)


def test_extrinsics_from_a_board_seen_by_every_camera(qualisys):
    placed_count = 0
    for cam in qualisys.cameras:
        pinhole = Camera(cam.name, cam.size, cam.matrix, np.zeros(5), cam.rotation, cam.translation)
        image = _board_image(pinhole, BOARD)
        if find_corners(image, BOARD) is None:
            continue  # the board at the origin is too oblique for this camera
        placed, error = calibrate_extrinsics(pinhole, image, BOARD)
        placed_count += 1
        assert error < 1.0
        assert np.linalg.norm(placed.position - pinhole.position) < 0.05  # metres
        assert np.degrees(np.arccos((np.trace(placed.rotation.T @ pinhole.rotation) - 1) / 2)) < 1.0
    assert placed_count >= 2


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_calibrate_command_converts_and_reports(qualisys, tmp_path):
    out = tmp_path / "calib.toml"
    images = MULTIVIEW / "calibration" / "intrinsics" / "int_cam02_img"
    r = cli("calibrate", "--from", QCA, "--intrinsics", f"cam02={images}", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "cam02: intrinsics from" in r.stdout and "RMS" in r.stdout
    calib = read_calibration(out)
    assert calib.names == qualisys.names
    assert abs(calib.camera("cam02").focal / qualisys.camera("cam02").focal - 1) < 0.03
    assert np.allclose(calib.camera("cam01").matrix, qualisys.camera("cam01").matrix)
    r = cli("calibrate", "--out", out)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--from" in r.stderr


def charuco_views(camera: Camera, spec, square_px: int = 80) -> list[np.ndarray]:
    """The ChArUco board (drawn by cv2.aruco) seen by `camera` from 6 poses about 0.7 m away: each view is
    the board image warped by the plane's homography K [r1 r2 t] (no distortion), on a grey background."""
    board = spec.image(square_px)
    to_metres = np.diag([spec.square / square_px, spec.square / square_px, 1.0])
    centre = np.array([spec.columns, spec.rows, 0]) * spec.square / 2
    views = []
    for rvec in ([0.3, 0.2, 0.1], [-0.35, 0.1, -0.2], [0.1, -0.4, 0.3], [0.4, 0.3, 0.0], [-0.2, -0.3, 0.5],
                 [0.0, 0.45, -0.3]):
        rot = cv2.Rodrigues(np.array(rvec, float))[0]
        t = np.array([0, 0, 0.7]) - rot @ centre  # the board's centre on the optical axis
        h = camera.matrix @ np.column_stack([rot[:, 0], rot[:, 1], t]) @ to_metres
        views.append(cv2.warpPerspective(board, h, camera.size, borderValue=200, flags=cv2.INTER_AREA))
    return views


def test_charuco_focal_within_3_percent_of_the_rendering_camera(qualisys):
    from transpose_live.calib.charuco import calibrate_charuco, parse_charuco

    camera = qualisys.camera("cam01")
    spec = parse_charuco("5x7", 40, 30, "4x4_50")
    res = calibrate_charuco(charuco_views(camera, spec), spec)
    assert res.views == 6 and res.size == camera.size
    assert abs(res.matrix[0, 0] / camera.matrix[0, 0] - 1) < 0.03 and abs(res.matrix[1, 1] / camera.matrix[1, 1] - 1) < 0.03
    with pytest.raises(UserError, match="found in 0 of 6"):  # another dictionary: no marker is recognised
        calibrate_charuco(charuco_views(camera, spec), parse_charuco("5x7", 40, 30, "6x6_250"))


@pytest.mark.slow  # > 2 s: CLI runs
def test_calibrate_command_with_a_charuco_board(qualisys, tmp_path):
    from transpose_live.calib.charuco import parse_charuco

    camera = qualisys.camera("cam01")
    folder = tmp_path / "charuco"
    folder.mkdir()
    for i, view in enumerate(charuco_views(camera, parse_charuco("5x7", 40, 30, "4x4_50"))):
        cv2.imwrite(str(folder / f"view{i}.png"), view)
    out = tmp_path / "charuco.toml"
    r = cli("calibrate", "--intrinsics", f"cam01={folder}", "--charuco", "5x7", "--square", "40", "--marker", "30",
            "--dictionary", "4X4_50", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "cam01: intrinsics from 6 views" in r.stdout
    assert abs(read_calibration(out).camera("cam01").focal / camera.focal - 1) < 0.03
    bad = cli("calibrate", "--intrinsics", f"cam01={folder}", "--charuco", "5x7", "--dictionary", "9X9_1", "--out", out)
    assert bad.returncode == 2 and "--dictionary" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
