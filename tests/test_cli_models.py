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


def test_weights_verify_says_which_hash_it_matched(weights_mirror, tmp_path, capsys):
    """The registry holds no sha256 for the official files: `weights verify` says it compared with the hash
    recorded at the first download (issue #28: it said "matches the registry"), or that it had none."""
    other = tmp_path / "mine.pth"
    torch.save(filled_model("tp_r_a3").state_dict(), other)
    assert main(["weights", "verify", str(other), "--model", "tp_r_a3"]) == 0  # nothing downloaded yet
    out = " ".join(capsys.readouterr().out.split())
    assert "no known sha256 to compare: the registry holds none for tp_r_a3" in out, out
    assert main(["weights", "verify", "official", "--model", "tp_r_a3"]) == 0  # downloads, records its hash
    out = " ".join(capsys.readouterr().out.split())
    assert "matches the sha256 recorded at the first download of" in out and "registry" not in out, out
    other.write_bytes(other.read_bytes())  # the same tensors, another file: its own hash
    torch.save({k: v + 1 for k, v in torch.load(other, weights_only=True).items()}, other)
    assert main(["weights", "verify", str(other), "--model", "tp_r_a3"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "differs from the sha256 recorded at the first download" in out and "not that official file" in out, out


def test_wrong_checkpoint_error_is_short_and_names_the_model_it_fits(tmp_path, capsys):
    """A tp_r_a3 file given to tp_h_s: one short line naming tp_r_a3 (issue #28: ~1,000 characters of keys)."""
    path = tmp_path / "a3.pth"
    torch.save(filled_model("tp_r_a3").state_dict(), path)
    assert main(["weights", "verify", str(path), "--model", "tp_h_s"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err) < 200, err
    assert "does not fit model 'tp_h_s': it holds tp_r_a3 weights; pass --model tp_r_a3" in err
    odd = filled_model("tp_r_a3").state_dict()
    odd.pop("conv1.weight")  # fits no registry model: what differs, a few names of each kind
    torch.save(odd, path)
    assert main(["weights", "verify", str(path), "--model", "tp_h_s"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err) < 500 and "+874 more" in err, err
