"""Label files in and out of a data root (the formats: ``label_formats``).

Import maps every entry of a file to an image the scan of the data root lists
(labelled, or waiting in ``unlabelled/``): by its path relative to the data
folder; failing that (and for URIs such as ``gs://bucket/a/b.jpg`` or Label
Studio's ``/data/upload/3/1a2b3c4d-b.jpg`` and ``/data/local-files/?d=a/b.jpg``)
by the longest path suffix that names one image, down to a unique file name.
Two images that fit equally are a problem, never a guess, and so is a path
that leaves the data folder (absolute, ``..``, or a symbolic link out).

Every bad entry is named at once, and one bad entry refuses the whole file:
nothing moves. Otherwise the labels go through the one apply path,
``review.relabel.apply_label_changes`` (moves between label folders, or the
CSV rewritten after a backup, journaled, reversed by ``undo_last_apply``).

Export writes the labelled images of every split, paths relative to the data
folder, atomically, never over a file unless asked, and never into a folder
of the images (the next scan would list the file).
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qs, quote, unquote, urlsplit

from mlcls_gui.core.data.csv_labels import CSV_NAME, LABELS_FORMAT, LABELS_SEPARATOR, find_labels_csv, read_labels_csv
from mlcls_gui.core.data.data_lock import data_folder_of
from mlcls_gui.core.data.dataset import scan_data_root
from mlcls_gui.core.data.labels import folder_label_problem
from mlcls_gui.core.data.splits import DatasetSplits
from mlcls_gui.core.files.atomic_files import write_csv_atomic, write_failure_advice, write_json_atomic
from mlcls_gui.core.files.safe_paths import is_inside, real
from mlcls_gui.core.labelling.label_formats import (
    FORMATS,
    JSON_FORMATS,
    RENDERERS,
    ExportRow,
    LabelEntry,
    LabelFileError,
    LabelProblem,
    cannot_hold,
    parse_label_file,
)
from mlcls_gui.core.output_names import EXCLUDED_FOLDER
from mlcls_gui.core.review.relabel import RelabelResult, apply_label_changes, journal_path

__all__ = ["FORMATS", "LabelExport", "LabelFileError", "LabelImport", "LabelProblem", "export_labels",
           "import_label_file", "read_label_file"]

logger = logging.getLogger(__name__)

SHOWN_PROBLEMS = 5
URI_PREFIX_FORMATS = ("vertex", "labelstudio")
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-(.+)$")  # Label Studio's uploads: 1a2b3c4d-<original name>
_LABEL_STUDIO_PATHS = ("/data/upload/", "/data/local-files/")


@dataclass(frozen=True)
class LabelImport:
    """A label file read against a data root: what an import would change, and what is wrong."""

    file: Path
    fmt: str
    root: Path  # the data folder (a CSV root's folder)
    changes: dict[str, tuple[str, ...]]  # absolute image path -> its new labels (only those that differ)
    unchanged: int  # images that already have the file's labels
    not_labelled: tuple[str, ...] = ()  # entries that give no labels (left alone)
    problems: tuple[LabelProblem, ...] = ()

    def problem_text(self, shown: int = SHOWN_PROBLEMS) -> str:
        """One message: the first few bad entries and a count of the rest."""
        count = len(self.problems)
        more = f"; and {count - shown} more" if count > shown else ""
        listed = "; ".join(str(problem) for problem in self.problems[:shown])
        return (f"{self.file}: {count} bad entr{'y' if count == 1 else 'ies'}, so no label was changed: "
                f"{listed}{more}.")


@dataclass(frozen=True)
class LabelExport:
    path: Path
    fmt: str
    images: int  # entries written
    left_out: tuple[str, ...] = ()  # "3 image(s): <why>"


# ------------------------------------------------------------------ import
def read_label_file(path: str | os.PathLike[str], data_root: str | os.PathLike[str],
                    fmt: str | None = None) -> LabelImport:
    """Parse ``path`` and map its entries to the images of ``data_root``; reads only."""
    parsed = parse_label_file(path, fmt)
    images = _ImageIndex.of(data_root)
    problems = list(parsed.problems)
    wanted: dict[str, tuple[str, tuple[str, ...]]] = {}  # relative path -> (where, labels)
    not_labelled: list[str] = []
    for entry in parsed.entries:
        if entry.labels is None:
            not_labelled.append(entry.where)
            continue
        problem = _place(entry, images, wanted)
        if problem:
            problems.append(LabelProblem(entry.where, problem))
    problems.sort(key=lambda problem: _order(problem.where))
    changes = {str(images.base / rel): labels for rel, (_where, labels) in wanted.items()
               if not images.has_labels(rel, labels)}
    return LabelImport(Path(path), parsed.fmt, images.base, changes, len(wanted) - len(changes),
                       tuple(not_labelled), tuple(problems))


def import_label_file(data_root: str | os.PathLike[str], path: str | os.PathLike[str],
                      fmt: str | None = None) -> RelabelResult:
    """Give the images of ``data_root`` the labels of ``path``: all, or (any bad entry) none."""
    found = read_label_file(path, data_root, fmt)
    if found.problems:
        raise LabelFileError(found.problem_text())
    notes = _import_notes(found)
    if not found.changes:
        return RelabelResult([], journal_path(data_root), notes=notes)
    result = apply_label_changes(data_root, found.changes)
    logger.info("Imported %s (%s) into %s: %d image(s) relabelled", found.file, found.fmt, found.root,
                len(result.changed))
    return replace(result, notes=result.notes + notes)


def _import_notes(found: LabelImport) -> tuple[str, ...]:
    notes = []
    if found.unchanged:
        notes.append(f"{found.unchanged} image(s) already had the file's labels and were left alone.")
    if found.not_labelled:
        notes.append(f"{len(found.not_labelled)} entr{'y gives' if len(found.not_labelled) == 1 else 'ies give'} "
                     f"no labels (not labelled in the file) and {'was' if len(found.not_labelled) == 1 else 'were'} "
                     f"left alone, e.g. {found.not_labelled[0]}.")
    return tuple(notes)


def _order(where: str) -> tuple[int, str]:
    """File order: 'row 12' after 'row 3'."""
    number = re.search(r"\d+", where)
    return (int(number.group()) if number else 0, where)


def _place(entry: LabelEntry, images: _ImageIndex, wanted: dict[str, tuple[str, tuple[str, ...]]]) -> str:
    """Record the entry's labels for its image; why it cannot be, or ''."""
    rel, problem = images.find(entry.image)
    if problem:
        return problem
    assert entry.labels is not None
    problem = images.label_problem(entry.labels)
    if problem:
        return f"{rel} cannot get these labels: {problem}"
    if rel in wanted and wanted[rel][1] != entry.labels:
        first, labels = wanted[rel]
        return (f"{rel} is also in {first} with other labels ({_shown(labels)} there, {_shown(entry.labels)} "
                "here); keep one entry per image")
    wanted.setdefault(rel, (entry.where, entry.labels))
    return ""


