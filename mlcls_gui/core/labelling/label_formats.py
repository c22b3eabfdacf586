"""Label files of other tools, parsed and written; no data root is touched here.

Four formats, each one image per entry:

* ``createml`` — Apple Create ML's multi-label ``annotations.json``: a list of
  ``{"filename": "cat/1.jpg", "annotations": ["cat", "dog"]}`` (``"image"`` is
  read as ``"filename"`` too). An empty list means none of the labels.
* ``labelstudio`` — Label Studio's JSON export: a list of tasks, each with
  ``data`` (the image under ``"image"``, or the task's only text value) and
  ``annotations`` whose ``choices`` results are the labels. Cancelled
  annotations and predictions are ignored; a task without annotations is not
  labelled yet; annotations that disagree are a problem, unless one is the
  ground truth.
* ``vertex`` — Vertex AI / AutoML Vision CSV, no header: ``[ML_USE,]uri,label,label…``
  (ML_USE: training, validation, test or unassigned, any case). A row without
  labels is not labelled yet.
* ``csv`` — this app's labels CSV (``csv_labels``): a ``path`` column and a
  ``labels`` column (joined by ``|``) or one 0/1 column per label. An empty
  ``labels`` cell, or every 0/1 cell empty or -1, is unknown: not labelled yet.

Parsing collects every bad entry (``LabelProblem``) instead of stopping at the
first; mapping entries to images is ``label_files``'s job.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from mlcls_gui.core.data.csv_labels import LABELS_COLUMN, LABELS_SEPARATOR, PATH_COLUMN, SPLIT_COLUMN, read_table
from mlcls_gui.core.data.labels import label_problem
from mlcls_gui.core.errors import MlclsError, os_reason

FORMATS = ("createml", "labelstudio", "vertex", "csv")
FORMAT_TITLES = {"createml": "Create ML annotations.json", "labelstudio": "Label Studio JSON",
                 "vertex": "Vertex AI CSV", "csv": "labels CSV (path,labels)"}
JSON_FORMATS = ("createml", "labelstudio")
# Vertex AI writes training/validation/test; AutoML Vision wrote TRAIN/VALIDATION/TEST/UNASSIGNED.
ML_USE = {"training": "train", "train": "train", "validation": "val", "val": "val", "test": "test",
          "unassigned": ""}
VERTEX_ML_USE = {"train": "training", "val": "validation", "test": "test"}
# The labelling config an exported Label Studio file fits:
# <Image name="image" value="$image"/> <Choices name="choice" toName="image" choice="multiple">
LABEL_STUDIO_FROM, LABEL_STUDIO_TO = "choice", "image"


class LabelFileError(MlclsError):
    """A label file cannot be imported or written (nothing was changed)."""


@dataclass(frozen=True)
class LabelEntry:
    """One image of a label file, as written there."""

    where: str  # "row 3", "entry 2", "task 5 (id 17)"
    image: str  # the path or URI as written
    labels: tuple[str, ...] | None  # sorted, unique; () none of the labels; None: not labelled in the file


@dataclass(frozen=True)
class LabelProblem:
    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass(frozen=True)
class ParsedFile:
    fmt: str
    entries: tuple[LabelEntry, ...]
    problems: tuple[LabelProblem, ...]


@dataclass(frozen=True)
class ExportRow:
    image: str  # relative path or URI, as it is written
    labels: tuple[str, ...]
    split: str | None  # "train", "val", "test"; None when the data root's split is seeded


# ------------------------------------------------------------------ reading
def parse_label_file(path: str | os.PathLike[str], fmt: str | None = None) -> ParsedFile:
    """The file's entries and its bad entries; ``fmt`` None: told by content and extension.
    LabelFileError when the file cannot be read or is none of the formats."""
    file = Path(path).expanduser()
    if fmt is not None and fmt not in FORMATS:
        raise LabelFileError(f"Unknown label file format {fmt!r}; use one of {', '.join(FORMATS)}.")
    text = _read_text(file)
    if fmt is None and not _looks_like_json(file, text):
        fmt = _csv_format(file, text)
    if fmt in (None, *JSON_FORMATS):
        try:
            data = json.loads(text)
        except ValueError as exc:
            where = f"line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else "the file"
            return ParsedFile(fmt or "json", (), (LabelProblem(where, f"not valid JSON ({_json_reason(exc)})"),))
        fmt = fmt or _json_format(data, file)
        entries, problems = _parse_json_list(data, file, fmt)
        return ParsedFile(fmt, tuple(entries), tuple(problems))
    entries, problems = (_parse_vertex(text) if fmt == "vertex" else _parse_app_csv(file))
    return ParsedFile(fmt, tuple(entries), tuple(problems))


def _read_text(file: Path) -> str:
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise LabelFileError(f"Cannot read the label file {file} ({os_reason(exc)}).") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LabelFileError(f"{file} is not UTF-8 text (byte {exc.start}); save it as UTF-8.") from None


def _json_reason(exc: ValueError) -> str:
    return exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)


def _looks_like_json(file: Path, text: str) -> bool:
    return file.suffix.lower() == ".json" or text.lstrip()[:1] in ("[", "{")


def _csv_format(file: Path, text: str) -> str:
    """The app's CSV names its columns (a 'path' column); a Vertex CSV has no header."""
    first = text.splitlines()[0] if text.strip() else ""
    if not first.strip():
        raise LabelFileError(f"{file} is empty: no labels to import.")
    delimiter = max((",", ";", "\t"), key=first.count)  # as csv_labels reads it
    header = [cell.strip().strip('"').strip().casefold() for cell in first.split(delimiter)]
    return "csv" if PATH_COLUMN in header else "vertex"


