"""Scan a data root in the seed's layout, split it, and summarise it.

Layout: every sub-folder of the root is named after the labels of the images
inside it, joined by '+' (``cat+dog/`` holds images showing both). A root that
holds ``train/`` and ``test/`` (and optionally ``val/``) folders, each in that
layout, uses those splits as given. A ``train/`` or ``test/`` folder that holds
images directly is a label folder (a "train" label), not a split; the reason for
the choice is kept in ``layout_reason``.

A root may instead be a CSV file, or a folder holding ``labels.csv`` (see
``csv_labels``); its images may have "unknown" labels (``Sample.unknown``),
which are masked out of the loss and the metrics rather than counted as negatives.

This module does not import torch: the GUI scans folders with it cheaply.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from mlcls_gui.core.data.csv_labels import find_labels_csv, scan_csv_root
from mlcls_gui.core.data.images import ImageLoadError, is_image_path, probe_image
from mlcls_gui.core.data.labels import check_labels
from mlcls_gui.core.data.splits import (
    LABEL_SEPARATOR,
    SPLIT_NAMES,
    DatasetSplits,
    Sample,
    SkippedFile,
    count_split_groups,
    load_split_groups,
    stratified_split,
    warn_about_labels,
)
from mlcls_gui.core.errors import DatasetError, field_ref, os_reason
from mlcls_gui.core.files.safe_paths import is_inside
from mlcls_gui.core.output_names import EXCLUDED_FOLDER, NO_LABEL_FOLDER, UNLABELLED_FOLDER

logger = logging.getLogger(__name__)

# Data sets travel: a link that leads out of one could read (or, on relabel, move) anything.
_OUTSIDE = "a symbolic link that leads outside the data folder; copy the files into it instead"
# Files that operating systems drop into folders; never worth a warning.
_SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini", "icon\r"})
MAX_NAMED_BAD_FOLDERS = 10  # a scan names this many badly named label folders, then counts the rest


def parse_label_folder(name: str, *, where: str = "") -> tuple[str, ...]:
    """``"cat + dog"`` → ``("cat", "dog")``; ``_no_label`` → ``()``; empty parts are refused."""
    if name == NO_LABEL_FOLDER:
        return ()
    parts = [part.strip() for part in name.split(LABEL_SEPARATOR)]
    if any(not part for part in parts):
        location = f" in {where}" if where else ""
        raise DatasetError(
            f"Folder name {name!r}{location} has an empty label (labels are joined by "
            f"'+', as in 'cat+dog'). Rename the folder, e.g. to "
            f"{LABEL_SEPARATOR.join(p for p in parts if p) or 'label'!r}."
        )
    location = f"Folder name {name!r}" + (f" in {where}" if where else "")
    return tuple(sorted(set(check_labels(parts, location))))


# ------------------------------------------------------------------ scanning
def scan_data_root(
    root: str | os.PathLike[str],
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 42,
    groups_file: str | os.PathLike[str] | None = None,
) -> DatasetSplits:
    """Find the images and labels under ``root`` and split them.

    Raises DatasetError when the root itself is unusable (missing, not a
    folder, unreadable, badly named label folders); problems that only stop
    training (e.g. an empty validation split) are in ``.problems()``.
    A CSV root (a .csv file, or a folder holding labels.csv) reads its labels
    from the CSV. ``groups_file`` (a data health report, config field
    ``split_groups``) keeps each of its near-copy groups in one seeded split;
    a split the user gave is kept and its crossing groups counted. A top-level
    ``excluded/`` folder (outliers moved aside) is left out; the images of a
    top-level ``unlabelled/`` folder are listed in ``unlabelled``, in no split;
    a ``_no_label/`` label folder holds images that carry none of the labels."""
    base = check_data_root(root)
    csv_file = find_labels_csv(base)
    if csv_file is not None:
        return scan_csv_root(csv_file, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed,
                             groups_file=groups_file)
    skipped: list[SkippedFile] = []
    warnings: list[str] = []
    split_dirs, layout_reason = choose_layout(base, warnings)
    if split_dirs is not None:
        layout = "splits"
        given = {name: _scan_label_folders(path, skipped, warnings, root=base) for name, path in split_dirs.items()}
        groups = load_split_groups(groups_file, str(base), [s for part in given.values() for s in part])
        train = given.get("train", [])
        test = given.get("test", [])
        if "val" in given:
            val = given["val"]
        else:
            train, val, _ = stratified_split(train, val_fraction, 0.0, seed, groups.mapping() if groups else None)
        if "test" not in split_dirs:
            warnings.append("No test/ folder: the run will report no test metrics.")
        for name, path in sorted(_unused_entries(base, split_dirs)):
            skipped.append(SkippedFile(str(path), f"not inside train/, val/ or test/ ({name})"))
        folders = _join_names(split_dirs[name].name for name in SPLIT_NAMES if name in split_dirs)
        crossing = count_split_groups(groups, train, val, test, warnings, given=f"the {folders} folders",
                                      seeded_val="val" not in given)
    else:
        layout = "folders"
        samples = _scan_label_folders(base, skipped, warnings, root=base)
        groups = load_split_groups(groups_file, str(base), samples)
        train, val, test = stratified_split(samples, val_fraction, test_fraction, seed, groups.mapping() if groups else None)
        crossing = count_split_groups(groups, train, val, test, warnings)

    labels = sorted({label for sample in train + val + test for label in sample.labels})
    warn_about_labels(labels, train, warnings)
    splits = DatasetSplits(
        root=str(base), layout=layout, labels=labels, train=train, val=val, test=test,
        skipped=skipped, warnings=warnings, layout_reason=layout_reason,
        split_groups=groups.file if groups else "", groups_crossing_splits=crossing,
        unlabelled=_unlabelled_images(base, skipped),
    )
    logger.info("Layout of %s: %s. %s", base, layout, layout_reason)
    logger.info(
        "Scanned %s: %d train, %d val, %d test images, %d labels, %d skipped",
        base, len(train), len(val), len(test), len(labels), len(skipped),
    )
    return splits


def check_data_root(root: str | os.PathLike[str]) -> Path:
    """The resolved data root (a folder or a .csv file), or DatasetError (one
    line) saying why it cannot be used."""
    if not str(root).strip():
        raise DatasetError(
            f"No data folder chosen: set {field_ref('images_root')} to the folder with your labelled images "
            "(or to a labels CSV file)."
        )
    base = Path(root).expanduser()
    try:
        # Python 3.11 raises (ENAMETOOLONG, EACCES on a parent) instead of returning False.
        exists, is_dir = base.exists(), base.is_dir()
    except (OSError, ValueError) as exc:
        raise DatasetError(f"Cannot use data folder {base} ({os_reason(exc)}).") from None
    if not exists:
        if base.suffix.lower() == ".csv":
            raise DatasetError(f"Labels CSV {base} does not exist. Choose an existing file (or a data folder).")
        raise DatasetError(f"Data folder {base} does not exist. Choose an existing folder.")
    if not is_dir:
        if base.suffix.lower() == ".csv":
            return base.resolve()
        raise DatasetError(
            f"{base} is a file, not a folder or a .csv file. Choose the folder that holds the "
            "label folders, or a CSV of labels."
        )
    try:
        with os.scandir(base) as entries:  # closed at once: an open iterator warns later
            next(entries, None)
    except OSError as exc:
        raise DatasetError(
            f"Cannot read data folder {base} ({exc.strerror or exc}). Check its permissions."
        ) from None
    return base.resolve()


# ------------------------------------------------------------------ layout
@dataclass(frozen=True)
class _FolderShape:
    """What a candidate split folder holds, judged without reading image headers."""

    direct_images: bool = False  # image files right inside it
    label_folders: bool = False  # sub-folders that hold images
    error: str = ""  # why it could not be read

    @property
    def is_split(self) -> bool:
        return self.label_folders and not self.direct_images and not self.error


def choose_layout(base: Path, warnings: list[str]) -> tuple[dict[str, Path] | None, str]:
    """The given train/val/test folders (None for the flat layout) and one
    sentence saying why. A train/ that holds images directly is a label folder:
    a flat root may well have a "train" or "test" label."""
    found = _split_candidates(base)
    if "train" not in found:
        return None, "There is no train/ folder, so the sub-folders are label folders split by seed."
    train_name = found["train"].name
    others = [name for name in ("val", "test") if name in found]
    if not others:
        return None, (
            f"{train_name}/ has no test/ or val/ folder beside it, so it is read as the label {train_name!r}."
        )
    shapes = {name: _folder_shape(path) for name, path in found.items()}
    train = shapes["train"]
    if train.direct_images and train.label_folders:
        warnings.append(
            f"{found['train']} holds images directly and also sub-folders, so it was read as the "
            f"label {train_name!r} (label folders, seeded split). To use it as the training split, "
            "move its images into label folders."
        )
        return None, (
            f"{train_name}/ holds images directly as well as sub-folders, so it is read as the "
            f"label {train_name!r}."
        )
    if not train.is_split:
        return None, f"{train_name}/ {_shape_text(train)}, so it is read as the label {train_name!r}."
    given = [name for name in others if shapes[name].is_split]
    if not given:
        names = _join_names(found[name].name for name in others)
        verb = "do" if len(others) > 1 else "does"
        warnings.append(
            f"{found['train']} holds label folders but {names} {verb} not, so all were read as "
            f"labels (label folders, seeded split). Put label folders into {names} to use the "
            "splits as given."
        )
        return None, f"{names} {verb} not hold label folders, so {train_name}/ and {names} are read as labels."
    names = _join_names(found[name].name for name in ["train", *given])
    return found, f"{names} hold label folders, so their images are used as given."


def _join_names(names: Iterable[str]) -> str:
    """("train", "val", "test") → "train/, val/ and test/"."""
    folders = [f"{name}/" for name in names]
    return folders[0] if len(folders) == 1 else ", ".join(folders[:-1]) + " and " + folders[-1]


def _shape_text(shape: _FolderShape) -> str:
    if shape.error:
        return f"cannot be read ({shape.error})"
    if shape.direct_images:
        return "holds images directly"
    return "holds no label folders with images"


def _split_candidates(base: Path) -> dict[str, Path]:
    found = {}
    with os.scandir(base) as entries:
        for entry in entries:
            if entry.is_dir() and entry.name.lower() in SPLIT_NAMES:
                found[entry.name.lower()] = Path(entry.path)
    return found


def _folder_shape(folder: Path) -> _FolderShape:
    direct_images = label_folders = False
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if _is_hidden(entry.name):
                    continue
                if entry.is_dir():
                    label_folders = label_folders or _holds_an_image(Path(entry.path))
                elif is_image_path(entry.name):
                    direct_images = True
    except OSError as exc:
        return _FolderShape(error=os_reason(exc))
    return _FolderShape(direct_images, label_folders)


def _holds_an_image(folder: Path) -> bool:
    """True at the first image file (by extension) anywhere under ``folder``."""
    for _dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = [d for d in dirnames if not _is_hidden(d)]
        if any(not _is_hidden(name) and is_image_path(name) for name in filenames):
            return True
    return False


def _unlabelled_images(base: Path, skipped: list[SkippedFile]) -> list[str]:
    """The images of ``base/unlabelled/`` (recursively), waiting for labels."""
    folder = base / UNLABELLED_FOLDER
    if not folder.is_dir():
        return []
    if not is_inside(folder, base):
        skipped.append(SkippedFile(str(folder), f"{_OUTSIDE} (to {os.path.realpath(folder)})"))
        return []
    return list(_images_under(folder, skipped, base))


def _unused_entries(base: Path, split_dirs: dict[str, Path]) -> Iterable[tuple[str, Path]]:
    used = {path.name for path in split_dirs.values()} | {EXCLUDED_FOLDER, UNLABELLED_FOLDER}
    for entry in os.scandir(base):
        if entry.name in used or _is_hidden(entry.name):
            continue
        yield entry.name, Path(entry.path)


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name.lower() in _SYSTEM_FILES


def _scan_label_folders(base: Path, skipped: list[SkippedFile], warnings: list[str], *, root: Path) -> list[Sample]:
    samples: list[Sample] = []
    bad_names: list[str] = []  # every badly named folder at once, not one per rescan
    try:
        entries = sorted(os.scandir(base), key=lambda e: e.name)
    except OSError as exc:
        raise DatasetError(f"Cannot read folder {base} ({exc.strerror or exc}).") from None
    for entry in entries:
        if _is_hidden(entry.name):
            continue
        if base == root and entry.name in (EXCLUDED_FOLDER, UNLABELLED_FOLDER) and entry.is_dir():
            logger.info("Left out of the splits: %s (a reserved folder, not a label)", entry.path)
            continue
        if not entry.is_dir():
            skipped.append(SkippedFile(entry.path, "not inside a label folder"))
            continue
        if not is_inside(entry.path, root):
            skipped.append(SkippedFile(entry.path, f"{_OUTSIDE} (to {os.path.realpath(entry.path)})"))
            continue
        try:
            labels = parse_label_folder(entry.name, where=str(base))
        except DatasetError as exc:
            bad_names.append(str(exc))
            continue
        found = list(_images_under(Path(entry.path), skipped, root))
        if not found:
            warnings.append(f"Folder {entry.path} holds no usable images; its labels are ignored.")
        samples.extend(Sample(path, labels) for path in found)
    if bad_names:
        raise DatasetError("\n".join(bad_names[:MAX_NAMED_BAD_FOLDERS] + _more(len(bad_names))))
    return samples


def _more(count: int) -> list[str]:
    left = count - MAX_NAMED_BAD_FOLDERS
    return [f"… and {left} more badly named folder(s)."] if left > 0 else []


def _images_under(folder: Path, skipped: list[SkippedFile], root: Path) -> Iterable[str]:
    """Image files under ``folder`` (recursively, symlinked folders not followed)."""
    def on_error(exc: OSError) -> None:
        skipped.append(SkippedFile(str(exc.filename), f"cannot read folder ({exc.strerror})"))

    for dirpath, dirnames, filenames in os.walk(folder, onerror=on_error, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not _is_hidden(d))
        for name in sorted(filenames):
            if _is_hidden(name):
                continue
            path = os.path.join(dirpath, name)
            if os.path.islink(path) and not is_inside(path, root):
                skipped.append(SkippedFile(path, _OUTSIDE))
                continue
            if not is_image_path(path):
                suffix = Path(name).suffix or "no extension"
                skipped.append(SkippedFile(path, f"not an image file ({suffix})"))
                continue
            try:
                probe_image(path)
            except ImageLoadError as exc:
                skipped.append(SkippedFile(path, exc.reason))
                continue
            yield path