def _shown(labels: tuple[str, ...]) -> str:
    return "|".join(labels) or "none of the labels"


@dataclass
class _ImageIndex:
    """The images a scan of the data root lists, by path relative to its folder."""

    base: Path
    labels: dict[str, tuple[str, ...] | None]  # None: waiting in unlabelled/
    unknown: set[str]  # CSV rows with some labels unknown
    csv_path: Path | None
    csv_format: str = ""
    csv_columns: tuple[str, ...] = ()
    by_suffix: dict[tuple[str, ...], list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, data_root: str | os.PathLike[str]) -> _ImageIndex:
        splits = scan_data_root(data_root)
        base = data_folder_of(data_root)
        csv_path = find_labels_csv(data_root)
        labels: dict[str, tuple[str, ...] | None] = {}
        unknown: set[str] = set()
        for sample in splits.train + splits.val + splits.test:
            rel = _relative(sample.path, base)
            labels[rel] = sample.labels
            if sample.unknown:
                unknown.add(rel)
        labels.update({_relative(path, base): None for path in splits.unlabelled})
        index = cls(base, labels, unknown, csv_path)
        if csv_path is not None:
            info = read_labels_csv(csv_path)
            index.csv_format, index.csv_columns = info.format, info.label_columns
        for rel in labels:
            parts = tuple(rel.split("/"))
            for k in range(1, len(parts) + 1):
                index.by_suffix.setdefault(parts[-k:], []).append(rel)
        return index

    def has_labels(self, rel: str, labels: tuple[str, ...]) -> bool:
        return self.labels[rel] == labels and rel not in self.unknown

    def label_problem(self, labels: tuple[str, ...]) -> str:
        """Why this root cannot hold ``labels`` (a folder name, a CSV cell), or ''."""
        if self.csv_path is None:
            return folder_label_problem(labels)
        name = self.csv_path.name
        if self.csv_format == LABELS_FORMAT:
            if not labels:
                return f"none of the labels, but an empty labels cell of {name} means unknown"
            joined = [label for label in labels if LABELS_SEPARATOR in label]
            return f"{joined[0]!r} contains '|', which joins the labels of {name}" if joined else ""
        missing = [label for label in labels if label not in self.csv_columns]
        return f"{name} has no column for the label {missing[0]!r}; add the column first" if missing else ""

    # -------------------------------------------------------------- finding
    def find(self, written: str) -> tuple[str, str]:
        """(relative path, '') of the image ``written`` names, or ('', why not)."""
        text = written.strip().replace("\\", "/")
        if "://" in text:
            return self._find_uri(text)
        if text.startswith(_LABEL_STUDIO_PATHS) and not is_inside(text, self.base):
            return self._find_uri(text)
        if PurePosixPath(text).is_absolute() or os.path.isabs(text):
            return self._find_absolute(text)
        parts = [part for part in text.split("/") if part not in ("", ".")]
        if ".." in parts:
            return "", f"{written!r} leaves the data folder ('..'); give paths below {self.base}"
        if not parts:
            return "", "the image's path is empty"
        rel = "/".join(parts)
        full = self.base / rel
        if not is_inside(full, self.base):  # a linked folder or file on the way leads out
            return "", f"{written!r} leads outside {self.base} through a symbolic link"
        if rel in self.labels:
            return self._usable(rel)
        # Written elsewhere (another tool's folder, a moved image): the longest suffix that fits.
        if os.path.lexists(full):
            return "", self._not_listed(rel)
        return self._find_suffix(parts, written)

    def _find_absolute(self, text: str) -> tuple[str, str]:
        # The folder resolved (the data root may be reached through a link), the name as written.
        full = real(os.path.dirname(os.path.normpath(text))) / os.path.basename(os.path.normpath(text))
        if not is_inside(full.parent, self.base, allow_equal=True) or not is_inside(full, self.base):
            return "", f"{text!r} lies outside the data folder {self.base}"
        rel = _relative(full, self.base)
        if rel in self.labels:
            return self._usable(rel)
        return "", self._not_listed(rel) if os.path.lexists(full) else f"{text!r}: no such image"

    def _find_uri(self, text: str) -> tuple[str, str]:
        parsed = urlsplit(text)
        if parsed.scheme == "file":
            return self._find_absolute(unquote(parsed.path))
        local = parse_qs(parsed.query).get("d")  # Label Studio's /data/local-files/?d=<path>
        path = local[0] if local else unquote(f"{parsed.netloc}/{parsed.path}")
        parts = [part for part in path.replace("\\", "/").split("/") if part not in ("", ".")]
        if ".." in parts:
            return "", f"{text!r} holds '..'; give a URI without it"
        if not parts:
            return "", f"{text!r} names no file"
        return self._find_suffix(parts, text)

    def _find_suffix(self, parts: list[str], written: str) -> tuple[str, str]:
        variants = [parts]
        upload = _UPLOAD_PREFIX.match(parts[-1])
        if upload:
            variants.append(parts[:-1] + [upload.group(1)])
        for k in range(len(parts), 0, -1):
            hits = sorted({rel for variant in variants for rel in self.by_suffix.get(tuple(variant[-k:]), [])})
            if len(hits) == 1:
                return self._usable(hits[0])
            if hits:
                shown = ", ".join(hits[:3]) + (f" and {len(hits) - 3} more" if len(hits) > 3 else "")
                return "", (f"{written!r} fits {len(hits)} images ({shown}); give its path relative to "
                            f"{self.base}")
        return "", f"no image of the data folder has the path or name of {written!r}"

    def _usable(self, rel: str) -> tuple[str, str]:
        # A label folder's symlinked image is not moved (relabel moves files, not links).
        if self.csv_path is None and os.path.islink(self.base / rel):
            return "", f"{rel} is a symbolic link; only image files are moved between label folders"
        return rel, ""

    def _not_listed(self, rel: str) -> str:
        if rel.split("/")[0] == EXCLUDED_FOLDER:
            return f"{rel} is excluded from the data set (in {EXCLUDED_FOLDER}/); undo the exclusion first"
        return f"{rel} is not an image the scan lists (unreadable, not an image, or not in a label folder)"