def _json_format(data: Any, file: Path) -> str:
    if not isinstance(data, list):
        raise LabelFileError(f"{file} is JSON but not a list of images: Create ML's annotations.json and "
                             "Label Studio's JSON export are both lists.")
    items = [item for item in data if isinstance(item, dict)]
    if any(isinstance(item.get("data"), dict) for item in items):
        return "labelstudio"
    if not items or any(("filename" in item or "image" in item) and "annotations" in item for item in items):
        return "createml"
    keys = sorted({key for item in items[:20] for key in item})[:8]
    raise LabelFileError(
        f"{file} is neither Create ML's annotations.json (filename, annotations) nor Label Studio's JSON "
        f"export (data, annotations); its entries have {', '.join(keys) or 'no keys'}. From Label Studio, "
        "export as JSON (not JSON-MIN).")


def _parse_json_list(data: Any, file: Path, fmt: str) -> tuple[list[LabelEntry], list[LabelProblem]]:
    if not isinstance(data, list):
        raise LabelFileError(f"{file} is JSON but not a list of images, as {FORMAT_TITLES[fmt]} is.")
    parse = _createml_entry if fmt == "createml" else _labelstudio_entry
    entries: list[LabelEntry] = []
    problems: list[LabelProblem] = []
    for index, item in enumerate(data, start=1):
        where = _task_where(index, item) if fmt == "labelstudio" else f"entry {index}"
        if not isinstance(item, dict):
            problems.append(LabelProblem(where, f"not an object but {type(item).__name__}"))
            continue
        _collect(parse(where, item), entries, problems)
    return entries, problems


def _collect(found: LabelEntry | LabelProblem | None, entries: list[LabelEntry],
             problems: list[LabelProblem]) -> None:
    if isinstance(found, LabelEntry):
        entries.append(found)
    elif isinstance(found, LabelProblem):
        problems.append(found)


def _createml_entry(where: str, item: dict[str, Any]) -> LabelEntry | LabelProblem:
    image = item.get("filename", item.get("image"))
    if not isinstance(image, str) or not image.strip():
        return LabelProblem(where, "has no 'filename' (the image's path)")
    annotations = item.get("annotations")
    if not isinstance(annotations, list):
        return LabelProblem(where, "'annotations' is not a list of labels")
    if any(isinstance(value, dict) for value in annotations):
        return LabelProblem(where, "holds boxes (an object-detection file); only multi-label classification "
                            "files, lists of label names, can be imported")
    return _entry(where, image, annotations)


def _task_where(index: int, task: Any) -> str:
    task_id = task.get("id") if isinstance(task, dict) else None
    return f"task {index}" + (f" (id {task_id})" if isinstance(task_id, (int, str)) else "")


