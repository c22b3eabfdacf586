"""Labels from a CSV file instead of label folders.

A data root may be a CSV file, or a folder that holds ``labels.csv``. Columns:

* ``path`` — the image, relative to the CSV's folder (it must stay inside it);
* either ``labels`` — the image's labels joined by ``|`` (labels may contain
  ``+``) — or one column per label holding 1 (has it), 0 (has not);
* optionally ``split`` — train, val or test for every row.

An empty cell or -1 means "unknown": the label is masked out of the loss and
the metrics instead of being counted as a negative. In the ``labels`` format
an empty cell makes every label of that image unknown.

Mistakes in the file (no path column, a path outside the folder, a bad cell,
an unknown split, the same image twice) raise ``CsvLabelsError`` naming the
row and column; a listed image that is missing is skipped by the scan, like an
unreadable one. This module does not import torch.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from mlcls_gui.core.data.images import ImageLoadError, is_image_path, probe_image
from mlcls_gui.core.data.labels import RULE as LABEL_RULE
from mlcls_gui.core.data.labels import label_problem
from mlcls_gui.core.data.splits import (
    DatasetSplits,
    Sample,
    SkippedFile,
    count_split_groups,
    load_split_groups,
    stratified_split,
    warn_about_labels,
)
from mlcls_gui.core.errors import DatasetError
from mlcls_gui.core.files.atomic_files import copy_to_new_file, write_bytes_atomic
from mlcls_gui.core.files.safe_paths import is_inside

logger = logging.getLogger(__name__)

CSV_NAME = "labels.csv"
PATH_COLUMN = "path"
LABELS_COLUMN = "labels"
SPLIT_COLUMN = "split"
LABELS_SEPARATOR = "|"
LABELS_FORMAT = "labels column"
COLUMNS_FORMAT = "0/1 columns"
_SPLITS = ("train", "val", "test")
_MAX_LISTED_PROBLEMS = 5


class CsvLabelsError(DatasetError):
    """The labels CSV cannot be used as it is (the message names row and column)."""


@dataclass(frozen=True)
class CsvRow:
    row: int  # the row number a spreadsheet shows (the header is row 1)
    path: str  # the cell as written
    labels: tuple[str, ...]  # known positives, sorted
    unknown: tuple[str, ...]  # labels whose cell is empty or -1, sorted
    split: str | None  # "train", "val", "test", or None without a split column


@dataclass(frozen=True)
class CsvLabels:
    csv_path: Path
    format: str  # LABELS_FORMAT or COLUMNS_FORMAT
    label_columns: tuple[str, ...]  # the 0/1 columns (empty in the labels format)
    has_split: bool
    rows: tuple[CsvRow, ...]

    @property
    def folder(self) -> Path:
        return self.csv_path.parent

    def image_path(self, row: CsvRow) -> str:
        """The row's image as an absolute, normalised path."""
        return os.path.normpath(os.path.join(str(self.folder), row.path))


# ------------------------------------------------------------------ finding
def find_labels_csv(images_root: str | os.PathLike[str]) -> Path | None:
    """The CSV file when ``images_root`` is a .csv file or a folder holding
    labels.csv, else None (a label-folder root, or nothing there)."""
    text = str(images_root).strip()
    if not text:
        return None
    root = Path(text).expanduser()
    try:
        if root.is_file() and root.suffix.lower() == ".csv":
            return root.resolve()
        if root.is_dir() and (root / CSV_NAME).is_file():
            return (root / CSV_NAME).resolve()
    except (OSError, ValueError):
        return None
    return None


# ------------------------------------------------------------------ reading
@dataclass
class RawTable:
    header: list[str]
    header_raw: str
    records: list[tuple[list[str], str]]  # (cells, the record's raw text)
    delimiter: str
    line_end: str
    bom: bool


