"""atomic_files: a target is replaced whole or not at all, with the umask's mode."""

from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.files import atomic_files
from mlcls_gui.core.files.atomic_files import (
    is_temporary_for,
    replacing,
    write_atomic,
    write_bytes_atomic,
    write_csv_atomic,
    write_json_atomic,
    write_text_atomic,
)
from mlcls_gui.core.runs.outputs import remove_stale_temporaries

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------ never half-written
class Boom(Exception):
    pass


def _half_then_fail(handle) -> None:
    handle.write("half of the new")
    handle.flush()  # on disk in the temporary: the target must still not see it
    raise Boom


@pytest.mark.parametrize("failure", [Boom, KeyboardInterrupt])
def test_a_failing_write_keeps_the_old_content_and_leaves_no_temporary(tmp_path, failure):
    target = tmp_path / "summary.json"
    target.write_text("old", encoding="utf-8")

    def write(handle):
        handle.write("half of the new")
        handle.flush()
        raise failure

    with pytest.raises(failure):
        write_atomic(target, write)
    assert target.read_text(encoding="utf-8") == "old"
    assert _names(tmp_path) == ["summary.json"]


def test_a_failing_binary_write_keeps_the_old_bytes(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"old")

    def write(handle):
        handle.write(b"new")
        raise Boom

    with pytest.raises(Boom):
        write_atomic(target, write, binary=True)
    assert target.read_bytes() == b"old" and _names(tmp_path) == ["model.onnx"]


def test_data_that_is_not_json_touches_nothing(tmp_path):
    target = tmp_path / "evaluation.json"
    target.write_text("{}\n")
    with pytest.raises(TypeError):
        write_json_atomic(target, {"bad": object()})
    assert target.read_text() == "{}\n" and _names(tmp_path) == ["evaluation.json"]


def test_a_failed_rename_keeps_the_old_content(tmp_path, monkeypatch):
    target = tmp_path / "metrics.csv"
    target.write_text("old")

    def refuse(_source, _destination):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_files.os, "replace", refuse)
    with pytest.raises(OSError, match="No space left"):
        write_csv_atomic(target, [["a", "b"]])
    assert target.read_text() == "old" and _names(tmp_path) == ["metrics.csv"]


def test_a_missing_folder_is_an_os_error_and_creates_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_text_atomic(tmp_path / "missing" / "x.json", "{}")
    assert _names(tmp_path) == []


def test_the_data_is_fsynced_before_the_rename(tmp_path, monkeypatch):
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(atomic_files.os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(atomic_files.os, "replace",
                        lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    write_text_atomic(tmp_path / "x.txt", "data")
    assert events == ["fsync", "replace"]


# ------------------------------------------------------------ modes
@posix_only
@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002], ids=["022", "027", "002"])
def test_mode_follows_the_umask_for_new_and_replaced_files(tmp_path, mask):
    text, data = tmp_path / "summary.json", tmp_path / "model.bin"
    text.write_text("old")
    text.chmod(0o600)  # mkstemp's mode: a replaced file must not keep it either
    with _umask(mask):
        write_json_atomic(text, {"a": 1})
        write_bytes_atomic(data, b"\x00\x01")
    assert stat.S_IMODE(text.stat().st_mode) == 0o666 & ~mask
    assert stat.S_IMODE(data.stat().st_mode) == 0o666 & ~mask


@posix_only
@pytest.mark.parametrize("mode", [0o640, 0o444])
def test_keep_mode_keeps_the_replaced_files_mode(tmp_path, mode):
    target = tmp_path / "labels.csv"
    target.write_bytes(b"path,labels\r\n")
    target.chmod(mode)  # even read-only: the temporary gets the mode only after the write
    with _umask(0o022):
        write_bytes_atomic(target, b"path,labels\r\nx.png,cat\r\n", keep_mode=True)
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert target.read_bytes() == b"path,labels\r\nx.png,cat\r\n"
    target.unlink()
    with _umask(0o027):
        write_bytes_atomic(target, b"new", keep_mode=True)  # a new file: the umask's mode
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


# ------------------------------------------------------------ long names
def test_a_250_character_name_works(tmp_path):
    name = "n" * 246 + ".csv"
    assert len(name) == 250
    write_csv_atomic(tmp_path / name, [["a"], ["b"]])
    write_text_atomic(tmp_path / name[:-4], "text")
    assert (tmp_path / name).read_bytes() == b"a\r\nb\r\n"
    assert _names(tmp_path) == sorted([name, name[:-4]])