def _labelstudio_entry(where: str, task: dict[str, Any]) -> LabelEntry | LabelProblem:
    data = task.get("data")
    image = _task_image(data) if isinstance(data, dict) else None
    if image is None:
        return LabelProblem(where, "its 'data' names no image (a text value under 'image', or the task's "
                            "only text value)")
    # Label Studio before 1.0 called annotations "completions".
    annotations = task.get("annotations", task.get("completions")) or []
    if not isinstance(annotations, list):
        return LabelProblem(where, "'annotations' is not a list")
    kept = [a for a in annotations if isinstance(a, dict) and not a.get("was_cancelled")]
    if not kept:
        return LabelEntry(where, image, None)  # not labelled yet
    sets: list[tuple[bool, list[Any]]] = []
    for annotation in kept:
        choices = _choices(annotation.get("result"))
        if choices is None:
            return LabelProblem(where, "an annotation holds no choices (only other kinds of result, such as "
                                "boxes); import a classification project's export")
        sets.append((bool(annotation.get("ground_truth")), choices))
    truth = [choices for ground, choices in sets if ground]
    distinct = {tuple(sorted(map(str, choices))) for _, choices in sets}
    if not truth and len(distinct) > 1:
        shown = " vs ".join("|".join(labels) or "(none)" for labels in sorted(distinct)[:3])
        return LabelProblem(where, f"its annotations disagree ({shown}); settle it in Label Studio "
                            "(or mark one as ground truth)")
    return _entry(where, image, truth[-1] if truth else sets[-1][1])


def _task_image(data: dict[str, Any]) -> str | None:
    if isinstance(data.get("image"), str) and data["image"].strip():
        return data["image"]
    texts = [value for value in data.values() if isinstance(value, str) and value.strip()]
    return texts[0] if len(texts) == 1 else None


def _choices(result: Any) -> list[Any] | None:
    """The labels of one annotation's results: every 'choices' result's choices, together;
    [] for an empty result (submitted with nothing chosen); None when no result is a choice."""
    if not isinstance(result, list):
        return None if result is not None else []
    found: list[Any] = []
    any_choices = False
    for item in result:
        value = item.get("value") if isinstance(item, dict) else None
        if isinstance(value, dict) and isinstance(value.get("choices"), list):
            any_choices = True
            found.extend(value["choices"])
    return found if any_choices or not result else None


def _parse_vertex(text: str) -> tuple[list[LabelEntry], list[LabelProblem]]:
    entries: list[LabelEntry] = []
    problems: list[LabelProblem] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    number = 0
    try:
        for number, cells in enumerate(reader, start=1):
            _collect(_vertex_entry(number, [cell.strip() for cell in cells]), entries, problems)
    except csv.Error as exc:
        problems.append(LabelProblem(f"row {number + 1}", f"not valid CSV ({exc})"))
    return entries, problems


def _vertex_entry(number: int, cells: list[str]) -> LabelEntry | LabelProblem | None:
    where = f"row {number}"
    while cells and not cells[-1]:
        cells.pop()
    if not cells:
        return None  # a blank line
    if len(cells) > 1 and cells[0].lower() in ML_USE:
        cells = cells[1:]
    image, labels = cells[0], [cell for cell in cells[1:] if cell]
    if not image:
        return LabelProblem(where, "the image's URI (the first column after ML_USE) is empty")
    return _entry(where, image, labels) if labels else LabelEntry(where, image, None)


