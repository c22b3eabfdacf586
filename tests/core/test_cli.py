"""The headless commands as a user runs them (in-process through main())."""

import json
import shutil

import pytest

from mlcls_gui.cli import main


def test_demo_data_train_predict(tmp_path, capsys):
    data = tmp_path / "demo"
    assert main(["demo-data", str(data), "--images-per-folder", "5", "--image-size", "32",
                 "--config", str(tmp_path / "demo.json")]) == 0
    assert sorted(p.name for p in data.iterdir())[:2] == ["circle", "circle+square"]
    assert json.loads((tmp_path / "demo.json").read_text())["images_root"] == str(data.resolve())
    out = tmp_path / "out"
    code = main(["train", str(tmp_path / "demo.json"), "--set", f"save_model_folder={out}",
                 "--set", "n_epochs=1", "--set", "image_size=32", "--set", "batch_size=8"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "Labels (4)" in printed and "Epoch 1/1" in printed and "Final model" in printed
    model = out / "final_model.pt"
    csv_path = tmp_path / "p.csv"
    assert main(["predict", str(model), str(data / "circle"), "--json", "--csv", str(csv_path)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["predictions"]) == 5
    assert set(result["predictions"][0]["probabilities"]) == {"circle", "cross", "square", "triangle"}
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("path,circle,cross,square,triangle,predicted") and len(lines) == 6
    note = tmp_path / "note.pdf"
    note.write_bytes(b"%PDF-1.4")
    assert main(["predict", str(model), str(data / "cross" / "cross_000.png"), str(note)]) == 0
    captured = capsys.readouterr()
    assert "cross_000.png" in captured.out and "note.pdf: not an image file" in captured.err


@pytest.mark.parametrize(
    "argv, words",
    [
        (["train", "--set", "images_root=/no/such/folder", "--set", "n_epochs=1"], ["does not exist"]),
        (["train", "--set", "n_epochs=lots"], ["n_epochs"]),
        (["train", "--set", "colour=red"], ["Unknown field", "colour"]),
        (["train", "/no/config.json"], ["does not exist"]),
        (["predict", "/no/model.pt", "x.png"], ["does not exist"]),
    ],
)
def test_user_errors_exit_2_with_one_line(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mlcls-gui: error:") and "Traceback" not in err
    for word in words:
        assert word in err


def test_scan_prints_the_summary(tiny_root, capsys):
    assert main(["scan", str(tiny_root)]) == 0
    out = capsys.readouterr().out
    assert "Labels (4)" in out and "circle+square" in out


def test_save_config_writes_json(tmp_path):
    path = tmp_path / "c.json"
    assert main(["train", "--set", "n_epochs=3", "--save-config", str(path)]) == 0
    assert json.loads(path.read_text())["n_epochs"] == 3


def test_module_entry_point(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "mlcls_gui", "--help"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and "predict" in result.stdout
    result = subprocess.run([sys.executable, "-m", "mlcls_gui", "scan", str(tmp_path / "missing")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "does not exist" in result.stderr


@pytest.mark.skipif(shutil.which("mlcls-gui") is None,
                    reason="the mlcls-gui console script is not on PATH (the environment's bin folder is not on PATH)")
def test_console_script_entry_point(tmp_path):
    """The installed ``mlcls-gui`` command itself (pyproject's [project.scripts]);
    every other test runs ``python -m mlcls_gui``, which needs no PATH."""
    import subprocess

    result = subprocess.run([shutil.which("mlcls-gui"), "scan", str(tmp_path / "missing")], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_ctrl_c_stops_cleanly_and_saves(tiny_root, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "mlcls_gui", "train", "--set", f"images_root={tiny_root}", "--set",
         f"save_model_folder={out}", "--set", "pretrained=false", "--set", "image_size=32",
         "--set", "n_epochs=500", "--set", "device=cpu"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    while not (out / "metrics.csv").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "Stopping after this batch" in stderr and "Traceback" not in stderr
    assert json.loads((out / "summary.json").read_text())["reason"] == "stopped"
    assert (out / "final_model.pt").is_file() and (out / "checkpoint.pt").is_file()


def test_predict_refuses_a_pickle_payload(tiny_root, tmp_path, capsys):
    import torch

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "mlcls-gui", "format_version": 1, "x": Payload()}, evil)
    image = next((tiny_root / "circle").iterdir())
    assert main(["predict", str(evil), str(image)]) == 2
    assert "not plain weights" in capsys.readouterr().err
    assert main(["evaluate", str(evil), str(tiny_root)]) == 2
    assert not marker.exists()


def test_no_display_gives_one_line_not_a_qt_abort(monkeypatch, capsys):
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("only Linux needs a DISPLAY")
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    assert main([]) == 2
    assert "no display" in capsys.readouterr().err
