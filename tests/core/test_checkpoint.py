import os

import pytest
import torch

from mlcls_gui.core import checkpoint
from mlcls_gui.core.checkpoint import load_model_file, save_atomic
from mlcls_gui.core.errors import CheckpointError

PAYLOAD = {"arch": "resnet18", "labels": ["a"], "image_size": 32, "mean": [0.5] * 3,
           "std": [0.5] * 3, "model_state": {"w": torch.ones(2)}}


def test_round_trip(tmp_path):
    path = tmp_path / "m.pt"
    save_atomic(PAYLOAD, path)
    loaded = load_model_file(path)
    assert loaded["labels"] == ["a"] and torch.equal(loaded["model_state"]["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temp files left


def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    save_atomic(PAYLOAD, path)

    def disk_full(obj, handle, *a, **kw):
        handle.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", disk_full)
    with pytest.raises(CheckpointError, match="No space left"):
        save_atomic({**PAYLOAD, "labels": ["b"]}, path)
    monkeypatch.undo()
    assert load_model_file(path)["labels"] == ["a"]
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_payload_is_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({**PAYLOAD, "format": "mlcls-gui", "format_version": 1, "x": _Payload(str(marker))}, path)
    with pytest.raises(CheckpointError, match="not plain weights"):
        load_model_file(path)
    assert not marker.exists()


def test_corrupt_truncated_and_foreign_files(tmp_path):
    good = tmp_path / "good.pt"
    save_atomic(PAYLOAD, good)
    truncated = tmp_path / "t.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="not a readable model file"):
        load_model_file(truncated)
    foreign = tmp_path / "f.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="not an mlcls-gui"):
        load_model_file(foreign)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model_file(tmp_path / "none.pt")


@pytest.mark.parametrize("content", [b"", b"\x80\x02]q", b"PK\x03\x04garbage", b"x" * 10, os.urandom(300)])
def test_any_garbage_gives_a_checkpoint_error(tmp_path, content):
    path = tmp_path / "g.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="g.pt"):
        load_model_file(path)