def read_table(csv_path: Path) -> RawTable:
    try:
        raw = csv_path.read_bytes()
    except OSError as exc:
        raise CsvLabelsError(f"Cannot read {csv_path} ({exc.strerror or exc}).") from None
    bom = raw.startswith(b"\xef\xbb\xbf")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvLabelsError(
            f"{csv_path} is not UTF-8 text (byte {exc.start}). Save it as UTF-8 CSV."
        ) from None
    # Only \n, \r and \r\n end lines (str.splitlines would also split at \u2028 and co.).
    lines = io.StringIO(text, newline="").readlines()
    if not lines or not lines[0].strip():
        raise CsvLabelsError(f"{csv_path} is empty: its first row must name the columns (path, labels …).")
    first = lines[0]
    # Spreadsheets in many locales write ';'; tab-separated files work too.
    delimiter = max((",", ";", "\t"), key=first.count)
    line_end = "\r\n" if first.endswith("\r\n") else "\n"
    records: list[tuple[list[str], str]] = []
    pending: list[str] = []

    def feed() -> Iterator[str]:
        for line in lines:
            pending.append(line)
            yield line

    try:
        for cells in csv.reader(feed(), delimiter=delimiter, strict=True):
            records.append((cells, "".join(pending)))
            pending.clear()
    except csv.Error as exc:
        raise CsvLabelsError(f"{csv_path} is not valid CSV near row {len(records) + 1}: {exc}.") from None
    header, header_raw = records.pop(0)
    return RawTable([name.strip() for name in header], header_raw, records, delimiter, line_end, bom)


def _column_index(header: list[str], name: str) -> int | None:
    matches = [i for i, column in enumerate(header) if column.casefold() == name]
    return matches[0] if matches else None


def read_labels_csv(csv_path: str | os.PathLike[str]) -> CsvLabels:
    """Parse and check the CSV; CsvLabelsError names the first bad rows."""
    path = Path(csv_path).expanduser().resolve()
    table = read_table(path)
    header = table.header
    path_col = _column_index(header, PATH_COLUMN)
    if path_col is None:
        raise CsvLabelsError(
            f"{path} has no 'path' column (its columns: {', '.join(header) or 'none'}). The first row "
            "must name the columns: path, then labels (joined by '|') or one 0/1 column per label."
        )
    labels_col = _column_index(header, LABELS_COLUMN)
    split_col = _column_index(header, SPLIT_COLUMN)
    if labels_col is not None:
        fmt, label_cols = LABELS_FORMAT, []
    else:
        fmt = COLUMNS_FORMAT
        label_cols = [i for i in range(len(header)) if i not in (path_col, split_col)]
        if not label_cols:
            raise CsvLabelsError(
                f"{path} has no label columns: add a 'labels' column (labels joined by '|') or one "
                "0/1 column per label."
            )
        named = [header[i] for i in label_cols]
        if any(not name for name in named):
            column = label_cols[named.index("")] + 1
            raise CsvLabelsError(f"{path}: column {column} has no name in the first row. Name it after its label.")
        if len(set(named)) < len(named):
            twice = sorted({n for n in named if named.count(n) > 1})
            raise CsvLabelsError(f"{path}: the label column {twice[0]!r} appears twice. Merge the two columns.")
        for index, name in zip(label_cols, named):
            problem = label_problem(name)
            if problem:
                raise CsvLabelsError(f"{path}: the label column {index + 1} cannot be a label: {problem}. "
                                     f"{LABEL_RULE}")

    rows: list[CsvRow] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    columns = _Columns(path_col, labels_col, split_col, label_cols, header)
    for number, (cells, _raw) in enumerate(table.records, start=2):
        if not any(cell.strip() for cell in cells):
            continue  # blank lines, e.g. at the end of the file
        if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header):]):
            problems.append(f"row {number} has {len(cells)} cells but the first row names {len(header)} "
                            f"columns; quote cells that contain {table.delimiter!r}")
            continue
        try:
            row = _parse_row(number, cells + [""] * (len(header) - len(cells)), columns, str(path.parent), seen)
        except _CellError as exc:
            problems.append(f"row {number}, column {header[exc.column]!r}: {exc}")
            continue
        rows.append(row)
    if problems:
        more = f" ({len(problems) - _MAX_LISTED_PROBLEMS} more)" if len(problems) > _MAX_LISTED_PROBLEMS else ""
        raise CsvLabelsError(f"{path}: " + "; ".join(problems[:_MAX_LISTED_PROBLEMS]) + more + ".")
    label_columns = tuple(header[i] for i in label_cols)
    if labels_col is not None:
        everything = tuple(sorted({label for row in rows for label in row.labels}))
        rows = [CsvRow(r.row, r.path, r.labels, everything if r.unknown else (), r.split) for r in rows]
    logger.info("Read %s: %d rows, %s format", path, len(rows), fmt)
    return CsvLabels(path, fmt, label_columns, split_col is not None, tuple(rows))