def _parse_app_csv(file: Path) -> tuple[list[LabelEntry], list[LabelProblem]]:
    table = read_table(file)  # the app's CSV rules: delimiter, BOM, quoting
    header = [name.casefold() for name in table.header]
    if PATH_COLUMN not in header:
        raise LabelFileError(f"{file} has no 'path' column (its columns: {', '.join(table.header)}).")
    path_col = header.index(PATH_COLUMN)
    split_col = header.index(SPLIT_COLUMN) if SPLIT_COLUMN in header else None
    labels_col = header.index(LABELS_COLUMN) if LABELS_COLUMN in header else None
    label_cols = [] if labels_col is not None else [i for i in range(len(header)) if i not in (path_col, split_col)]
    if labels_col is None and not label_cols:
        raise LabelFileError(f"{file} has no labels: add a 'labels' column (labels joined by '|') or one 0/1 "
                             "column per label.")
    entries: list[LabelEntry] = []
    problems: list[LabelProblem] = []
    for number, (cells, _raw) in enumerate(table.records, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        cells = [cell.strip() for cell in cells] + [""] * (len(header) - len(cells))
        where = f"row {number}"
        if not cells[path_col]:
            problems.append(LabelProblem(where, "the path is empty"))
        elif labels_col is not None:
            _collect(_labels_cell(where, cells[path_col], cells[labels_col]), entries, problems)
        else:
            values = {table.header[i]: cells[i] for i in label_cols}
            _collect(_label_columns(where, cells[path_col], values), entries, problems)
    return entries, problems


def _labels_cell(where: str, image: str, cell: str) -> LabelEntry | LabelProblem:
    if cell in ("", "-1", "-1.0"):
        return LabelEntry(where, image, None)  # unknown, as the app's CSV reads it
    parts = [part.strip() for part in cell.split(LABELS_SEPARATOR)]
    if not all(parts):
        return LabelProblem(where, f"{cell!r} has an empty label; join labels with '|', as in 'cat|dog'")
    return _entry(where, image, parts)


def _label_columns(where: str, image: str, values: dict[str, str]) -> LabelEntry | LabelProblem:
    unknown = [name for name, value in values.items() if value in ("", "-1", "-1.0")]
    if len(unknown) == len(values):
        return LabelEntry(where, image, None)  # every label unknown: not labelled yet
    if unknown:
        return LabelProblem(where, f"the label(s) {', '.join(unknown[:3])} are unknown (empty or -1) but others "
                            "are given; an import sets all of an image's labels, so give 0 or 1 in every column")
    bad = [f"{name}={value!r}" for name, value in values.items() if value not in ("0", "1", "0.0", "1.0")]
    if bad:
        return LabelProblem(where, f"{', '.join(bad[:3])}: a label column holds 0, 1, empty or -1")
    return _entry(where, image, [name for name, value in values.items() if value.startswith("1")])


def _entry(where: str, image: str, labels: Sequence[Any]) -> LabelEntry | LabelProblem:
    """The entry with its labels checked by the app's one rule (``label_problem``)."""
    for label in labels:
        problem = label_problem(label)
        if problem:
            return LabelProblem(where, f"bad label: {problem}")
    return LabelEntry(where, image, tuple(sorted(set(labels))))


# ------------------------------------------------------------------ writing
def cannot_hold(fmt: str, labels: tuple[str, ...]) -> str:
    """Why ``fmt`` cannot say that an image has ``labels``, or ''."""
    if fmt == "vertex" and not labels:
        return "none of the labels (Vertex AI reads a row without labels as not labelled yet)"
    if fmt == "csv" and not labels:
        return "none of the labels (an empty labels cell means unknown)"
    if fmt == "csv" and any(LABELS_SEPARATOR in label for label in labels):
        return f"a label containing '{LABELS_SEPARATOR}', which joins the labels of a labels cell"
    return ""


def render_createml(rows: Iterable[ExportRow]) -> list[dict[str, Any]]:
    return [{"filename": row.image, "annotations": list(row.labels)} for row in rows]


def render_labelstudio(rows: Iterable[ExportRow]) -> list[dict[str, Any]]:
    return [{"data": {"image": row.image},
             "annotations": [{"result": [{"from_name": LABEL_STUDIO_FROM, "to_name": LABEL_STUDIO_TO,
                                          "type": "choices", "value": {"choices": list(row.labels)}}]}]}
            for row in rows]


def render_vertex(rows: Sequence[ExportRow]) -> list[list[str]]:
    """ML_USE first only when the data root gives its splits (else Vertex AI assigns them)."""
    given = any(row.split for row in rows)
    return [([VERTEX_ML_USE[row.split]] if given and row.split else []) + [row.image, *row.labels] for row in rows]


def render_app_csv(rows: Sequence[ExportRow]) -> list[list[str]]:
    given = any(row.split for row in rows)
    header = [PATH_COLUMN, LABELS_COLUMN] + ([SPLIT_COLUMN] if given else [])
    return [header] + [[row.image, LABELS_SEPARATOR.join(row.labels)] + ([row.split or ""] if given else [])
                       for row in rows]


RENDERERS: dict[str, Callable[[Sequence[ExportRow]], Any]] = {
    "createml": render_createml, "labelstudio": render_labelstudio, "vertex": render_vertex, "csv": render_app_csv,
}
