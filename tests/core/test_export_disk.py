"""An export whose file cannot be written (a full disk) is a one-line error and
leaves no temporary behind (issue 21, item 11).

torch's C++ file writer used to abort the process (SIGABRT) when a write
failed. A full disk is made two ways without root: a file-size limit
(RLIMIT_FSIZE: the kernel refuses every write past it, in C++ as in Python) in
a child process, which a regression would kill; and, in this process, an
fsync that reports ENOSPC, as a full disk with delayed allocation does."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mlcls_gui.core.data.imagenet import IMAGENET_MEAN, IMAGENET_STD
from mlcls_gui.core.inference.export import FORMATS, ExportError, export_model
from mlcls_gui.core.model_file.checkpoint import save_atomic
from mlcls_gui.core.models import build as models

SIZE = 32
FILE_SIZE_LIMIT = 8192  # bytes; a tiny_cnn export is about 50 KB in either format
CHILD = """
import resource, signal, sys
from mlcls_gui.cli import main
model, folder = sys.argv[1:]
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, resource.RLIM_INFINITY))
codes = [main(["export", model, "--format", f, "--out", f"{{folder}}/out.{{f}}"]) for f in ("onnx", "torchscript")]
print("EXIT", *codes)
"""


@pytest.fixture()
def model_file(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = models.build_model("tiny_cnn", 2, image_size=SIZE)
    payload = {"kind": "model", "arch": "tiny_cnn", "labels": ["a", "b"], "image_size": SIZE,
               "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "model_state": model.state_dict()}
    path = tmp_path / "final_model.pt"
    save_atomic(payload, path)
    return path


def test_a_write_refused_by_the_kernel_is_one_line_per_format_and_leaves_nothing(model_file: Path):
    folder = model_file.parent
    done = subprocess.run(
        [sys.executable, "-c", CHILD.format(limit=FILE_SIZE_LIMIT), str(model_file), str(folder)],
        capture_output=True, text=True, timeout=240,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert done.returncode == 0, f"the export killed the process ({done.returncode}): {done.stderr[-2000:]}"
    assert done.stdout.splitlines()[-1] == "EXIT 2 2"
    errors = [line for line in done.stderr.splitlines() if line.startswith("mlcls-gui: error: ")]
    assert errors == [f"mlcls-gui: error: Cannot write {folder}/out.{f} (File too large); nothing was written."
                      for f in ("onnx", "torchscript")], done.stderr[-2000:]
    assert sorted(p.name for p in folder.iterdir()) == ["final_model.pt"]  # no .tmp, no sidecar


@pytest.mark.parametrize("format", FORMATS)
def test_no_space_left_is_one_line_and_leaves_nothing(model_file: Path, format: str,
                                                      monkeypatch: pytest.MonkeyPatch):
    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full_disk)
    target = model_file.with_name(f"out.{format}")
    with pytest.raises(ExportError) as info:
        export_model(model_file, format, target)
    assert str(info.value) == f"Cannot write {target} (No space left on device); nothing was written."
    assert sorted(p.name for p in model_file.parent.iterdir()) == ["final_model.pt"]


def test_torchscript_is_never_written_by_torchs_own_file_writer(model_file: Path, monkeypatch: pytest.MonkeyPatch):
    """The C++ writer is what aborts: torch.jit.save must get a buffer, not a file name."""
    given: list[object] = []
    real_save = torch.jit.save

    def spy(module: object, f: object, **kwargs: object) -> None:
        given.append(f)
        real_save(module, f, **kwargs)

    monkeypatch.setattr(torch.jit, "save", spy)
    result = export_model(model_file, "torchscript")
    assert given and not any(isinstance(f, (str, os.PathLike)) for f in given)
    assert result.path.is_file() and result.max_abs_difference <= 1e-4