class _CellError(ValueError):
    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.column = column


@dataclass(frozen=True)
class _Columns:
    path: int
    labels: int | None
    split: int | None
    label_columns: list[int]
    header: list[str]


def _parse_row(number: int, cells: list[str], columns: _Columns, folder: str, seen: dict[str, int]) -> CsvRow:
    rel = cells[columns.path].strip()
    if not rel:
        raise _CellError("the path is empty", columns.path)
    full = os.path.normpath(os.path.join(folder, rel))
    try:
        inside = os.path.commonpath([folder, full]) == folder
    except ValueError:  # another drive (Windows)
        inside = False
    if not inside:
        raise _CellError(f"{rel!r} lies outside {folder}; images must be in the CSV's folder or below it",
                         columns.path)
    if not is_inside(full, folder):
        raise _CellError(f"{rel!r} leads outside {folder} through a symbolic link; images must be in the "
                         "CSV's folder or below it (copy them there)", columns.path)
    key = os.path.normcase(full)
    if key in seen:
        raise _CellError(f"{rel!r} is listed again (first in row {seen[key]}); keep one row per image", columns.path)
    seen[key] = number
    split = None
    if columns.split is not None:
        split = cells[columns.split].strip().lower()
        if split not in _SPLITS:
            raise _CellError(f"{cells[columns.split].strip()!r} is not a split; use train, val or test", columns.split)
    if columns.labels is not None:
        labels = _parse_labels_cell(cells[columns.labels], columns.labels)
        # "*" stands for every label: resolved once all rows are read.
        return CsvRow(number, rel, labels or (), ("*",) if labels is None else (), split)
    labels, unknown = _parse_columns(cells, columns.label_columns, columns.header)
    return CsvRow(number, rel, labels, unknown, split)


def _is_unknown(cell: str) -> bool:
    return cell in ("", "-1", "-1.0")


def _parse_labels_cell(cell: str, column: int) -> tuple[str, ...] | None:
    """'cat|dog' → ('cat', 'dog'); None for an unknown (empty or -1) cell."""
    text = cell.strip()
    if _is_unknown(text):
        return None
    parts = [part.strip() for part in text.split(LABELS_SEPARATOR)]
    if any(not part for part in parts):
        raise _CellError(f"{text!r} has an empty label; join labels with '|', as in 'cat|dog'", column)
    bad = next((problem for problem in map(label_problem, parts) if problem), "")
    if bad:
        raise _CellError(f"{bad}. {LABEL_RULE}", column)
    return tuple(sorted(set(parts)))