def test_a_255_character_name_works(tmp_path):
    name = "x" * 250 + ".json"
    write_json_atomic(tmp_path / name, [1])
    assert json.loads((tmp_path / name).read_text()) == [1] and _names(tmp_path) == [name]


# ------------------------------------------------------------ round trips
def test_json_round_trip(tmp_path):
    data = {"labels": ["cät", "dog"], "map": 0.5, "nested": {"none": None, "list": [1, 2.5]}}
    target = tmp_path / "summary.json"
    write_json_atomic(target, data)
    text = target.read_text(encoding="utf-8")
    assert json.loads(text) == data and text.endswith("}\n") and '\n  "labels"' in text
    write_json_atomic(target, data, indent=1)
    assert '\n "labels"' in target.read_text(encoding="utf-8")


def test_csv_round_trip_quotes_what_needs_quotes(tmp_path):
    rows = [["path", "labels", "note"], ["a,b.png", 'say "hi"', "two\nlines"], [1, 0.25, ""]]
    target = tmp_path / "rows.csv"
    write_csv_atomic(target, (row for row in rows))  # any iterable, a generator too
    with open(target, newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == [[str(cell) for cell in row] for row in rows]
    assert target.read_bytes().count(b"\r\n") == 3  # csv's own line ends, not doubled


def test_bytes_are_written_exactly(tmp_path):
    data = "\ufeffpath;labels\r\nx.png;cat\nlast".encode("utf-8")
    write_bytes_atomic(tmp_path / "labels.csv", data)
    assert (tmp_path / "labels.csv").read_bytes() == data


# ------------------------------------------------------------ write by name
def test_replacing_lets_a_writer_use_the_file_name(tmp_path):
    target = tmp_path / "model.onnx"
    with replacing(target) as temporary:
        assert temporary.parent == tmp_path and is_temporary_for(temporary.name, target.name)
        temporary.write_bytes(b"exported")
        assert not target.exists()  # not before the block ended
    assert target.read_bytes() == b"exported" and _names(tmp_path) == ["model.onnx"]


def test_replacing_removes_the_temporary_when_the_block_fails(tmp_path):
    target = tmp_path / "model.onnx"
    with pytest.raises(Boom):
        with replacing(target) as temporary:
            temporary.write_bytes(b"does not match")
            raise Boom
    assert _names(tmp_path) == []


# ------------------------------------------------------------ stale clean-up
_KILLED_WRITE = """
import os, sys
from mlcls_gui.core.files.atomic_files import write_atomic

def write(handle):
    handle.write("half")
    handle.flush()
    os._exit(0)  # killed mid-write: no clean-up runs

write_atomic(sys.argv[1], write)
"""


@pytest.mark.parametrize("length", [10, 250])
def test_stale_temporary_clean_up_recognises_a_killed_write(tmp_path, length):
    log_name = "l" * (length - 4) + ".log"
    cfg = TrainConfig(log_name=log_name)
    for name in (log_name, "summary.json"):
        subprocess.run([sys.executable, "-c", _KILLED_WRITE, str(tmp_path / name)], check=True, timeout=60)
    (tmp_path / "notes.tmp").write_text("the user's own file")
    (tmp_path / ".other.json.abc.tmp").write_text("not a run file's temporary")
    left = [name for name in _names(tmp_path) if name.endswith(".tmp") and name.startswith(".l")]
    assert len(left) == 1 and is_temporary_for(left[0], log_name)
    removed = remove_stale_temporaries(tmp_path, cfg)
    assert len(removed) == 2 and all("interrupted write" in line for line in removed)
    assert _names(tmp_path) == [".other.json.abc.tmp", "notes.tmp"]


def test_is_temporary_for():
    assert is_temporary_for(".summary.json.k3j_x9.tmp", "summary.json")
    assert not is_temporary_for(".summary.json.k3j_x9.tmp", "metrics.csv")
    assert not is_temporary_for("summary.json.k3j_x9.tmp", "summary.json")  # no leading dot
    assert not is_temporary_for(".summary.json.k3j_x9", "summary.json")
    long_name = "n" * 250
    assert is_temporary_for(f".{long_name[:200]}.abc.tmp", long_name)
