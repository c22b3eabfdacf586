import errno
import os
import random
import stat
from contextlib import contextmanager

import pytest
import torch

from mlcls_gui.core.errors import CheckpointError
from mlcls_gui.core.files import atomic_files
from mlcls_gui.core.model_file import checkpoint, contents
from mlcls_gui.core.model_file.checkpoint import save_atomic
from mlcls_gui.core.model_file.contents import ModelFile, read_model_file

# The smallest payload that passes the field rules: a resnet18 head ("fc")
# with one output for the one label.
PAYLOAD = {"arch": "resnet18", "labels": ["a"], "image_size": 32, "mean": [0.5] * 3,
           "std": [0.5] * 3, "model_state": {"fc.weight": torch.ones(1, 2)}}


def test_round_trip(tmp_path):
    path = tmp_path / "m.pt"
    save_atomic(PAYLOAD, path)
    loaded = read_model_file(path)
    assert loaded.labels == ("a",) and torch.equal(loaded.model_state["fc.weight"], torch.ones(1, 2))
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temp files left


def test_a_model_file_is_written_and_read_as_one_typed_object(tmp_path):
    written = ModelFile(kind="best", arch="resnet18", labels=["a"], image_size=32, mean=[0.5] * 3, std=[0.5] * 3,
                        model_state=PAYLOAD["model_state"], epoch=2, best_epoch=2, history=[{"epoch": 1.0}],
                        config={"checkpoint_dir": "best.pt"}, other_fields={"newer": 1})
    assert written.labels == ("a",) and written.config == {"checkpoint_name": "best.pt"}  # typed as it is read
    stored = written.to_payload()
    assert stored["labels"] == ["a"] and stored["history"] == [{"epoch": 1.0}] and stored["newer"] == 1
    assert type(stored["config"]) is dict  # plain values only: weights_only loads them
    assert not {"thresholds", "partial_epoch", "optimizer_state", "rng", "run_id"} & stored.keys()  # absent: left out
    path = tmp_path / "m.pt"
    save_atomic(stored, path)
    read = read_model_file(path)
    assert (read.kind, read.labels, read.epoch, read.history) == ("best", ("a",), 2, ({"epoch": 1.0},))
    assert read.other_fields == {"newer": 1} and read.to_payload().keys() == stored.keys()


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
    assert read_model_file(path).labels == ("a",)
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
        read_model_file(path)
    assert not marker.exists()


def test_corrupt_truncated_and_foreign_files(tmp_path):
    good = tmp_path / "good.pt"
    save_atomic(PAYLOAD, good)
    truncated = tmp_path / "t.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="not a readable model file"):
        read_model_file(truncated)
    foreign = tmp_path / "f.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="not an mlcls-gui"):
        read_model_file(foreign)
    with pytest.raises(CheckpointError, match="does not exist"):
        read_model_file(tmp_path / "none.pt")


@pytest.mark.parametrize("content", [b"", b"\x80\x02]q", b"PK\x03\x04garbage", b"x" * 10, random.Random(75).randbytes(300)])
def test_any_garbage_gives_a_checkpoint_error(tmp_path, content):
    path = tmp_path / "g.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="g.pt"):
        read_model_file(path)


def test_a_failure_no_rule_foresaw_still_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    save_atomic(PAYLOAD, path)

    def trips(stored):
        return [].pop()

    monkeypatch.setattr(contents, "field_problem", trips)
    with pytest.raises(CheckpointError, match=r"m\.pt is not a readable mlcls-gui model file \(IndexError"):
        read_model_file(path)


# ----------------------------------------------------------- file mode (umask)
@contextmanager
def _umask(mask):
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002], ids=["022", "027", "002"])
def test_saved_file_follows_the_umask(tmp_path, mask):
    path = tmp_path / "m.pt"
    with _umask(mask):
        save_atomic(PAYLOAD, path)
        # Overwriting an existing file gives the same mode.
        save_atomic(PAYLOAD, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


@pytest.mark.skipif(os.name != "posix", reason="POSIX umask")
def test_umask_is_read_without_changing_it():
    with _umask(0o037):
        assert atomic_files.new_file_mode() == 0o640
        assert os.umask(0o037) == 0o037  # still what the test set


# ----------------------------------------------------------- permission denied
@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_says_permission_denied(tmp_path):
    path = tmp_path / "m.pt"
    save_atomic(PAYLOAD, path)
    path.chmod(0o200)
    try:
        with pytest.raises(CheckpointError, match="permission denied") as info:
            read_model_file(path)
    finally:
        path.chmod(0o600)
    assert "damaged" not in str(info.value) and "m.pt" in str(info.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root enters any folder")
def test_unenterable_folder_says_permission_denied(tmp_path):
    folder = tmp_path / "locked"
    save_atomic(PAYLOAD, folder / "m.pt")
    folder.chmod(0o600)  # no x: the file inside cannot even be looked up
    try:
        with pytest.raises(CheckpointError, match="permission denied"):
            read_model_file(folder / "m.pt")
    finally:
        folder.chmod(0o700)


def test_permission_error_while_reading_says_permission_denied(tmp_path, monkeypatch):
    """The same message when the read itself is refused (runs as root too)."""
    path = tmp_path / "m.pt"
    save_atomic(PAYLOAD, path)

    def refused(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(checkpoint.torch, "load", refused)
    with pytest.raises(CheckpointError, match="permission denied") as info:
        read_model_file(path)
    assert "damaged" not in str(info.value)


# ----------------------------------------------------------- long names
@pytest.mark.parametrize("make_path", [
    lambda tmp: tmp / ("n" * 300 + ".pt"),                       # one name over 255
    lambda tmp: tmp.joinpath(*["d" * 200] * 25, "m.pt"),         # path over 4096
], ids=["long-name", "long-path"])
def test_too_long_paths_give_one_line(tmp_path, make_path):
    path = make_path(tmp_path)
    with pytest.raises(CheckpointError) as info:
        read_model_file(path)
    message = str(info.value)
    assert "\n" not in message and "path too long" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no OSError traceback
    assert len(message) < 700  # a 5000-character path is shortened, not repeated in full
    assert str(path)[-50:] in message  # the file is still named


def test_nul_in_path_gives_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="not a valid file path"):
        read_model_file(str(tmp_path / "a\0b.pt"))
