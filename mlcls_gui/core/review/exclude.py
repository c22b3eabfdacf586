"""Exclude images from a data set, journaled, so that Undo brings them back.

Label folders (also train/val/test): each image is **moved** (never copied,
never deleted) to ``<root>/excluded/<its path below the root>``, so its label
folder and split stay readable in the path; a name already taken there gets a
numbered suffix. The scan ignores ``excluded/``.

CSV roots: the images stay where they are; their rows move from the CSV to
``excluded_<csv name>`` beside it (``excluded_labels.csv``, same header,
created when missing, else appended to), after the same backup a CSV relabel
makes. Undo restores the CSV from that backup, so the rows are back in their
first order, byte for byte.

Both are applies of the relabel journal (kinds "exclude" and "exclude-csv"):
the same data-folder lock, the same signed journal written before anything
changes, the same crash-safe moves (``file_moves``), and ``relabel.undo_last_apply``
undoes them, the most recent apply first.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable

from mlcls_gui.core.data.data_lock import DataFolderLock
from mlcls_gui.core.data.dataset import choose_layout, parse_label_folder
from mlcls_gui.core.files.safe_paths import is_inside
from mlcls_gui.core.review.file_moves import after_step, missing_dirs
from mlcls_gui.core.review.relabel import (
    Relabelled,
    RelabelResult,
    _base,
    _check_destination,
    _check_regular_file,
    _free_name,
    _labels_csv,
    _locate,
    _new_entry,
    _open_journal,
    _plan_move,
    _record_despite,
    _rel,
    _run_moves,
    _sha256,
    _sha256_or_none,
)
from mlcls_gui.core.review.relabel_journal import (
    EXCLUDED_CSV_PREFIX,
    EXCLUDED_FOLDER,
    JournalState,
    RelabelError,
    write_journal,
)

__all__ = ["EXCLUDED_FOLDER", "exclude_images", "excluded_csv_path"]

logger = logging.getLogger(__name__)


def excluded_csv_path(csv_path: Path) -> Path:
    """Where the excluded rows of ``csv_path`` go: ``excluded_labels.csv`` beside ``labels.csv``."""
    return csv_path.with_name(f"{EXCLUDED_CSV_PREFIX}{csv_path.name}")


def exclude_images(root: str | os.PathLike[str], paths: Iterable[str | os.PathLike[str]]) -> RelabelResult:
    """Take the images ``paths`` out of the data set at ``root``; RelabelError (nothing
    changed) for a path outside it, a symbolic link, a missing file or one without a row.

    ``changed`` lists each image: ``before`` where it was, ``after`` where it is now
    (the same path for a CSV root), ``old_labels`` its labels, ``new_labels`` empty."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    csv_path = _labels_csv(root)
    # abspath, not resolve: a symlinked image must not turn into its target's path.
    wanted = sorted({os.path.abspath(path) for path in paths})
    base = _base(root)
    with DataFolderLock(base, exclusive=True):
        state, notes = _open_journal(base, set_aside_foreign=True)
        if csv_path is not None:
            result = _exclude_csv(csv_path, base, wanted, state)
        else:
            result = _exclude_folders(base, wanted, state)
    return replace(result, notes=tuple(notes))


# ------------------------------------------------------------------ label folders
def _exclude_folders(root: Path, wanted: list[str], state: JournalState) -> RelabelResult:
    excluded = root / EXCLUDED_FOLDER
    if os.path.islink(excluded) or (os.path.lexists(excluded) and not excluded.is_dir()):
        raise RelabelError(f"{excluded} is not a folder (a file or a symbolic link); images are excluded into "
                           f"a folder {EXCLUDED_FOLDER}/ there. Move it away first. Nothing was changed.")
    split_dirs, _ = choose_layout(root, [])
    plans: list[dict[str, Any]] = []
    new_dirs: list[Path] = []
    taken: set[str] = set()
    renamed = 0
    for path in map(Path, wanted):
        relative = _relative_inside(path, root)
        if relative.parts[0] == EXCLUDED_FOLDER:
            raise RelabelError(f"{path} is already excluded (it is in {excluded}). Nothing was changed.")
        base, folder, _inner = _locate(root, path, split_dirs)
        old = parse_label_folder(folder, where=str(base))
        _check_regular_file(path, root)
        destination = _free_name(excluded / relative, taken)
        _check_destination(destination, root)
        renamed += destination.name != path.name
        taken.add(str(destination))
        new_dirs += [d for d in missing_dirs(destination.parent) if d not in new_dirs]
        plans.append(_plan_move(path, destination, root, old, ()))
    changed = _run_moves(root, "exclude", plans, new_dirs, state)
    if changed:
        logger.info("Excluded %d images of %s into %s (%d renamed)", len(changed), root, excluded, renamed)
    return RelabelResult(changed, state.path, renamed)


def _relative_inside(path: Path, root: Path) -> Path:
    try:
        relative = path.relative_to(root)
    except ValueError:
        relative = None
    if relative is None or not relative.parts:
        raise RelabelError(f"{path} is not inside the data folder {root}; it cannot be excluded from it. "
                           "Nothing was changed.")
    return relative