def _relative(path: str | os.PathLike[str], base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix()


# ------------------------------------------------------------------ export
def export_labels(data_root: str | os.PathLike[str], target: str | os.PathLike[str], fmt: str, *,
                  overwrite: bool = False, uri_prefix: str = "") -> LabelExport:
    """Write the labelled images of every split of ``data_root`` to ``target`` in ``fmt``."""
    if fmt not in FORMATS:
        raise LabelFileError(f"Unknown label file format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if uri_prefix and fmt not in URI_PREFIX_FORMATS:
        raise LabelFileError(f"A URI prefix fits only {' and '.join(URI_PREFIX_FORMATS)}; {fmt} paths are "
                             "relative to the data folder.")
    base = data_folder_of(data_root)
    file = Path(os.path.abspath(Path(target).expanduser()))
    _check_target(file, base, find_labels_csv(data_root), overwrite)  # before the scan's work
    splits = scan_data_root(data_root)
    rows, left_out = _export_rows(splits, base, fmt, _prefix(uri_prefix))
    data = RENDERERS[fmt](rows)
    try:
        if fmt in JSON_FORMATS:
            write_json_atomic(file, data)
        else:
            write_csv_atomic(file, data)
    except OSError as exc:
        raise LabelFileError(f"Cannot write {file}: {write_failure_advice(exc)}.") from None
    logger.info("Exported the labels of %d images of %s to %s (%s)", len(rows), base, file, fmt)
    return LabelExport(file, fmt, len(rows), left_out)


def _prefix(uri_prefix: str) -> str:
    """'gs://bucket' -> 'gs://bucket/'; a prefix ending in '/' or '=' ('?d=') is kept as it is."""
    return uri_prefix if not uri_prefix or uri_prefix.endswith(("/", "=")) else uri_prefix + "/"


def _export_rows(splits: DatasetSplits, base: Path, fmt: str, prefix: str) -> tuple[list[ExportRow], tuple[str, ...]]:
    given = splits.layout in ("splits", "csv-splits")
    rows: list[ExportRow] = []
    left: Counter[str] = Counter()
    for split, samples in (("train", splits.train), ("val", splits.val), ("test", splits.test)):
        for sample in samples:
            reason = ("some labels unknown (empty or -1 in the CSV), which this format cannot say" if sample.unknown
                      else cannot_hold(fmt, sample.labels))
            if reason:
                left[reason] += 1
                continue
            rel = _relative(sample.path, base)
            # After '?d=' the path is a query value: quoted, or Label Studio would read '+' as a space.
            image = prefix + (quote(rel, safe="/") if prefix.endswith("=") else rel)
            rows.append(ExportRow(image, sample.labels, split if given else None))
    rows.sort(key=lambda row: row.image)
    return rows, tuple(f"{count} image(s) left out: {reason}" for reason, count in sorted(left.items()))


def _check_target(file: Path, base: Path, csv_path: Path | None, overwrite: bool) -> None:
    """Refuse a target that would replace a file unasked, or land among the images."""
    if os.path.islink(file):
        raise LabelFileError(f"{file} is a symbolic link; label files are never written through one.")
    if file.is_dir():
        raise LabelFileError(f"{file} is a folder; give a file name.")
    if not file.parent.is_dir():
        raise LabelFileError(f"The folder {file.parent} does not exist.")
    if is_inside(file.parent, base):
        raise LabelFileError(f"{file} would be inside {file.parent}, a folder of the data set's images, so "
                             f"the next scan would list it. Write it into {base} itself or outside it.")
    at_top = real(file.parent) == real(base)
    if (csv_path is not None and real(file) == real(csv_path)) or (at_top and file.name.lower() == CSV_NAME):
        raise LabelFileError(f"{file} would replace or become the data set's own {CSV_NAME}; choose another "
                             "name (to change the labels, import a file instead).")
    if at_top and file.name.startswith(".mlcls-"):
        raise LabelFileError(f"{file.name} is one of mlcls-gui's own bookkeeping names; choose another name.")
    if os.path.lexists(file) and not overwrite:
        raise LabelFileError(f"{file} exists; it is not replaced unless you ask (--overwrite).")
