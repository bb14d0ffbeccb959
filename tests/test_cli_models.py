"""`transpose-live models`, `weights verify`, entry points and error handling."""

from __future__ import annotations

import subprocess
import sys

import torch

from helpers import filled_model
from transpose_live.cli import main


def test_models_table_lists_all_models(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("TRANSPOSE_LIVE_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "160")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name, params in [("tp_r_a3", "5,195,345"), ("tp_h_a6", "17,455,697"), ("hrnet_w48", "63,595,745"),
                         ("simplebaseline_r152", "68,635,473")]:
        assert name in out and params in out
    assert "75.8" in out and "78.1" in out


def test_weights_verify_ok_and_mismatch(tmp_path, capsys):
    path = tmp_path / "a3.pth"
    torch.save(filled_model("tp_r_a3").state_dict(), path)
    assert main(["weights", "verify", str(path), "--model", "tp_r_a3"]) == 0
    assert "fits tp_r_a3" in capsys.readouterr().out
    assert main(["weights", "verify", str(path), "--model", "tp_h_s"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: checkpoint does not fit model 'tp_h_s'") and err.count("\n") == 1


def test_unknown_model_is_one_line(capsys, tmp_path):
    assert main(["weights", "verify", str(tmp_path / "x.pth"), "--model", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown model 'nope'") and "Traceback" not in err


def test_python_dash_m_entry_point():
    proc = subprocess.run([sys.executable, "-m", "transpose_live", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0
    for command in ("models", "weights"):
        assert command in proc.stdout