# ------------------------------------------------------------------ CSV roots
def _exclude_csv(csv_path: Path, base: Path, wanted: list[str], state: JournalState) -> RelabelResult:
    from mlcls_gui.core.data.csv_labels import (
        CsvLabelsError,
        backup_csv,
        backup_name,
        read_labels_csv,
        write_csv_bytes,
    )
    from mlcls_gui.core.files.atomic_files import write_bytes_atomic

    info = read_labels_csv(csv_path)
    rows = {info.image_path(row): row for row in info.rows}
    chosen = []
    for path in wanted:
        _relative_inside(Path(path), base)
        row = rows.get(os.path.normpath(path))
        if row is None:
            raise RelabelError(f"{path} has no row in {csv_path}; nothing was changed.")
        _check_regular_file(Path(path), base)
        chosen.append((path, row))
    journal = state.path
    if not chosen:
        return RelabelResult([], journal)
    excluded = excluded_csv_path(csv_path)
    kept, excluded_before, excluded_after = _split_rows(csv_path, excluded, {row.row for _, row in chosen})
    backup = backup_name(csv_path)
    entry = _new_entry("exclude-csv", csv=_rel(csv_path, base), backup=_rel(backup, base),
                       before_sha256=_sha256(csv_path), after_sha256=hashlib.sha256(kept).hexdigest(),
                       excluded=_rel(excluded, base),
                       excluded_before_sha256="" if excluded_before is None else _digest(excluded_before),
                       excluded_before_size=len(excluded_before or b""),
                       excluded_after_sha256=_digest(excluded_after),
                       changes=[[path, list(row.labels), []] for path, row in chosen])
    write_journal(journal, state.entries + [entry])
    after_step("journal-written")
    try:
        backup_csv(csv_path, backup)
        after_step("backup-written")
        # The exclusion file first: cut short here, the rows are in both files, never in neither.
        try:
            write_bytes_atomic(excluded, excluded_after, keep_mode=excluded_before is not None)
        except OSError as exc:
            raise CsvLabelsError(f"Cannot write {excluded} ({exc.strerror or exc}); {csv_path} was not "
                                 "changed.") from None
        after_step("excluded-written")
        write_csv_bytes(csv_path, kept)
        after_step("csv-written")
    except (CsvLabelsError, OSError) as exc:
        untouched = _sha256_or_none(excluded) == (entry["excluded_before_sha256"] or None)
        if untouched and _sha256_or_none(backup) == entry["before_sha256"]:
            backup.unlink()  # nothing was replaced: its copy is not needed
        if untouched:
            _record_despite(exc, lambda: write_journal(journal, state.entries))
        else:
            entry["state"] = "partial"  # Undo takes the rows out of the exclusion file again
            _record_despite(exc, lambda: write_journal(journal, state.entries + [entry]))
        raise
    entry["state"] = "applied"
    write_journal(journal, state.entries + [entry])
    logger.info("Moved %d row(s) of %s into %s (backup %s)", len(chosen), csv_path, excluded, backup)
    changed = [Relabelled(path, path, row.labels, ()) for path, row in chosen]
    return RelabelResult(changed, journal, csv_backup=str(backup))


def _split_rows(csv_path: Path, excluded: Path, numbers: set[int]) -> tuple[bytes, bytes | None, bytes]:
    """(the CSV's bytes without the rows ``numbers``, the exclusion file's bytes now or None,
    its bytes with those rows added). Each row keeps its exact text; nothing is written."""
    from mlcls_gui.core.data.csv_labels import read_table, refuse_read_only

    refuse_read_only(csv_path)
    table = read_table(csv_path)
    pieces, moved = [table.header_raw], []
    # Numbered as read_labels_csv numbers its rows (the header is row 1).
    for number, (_cells, raw) in enumerate(table.records, start=2):
        if number in numbers:
            moved.append(raw if raw.endswith(("\n", "\r")) else raw + table.line_end)
        else:
            pieces.append(raw)
    bom = "\ufeff".encode("utf-8") if table.bom else b""
    kept = bom + "".join(pieces).encode("utf-8")
    rows = "".join(moved).encode("utf-8")
    if os.path.islink(excluded) or (os.path.lexists(excluded) and not excluded.is_file()):
        raise RelabelError(f"{excluded} is not a file (a folder or a symbolic link); move it away first. "
                           "Nothing was changed.")
    if not is_inside(excluded, csv_path.parent):
        raise RelabelError(f"{excluded} leads outside {csv_path.parent}. Nothing was changed.")
    header = table.header_raw if table.header_raw.endswith(("\n", "\r")) else table.header_raw + table.line_end
    header_bytes = bom + header.encode("utf-8")
    if not os.path.lexists(excluded):
        return kept, None, header_bytes + rows
    try:
        before = excluded.read_bytes()
    except OSError as exc:
        raise RelabelError(f"Cannot read {excluded} ({exc.strerror or exc}). Nothing was changed.") from None
    if not before.strip(b"\xef\xbb\xbf\r\n\t "):
        return kept, before, before + header_bytes + rows  # an empty file: the header first
    other = read_table(excluded)
    if other.header != table.header or other.delimiter != table.delimiter:
        raise RelabelError(f"{excluded} has other columns than {csv_path} ({', '.join(other.header)}); its "
                           "rows could not be put back. Move it away first. Nothing was changed.")
    ending = b"" if before.endswith((b"\n", b"\r")) else table.line_end.encode("utf-8")
    return kept, before, before + ending + rows


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