def _parse_columns(cells: list[str], label_cols: list[int], header: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    labels: list[str] = []
    unknown: list[str] = []
    for i in label_cols:
        text = cells[i].strip()
        if _is_unknown(text):
            unknown.append(header[i])
        elif text in ("1", "1.0"):
            labels.append(header[i])
        elif text not in ("0", "0.0"):
            raise _CellError(
                f"{text!r} is not 0, 1, empty or -1 (unknown); a column other than path and split "
                "is a label column, so remove columns that are not labels", i,
            )
    return tuple(sorted(labels)), tuple(sorted(unknown))


# ------------------------------------------------------------------ scanning
def scan_csv_root(
    csv_path: str | os.PathLike[str], *, val_fraction: float, test_fraction: float, seed: int,
    groups_file: str | os.PathLike[str] | None = None,
) -> DatasetSplits:
    """The CSV's images split by its split column, or by seed as the folder
    layout splits them (so the same images and labels give the same split).
    ``groups_file``: a data health report whose near-copy groups the seeded
    split keeps together (paths relative to the CSV's folder)."""
    info = read_labels_csv(csv_path)
    skipped: list[SkippedFile] = []
    warnings: list[str] = []
    by_split: dict[str | None, list[Sample]] = {None: [], "train": [], "val": [], "test": []}
    # The folder scan's order (os.walk, names sorted), so the split column gives it too.
    for row in sorted(info.rows, key=lambda r: _walk_order(r.path)):
        full = info.image_path(row)
        reason = _unusable_image(full)
        if reason:
            skipped.append(SkippedFile(full, f"{reason} (row {row.row} of {info.csv_path.name})"))
            continue
        by_split[row.split].append(Sample(full, row.labels, row.unknown))
    found = sorted({label for samples in by_split.values() for s in samples for label in s.labels})
    labels = sorted(set(found) | set(info.label_columns))
    known = set(labels)
    # A row with every label unknown waits for labels (the labelling queue); it is in no split.
    unlabelled = [s.path for samples in by_split.values() for s in samples if not s.labels and set(s.unknown) >= known]
    waiting = set(unlabelled)
    for name, samples in by_split.items():
        by_split[name] = [Sample(s.path, s.labels, tuple(u for u in s.unknown if u in known))
                          for s in samples if s.path not in waiting]
    groups = load_split_groups(groups_file, str(info.folder), [s for part in by_split.values() for s in part])
    mapping = groups.mapping() if groups else None
    source = f"{info.csv_path.name} gives the labels ({info.format}"
    source += f": {', '.join(info.label_columns)})" if info.label_columns else ")"
    if info.has_split:
        layout = "csv-splits"
        train, val, test = by_split["train"], by_split["val"], by_split["test"]
        reason = f"{source} and the splits (its split column)"
        if not val:
            train, val, _ = stratified_split(train, val_fraction, 0.0, seed, mapping)
            reason += "; no row is val, so validation images are split off train by seed"
        if not test:
            warnings.append(f"No row of {info.csv_path.name} has the split test: the run will report no test metrics.")
        crossing = count_split_groups(groups, train, val, test, warnings,
                                      given=f"the split column of {info.csv_path.name}", seeded_val=not by_split["val"])
    else:
        layout = "csv"
        train, val, test = stratified_split(by_split[None], val_fraction, test_fraction, seed, mapping)
        reason = f"{source}; it has no split column, so the rows are split by seed"
        crossing = count_split_groups(groups, train, val, test, warnings)
    warn_about_labels(labels, train, warnings)
    logger.info("Scanned %s: %d train, %d val, %d test images, %d labels, %d skipped",
                info.csv_path, len(train), len(val), len(test), len(labels), len(skipped))
    return DatasetSplits(
        root=str(info.csv_path), layout=layout, labels=labels, train=train, val=val, test=test,
        skipped=skipped, warnings=warnings, layout_reason=reason + ".", csv_format=info.format,
        split_groups=groups.file if groups else "", groups_crossing_splits=crossing, unlabelled=unlabelled,
    )


def _walk_order(relative: str) -> tuple[tuple[int, str], ...]:
    """Sort key of os.walk with sorted names: a folder's files before its sub-folders."""
    parts = os.path.normpath(relative).split(os.sep)
    return tuple((1, part) for part in parts[:-1]) + ((0, parts[-1]),)


def _unusable_image(path: str) -> str:
    """Why ``path`` cannot be used as an image, or ''."""
    if not os.path.isfile(path):
        return "file not found" if not os.path.exists(path) else "not a file"
    if not is_image_path(path):
        return f"not an image file ({Path(path).suffix or 'no extension'})"
    try:
        probe_image(path)
    except ImageLoadError as exc:
        return exc.reason
    return ""


# ------------------------------------------------------------------ writing
def apply_csv_label_changes(csv_path: Path, changes: Mapping[str, Sequence[str]]) -> Path:
    """Give the rows named in ``changes`` (by their path cell as written) new
    labels; returns the backup written first. Other rows and columns keep
    their exact text; the file is replaced atomically."""
    path = Path(csv_path).expanduser().resolve()
    data = render_csv_label_changes(path, changes)
    backup = backup_csv(path, backup_name(path))
    write_csv_bytes(path, data)
    logger.info("Wrote %d label change(s) into %s (backup %s)", len(changes), path, backup)
    return backup


def render_csv_label_changes(csv_path: Path, changes: Mapping[str, Sequence[str]]) -> bytes:
    """The CSV's new bytes with the rows in ``changes`` relabelled; nothing is written.
    CsvLabelsError when the file is read-only or a change cannot be written into it."""
    path = Path(csv_path).expanduser().resolve()
    refuse_read_only(path)
    info = read_labels_csv(path)  # refuses a file that training would refuse
    table = read_table(path)
    header = table.header
    path_col = _column_index(header, PATH_COLUMN)
    path_col = path_col or 0  # read_labels_csv found it
    labels_col = _column_index(header, LABELS_COLUMN)
    columns = {name: header.index(name) for name in info.label_columns}
    wanted = {key.strip(): tuple(sorted(set(value))) for key, value in changes.items()}
    for key, labels in wanted.items():
        if info.format == LABELS_FORMAT and not labels:
            raise CsvLabelsError(
                f"{path}: {key!r} would get no labels, but an empty 'labels' cell means unknown. "
                "Give it at least one label, remove its row, or use one 0/1 column per label "
                "(where a row of zeros says none of the labels)."
            )
        missing = [label for label in labels if info.format == COLUMNS_FORMAT and label not in columns]
        if missing:
            raise CsvLabelsError(f"{path} has no column for the label {missing[0]!r}; add the column first.")
        bad = [label for label in labels if LABELS_SEPARATOR in label or label_problem(label)]
        if info.format == LABELS_FORMAT and bad:
            raise CsvLabelsError(f"The label {bad[0]!r} cannot be written into {path}: labels may not contain "
                                 f"'|'. {LABEL_RULE}")
    pieces = [table.header_raw]
    found: set[str] = set()
    for cells, raw in table.records:
        key = cells[path_col].strip() if len(cells) > path_col else ""
        if key not in wanted or not key:
            pieces.append(raw)
            continue
        found.add(key)
        cells = cells + [""] * (len(header) - len(cells))
        if labels_col is not None:
            cells[labels_col] = LABELS_SEPARATOR.join(wanted[key])
        else:
            for name, index in columns.items():
                cells[index] = "1" if name in wanted[key] else "0"
        ending = table.line_end if raw.endswith(("\n", "\r")) else ""
        pieces.append(_format_row(cells, table.delimiter) + ending)
    absent = sorted(set(wanted) - found)
    if absent:
        raise CsvLabelsError(f"{path} has no row whose path is {absent[0]!r}; nothing was changed.")
    # Bytes, not text: the file's own line ends and BOM stay exactly as they were.
    return ("\ufeff" if table.bom else "").encode("utf-8") + "".join(pieces).encode("utf-8")


def refuse_read_only(path: Path) -> None:
    """A CSV the user made read-only is not replaced (the folder being writable would allow it)."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise CsvLabelsError(f"Cannot read {path} ({exc.strerror or exc}).") from None
    if not mode & 0o222 or not os.access(path, os.W_OK):
        raise CsvLabelsError(f"{path} is read-only, so its labels were not changed. Make it writable "
                             "to apply label changes.")


def _format_row(cells: list[str], delimiter: str) -> str:
    buffer = io.StringIO()
    # The terminator also decides which cells need quotes: a cell with a line break does.
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()[:-2]


def backup_name(path: Path) -> Path:
    """A free name for a backup beside the CSV (``labels.csv.bak-<time>``)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.bak-{stamp}")
    number = 2
    while os.path.lexists(target):
        target = path.with_name(f"{path.name}.bak-{stamp}-{number}")
        number += 1
    return target


def backup_csv(path: Path, target: Path) -> Path:
    """Copy ``path`` to the new file ``target``: never over an existing name, never through a link."""
    try:
        copy_to_new_file(path, target)
    except OSError as exc:
        raise CsvLabelsError(f"Cannot write the backup {target} ({exc.strerror or exc}); {path} was not changed.") from None
    return target


def write_csv_bytes(path: Path, data: bytes) -> None:
    try:
        write_bytes_atomic(path, data, keep_mode=True)
    except OSError as exc:
        raise CsvLabelsError(f"Cannot write {path} ({exc.strerror or exc}); it was not changed.") from None
