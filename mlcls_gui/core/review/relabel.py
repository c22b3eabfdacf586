"""Apply label changes to a data root, with an undo journal.

Label folders: each changed image is **moved** (never copied, never deleted)
into the folder of its new label set (``cat+dog/``, created when missing; an
existing folder with the same labels is reused). A name already taken gets a
numbered suffix, so nothing is ever overwritten. CSV roots: the CSV is
rewritten after a backup beside it.

Every apply holds the data folder's lock alone (``data_lock``: training runs
hold it shared, so an apply never changes data a run is reading) and is
recorded in the signed journal (``relabel_journal``) before anything moves:
relative paths, sizes and SHA-256 of each moved file, and the folders it will
create. A kill at any moment leaves each image under one name
(``file_moves``), and the next apply or undo repairs what the kill cut short.
``undo_last_apply`` checks the whole journal first and puts the tree back
exactly, or refuses, changing nothing. It also undoes the exclusions of
``exclude`` (kinds "exclude" and "exclude-csv" of the same journal), which
plans its moves with this module's helpers.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping, Sequence

from mlcls_gui.core.data.data_lock import DataFolderLock, data_folder_of
from mlcls_gui.core.data.dataset import choose_layout, parse_label_folder
from mlcls_gui.core.data.labels import RULE as LABEL_RULE
from mlcls_gui.core.data.labels import folder_label_problem, label_problem
from mlcls_gui.core.data.splits import LABEL_SEPARATOR
from mlcls_gui.core.errors import DatasetError, MlclsError, os_reason
from mlcls_gui.core.files.digest import file_sha256
from mlcls_gui.core.files.safe_paths import is_inside
from mlcls_gui.core.output_names import NO_LABEL_FOLDER, UNLABELLED_FOLDER
from mlcls_gui.core.review.file_moves import (
    after_step,
    finish_interrupted_move,
    make_dirs,
    missing_dirs,
    move_no_replace,
)
from mlcls_gui.core.review.relabel_journal import (
    EXCLUDED_FOLDER,
    JOURNAL_NAME,
    JournalState,
    RelabelError,
    read_journal,
    write_journal,
)

__all__ = ["JOURNAL_NAME", "RelabelError", "Relabelled", "RelabelResult", "UndoStatus", "apply_label_changes",
           "can_undo", "journal_path", "undo_last_apply", "undo_status"]

logger = logging.getLogger(__name__)

_SHOWN_PROBLEMS = 3
_MAX_PATH_BYTES = 4000  # Linux's PATH_MAX is 4096, with room for a numbered suffix


@dataclass(frozen=True)
class Relabelled:
    """One image whose labels changed: where it was and is, and its labels before and after."""

    before: str
    after: str
    old_labels: tuple[str, ...]
    new_labels: tuple[str, ...]


@dataclass(frozen=True)
class RelabelResult:
    changed: list[Relabelled]
    journal: Path
    renamed: int = 0  # files that got a suffix because their name was taken
    csv_backup: str = ""
    notes: tuple[str, ...] = ()  # what else was done first (a foreign journal set aside, a repair)


@dataclass(frozen=True)
class UndoStatus:
    """Whether Undo can be offered for a data root, and if not, why (shown to the user)."""

    offered: bool
    reason: str = ""
    action: str = ""  # what Undo would do, when offered: "Undo excluding 3 images"


# ------------------------------------------------------------------ public
def journal_path(root: str | os.PathLike[str]) -> Path:
    """Where the journal of ``root`` lives: the data folder, or a CSV root's folder."""
    return _base(root) / JOURNAL_NAME


def undo_status(root: str | os.PathLike[str]) -> UndoStatus:
    """Read-only: whether the data root has a trusted apply to undo."""
    try:
        state = read_journal(journal_path(root))
    except MlclsError as exc:
        return UndoStatus(False, str(exc))
    if state.foreign:
        return UndoStatus(False, _foreign_message(state))
    if not state.entries:
        return UndoStatus(False)
    return UndoStatus(True, action=_undo_action(state.entries[-1]))


def can_undo(root: str | os.PathLike[str]) -> bool:
    return undo_status(root).offered


def apply_label_changes(root: str | os.PathLike[str], changes: Mapping[str, Sequence[str]]) -> RelabelResult:
    """Give each image in ``changes`` (image path → new labels) its new labels."""
    csv_path = _labels_csv(root)
    # abspath, not resolve: a symlinked image must not turn into its target's path.
    wanted = {os.path.abspath(path): _clean_labels(labels, path, folders=csv_path is None)
              for path, labels in changes.items()}
    base = _base(root)
    with DataFolderLock(base, exclusive=True):
        state, notes = _open_journal(base, set_aside_foreign=True)
        if csv_path is not None:
            result = _apply_csv(csv_path, wanted, state)
        else:
            result = _apply_folders(base, wanted, state)
    return RelabelResult(result.changed, result.journal, result.renamed, result.csv_backup, tuple(notes))


def undo_last_apply(root: str | os.PathLike[str]) -> RelabelResult:
    """Reverse the last apply exactly; RelabelError (nothing changed) when it cannot."""
    base = _base(root)
    with DataFolderLock(base, exclusive=True):
        state, notes = _open_journal(base, set_aside_foreign=False)
        if state.foreign:
            raise RelabelError(_foreign_message(state))
        if not state.entries:
            raise RelabelError(f"Nothing to undo: {base} has no applied label changes or exclusions.")
        entry = state.entries[-1]
        if entry["kind"] == "csv":
            result = _undo_csv(base, entry, state.path)
        elif entry["kind"] == "exclude-csv":
            result = _undo_exclude_csv(base, entry, state.path)
        else:  # "folders" and "exclude": moves
            result = _undo_moves(base, entry, state.path)
        write_journal(state.path, state.entries[:-1])
    logger.info("Undid %s %s in %s (%d images)", _what(entry), entry["id"], base, len(result.changed))
    return RelabelResult(result.changed, result.journal, notes=tuple(notes))


# ------------------------------------------------------------------ journal upkeep
def _open_journal(base: Path, *, set_aside_foreign: bool) -> tuple[JournalState, list[str]]:
    """The journal under the lock, after repairing an apply a kill cut short;
    a foreign journal is renamed aside (never deleted) when ``set_aside_foreign``."""
    state = read_journal(base / JOURNAL_NAME)
    notes: list[str] = []
    if state.foreign and set_aside_foreign:
        aside = _free_name(state.path.with_name(f"{JOURNAL_NAME[:-5]}.untrusted-{_stamp_for_name()}.json"), set())
        move_no_replace(state.path, aside)
        notes.append(f"Set aside a relabel journal this app did not write here ({state.foreign}) as "
                     f"{aside.name}; its applies cannot be undone here.")
        logger.warning("%s", notes[-1])
        return JournalState(state.path), notes
    interrupted = [entry for entry in state.entries if entry["state"] == "applying"]
    for entry in interrupted:
        repaired = sum(finish_interrupted_move(base / move["from"], base / move["to"])
                       for move in entry.get("moves", []))
        entry["state"] = "partial"
        notes.append(f"Repaired the apply {entry['id']}, which was interrupted"
                     + (f" ({repaired} image(s) had two names; each keeps its old one)" if repaired else "")
                     + "; Undo reverses what it did.")
        logger.warning("%s", notes[-1])
    if interrupted:
        write_journal(state.path, state.entries)
    return state, notes


def _foreign_message(state: JournalState) -> str:
    return (f"Undo is not offered: the relabel journal {state.foreign}. Undo moves files by what a journal "
            "says, so only journals this app wrote for this folder are followed. Put files back by hand if "
            "needed; the next apply sets that journal aside.")


def _what(entry: Mapping[str, Any]) -> str:
    return "the exclusion" if entry["kind"].startswith("exclude") else "the label changes of"


def _undo_action(entry: Mapping[str, Any]) -> str:
    """'Undo excluding 3 images', 'Undo relabelling 1 image'."""
    count = len(entry.get("moves", entry.get("changes", [])))
    verb = "excluding" if entry["kind"].startswith("exclude") else "relabelling"
    return f"Undo {verb} {count} image{'' if count == 1 else 's'}"


def _new_entry(kind: str, **fields: Any) -> dict[str, Any]:
    # The time for people, a random part so two applies in one second never share an id.
    return {"id": f"{datetime.now().isoformat(timespec='seconds')}-{uuid.uuid4().hex[:8]}", "kind": kind,
            "state": "applying", **fields}


def _save_outcome(journal: Path, entries: list[dict[str, Any]], entry: dict[str, Any], done: int,
                  planned: int, base: Path) -> None:
    """Record how an apply ended. One that moved nothing leaves no entry and no new folder."""
    entry["state"] = "applied" if done == planned else "partial"
    if not done:
        _remove_empty_dirs(base, entry.get("created_dirs", []))
    write_journal(journal, entries + ([entry] if done else []))


# ------------------------------------------------------------------ label folders
def _apply_folders(root: Path, wanted: dict[str, tuple[str, ...]], state: JournalState) -> RelabelResult:
    split_dirs, _ = choose_layout(root, [])
    plans: list[dict[str, Any]] = []
    new_dirs: list[Path] = []
    taken: set[str] = set()
    renamed = 0
    for path, labels in sorted(wanted.items()):
        if is_inside(path, root / EXCLUDED_FOLDER):
            raise RelabelError(f"{path} is excluded from the data set (it is in {root / EXCLUDED_FOLDER}); "
                               "Undo the exclusion to relabel it. Nothing was changed.")
        if is_inside(path, root / UNLABELLED_FOLDER):
            # Newly labelled: into a label folder (of train/ when the splits are given, so
            # the user's validation and test folders never grow behind their back).
            source, old, inner = Path(path), None, Path(path).relative_to(root / UNLABELLED_FOLDER)
            base = split_dirs["train"] if split_dirs is not None else root
        else:
            base, folder, inner = _locate(root, Path(path), split_dirs)
            old = parse_label_folder(folder, where=str(base))
            if old == labels:
                continue
            source = base / folder / inner
        _check_regular_file(source, root)
        target_dir = base / _folder_for(base, labels, root) / inner.parent
        destination = _free_name(target_dir / inner.name, taken)
        _check_destination(destination, root)
        renamed += destination.name != inner.name
        taken.add(str(destination))
        new_dirs += [d for d in missing_dirs(destination.parent) if d not in new_dirs]
        plans.append(_plan_move(source, destination, root, old, labels))
    changed = _run_moves(root, "folders", plans, new_dirs, state)
    if changed:
        logger.info("Moved %d images of %s into their new label folders (%d renamed)", len(changed), root, renamed)
    return RelabelResult(changed, state.path, renamed)


def _plan_move(source: Path, destination: Path, root: Path, old: Sequence[str] | None,
               new: Sequence[str]) -> dict[str, Any]:
    """One move of the journal: relative paths, and the size and digest Undo checks the file by
    (``old`` None: the image was unlabelled)."""
    return {"from": _rel(source, root), "to": _rel(destination, root), "size": source.stat().st_size,
            "sha256": _sha256(source), "old": None if old is None else list(old), "new": list(new)}


def _run_moves(root: Path, kind: str, plans: list[dict[str, Any]], new_dirs: list[Path],
               state: JournalState) -> list[Relabelled]:
    """Journal the planned moves, create the folders, move; what was moved (all, or raises)."""
    journal = state.path
    if not plans:
        return []
    # Journal first, with the folders it will create: a kill part-way leaves a record undo can follow.
    entry = _new_entry(kind, moves=plans, created_dirs=[_rel(d, root) for d in new_dirs])
    write_journal(journal, state.entries + [entry])
    after_step("journal-written")
    changed: list[Relabelled] = []
    try:
        make_dirs(new_dirs)
        for plan in plans:
            source, destination = root / plan["from"], root / plan["to"]
            move_no_replace(source, destination)
            changed.append(Relabelled(str(source), str(destination), tuple(plan["old"] or ()), tuple(plan["new"])))
    except BaseException as exc:
        _record_despite(exc, lambda: _save_outcome(journal, state.entries, entry, len(changed), len(plans), root))
        raise
    _save_outcome(journal, state.entries, entry, len(changed), len(plans), root)
    return changed


def _record_despite(exc: BaseException, record: Any) -> None:
    """Record the outcome of a failed apply; a second failure (a full disk) is
    added to the first error's message instead of hiding it."""
    try:
        record()
    except MlclsError as second:
        if isinstance(exc, RelabelError) and exc.args:
            exc.args = (f"{exc.args[0]} Also: {second}",)
        logger.error("%s", second)


def _undo_moves(base: Path, entry: dict[str, Any], journal: Path) -> RelabelResult:
    to_move: list[dict[str, Any]] = []
    problems: list[str] = []
    for move in entry["moves"]:
        source, destination = base / move["from"], base / move["to"]
        here = _matches(destination, move)
        if here and not os.path.lexists(source):
            to_move.append(move)
        elif not here and _matches(source, move) and not os.path.lexists(destination):
            continue  # an apply cut short never moved it
        elif here:
            problems.append(f"{source} exists again (undo never overwrites)")
        elif os.path.lexists(destination):
            problems.append(f"{destination} was changed since the apply")
        else:
            problems.append(f"{destination} was moved or deleted since the apply")
    if problems:
        more = f" (and {len(problems) - _SHOWN_PROBLEMS} more)" if len(problems) > _SHOWN_PROBLEMS else ""
        raise RelabelError(
            f"Cannot undo {_what(entry)} {entry['id']}: {'; '.join(problems[:_SHOWN_PROBLEMS])}{more}. "
            f"Nothing was changed; put the files back by hand, or delete {journal} to forget the apply.")
    changed: list[Relabelled] = []
    for move in reversed(to_move):
        source, destination = base / move["from"], base / move["to"]
        make_dirs(missing_dirs(source.parent))
        move_no_replace(destination, source)
        changed.append(Relabelled(str(destination), str(source), tuple(move["new"]), tuple(move["old"] or ())))
    _remove_empty_dirs(base, entry.get("created_dirs", []))
    return RelabelResult(changed, journal)


def _remove_empty_dirs(base: Path, folders: Sequence[str]) -> None:
    for folder in sorted(folders, key=lambda d: -len(Path(d).parts)):
        path = base / folder
        if os.path.islink(path) or not is_inside(path, base):
            continue
        try:
            path.rmdir()  # only when empty: never deletes a file
        except FileNotFoundError:
            continue
        except OSError:
            logger.info("Kept %s: it is not empty", path)


def _locate(root: Path, path: Path, split_dirs: dict[str, Path] | None) -> tuple[Path, str, Path]:
    """(folder holding the label folders, label folder name, path inside it) of an image."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        raise RelabelError(f"{path} is not inside the data folder {root}; it cannot be relabelled here.") from None
    base = root
    if split_dirs is not None:
        if not parts or parts[0] not in {p.name for p in split_dirs.values()}:
            raise RelabelError(f"{path} is not inside a train/, val/ or test/ folder of {root}.")
        base, parts = root / parts[0], parts[1:]
    if len(parts) < 2:
        raise RelabelError(f"{path} is not inside a label folder of {base}.")
    return base, parts[0], Path(*parts[1:])


def _folder_for(base: Path, labels: tuple[str, ...], root: Path) -> str:
    """An existing folder of exactly these labels (e.g. 'dog+cat'), else 'cat+dog'."""
    try:
        for entry in sorted(os.scandir(base), key=lambda e: e.name):
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            try:
                same = parse_label_folder(entry.name) == labels
            except DatasetError:
                continue
            if same and not is_inside(entry.path, root):
                raise RelabelError(f"The label folder {entry.path} is a link to a folder outside "
                                   f"{root}; nothing is moved there. Nothing was changed.")
            if same:
                return entry.name
    except OSError as exc:
        raise RelabelError(f"Cannot read {base} ({os_reason(exc)}).") from None
    return LABEL_SEPARATOR.join(labels) or NO_LABEL_FOLDER


def _free_name(path: Path, taken: set[str]) -> Path:
    """``path``, or ``stem_1.ext``, ``stem_2.ext``… when the name is in use."""
    candidate, number = path, 1
    while os.path.lexists(candidate) or str(candidate) in taken:
        candidate = path.with_name(f"{path.stem}_{number}{path.suffix}")
        number += 1
    return candidate


def _check_destination(destination: Path, root: Path) -> None:
    if not is_inside(destination, root):
        raise RelabelError(f"{destination} leads outside {root} through a symbolic link; nothing is moved "
                           "there. Nothing was changed.")
    if len(os.fsencode(destination)) > _MAX_PATH_BYTES:
        raise RelabelError(f"The new path {str(destination)[:80]}… would be longer than this system allows. "
                           "Use shorter labels or names. Nothing was changed.")


# ------------------------------------------------------------------ CSV roots
def _apply_csv(csv_path: Path, wanted: dict[str, tuple[str, ...]], state: JournalState) -> RelabelResult:
    from mlcls_gui.core.data.csv_labels import (
        CsvLabelsError,
        backup_csv,
        backup_name,
        read_labels_csv,
        render_csv_label_changes,
        write_csv_bytes,
    )

    info = read_labels_csv(csv_path)
    cells = {info.image_path(row): row for row in info.rows}
    changes: dict[str, list[str]] = {}
    changed: list[Relabelled] = []
    for path, labels in sorted(wanted.items()):
        row = cells.get(os.path.normpath(path))
        if row is None:
            raise RelabelError(f"{path} has no row in {csv_path}; nothing was changed.")
        if row.labels != labels or row.unknown:
            changes[row.path] = list(labels)
            changed.append(Relabelled(path, path, row.labels, labels))
    journal = state.path
    base = journal.parent
    if not changes:
        return RelabelResult([], journal)
    data = render_csv_label_changes(csv_path, changes)
    backup = backup_name(csv_path)
    entry = _new_entry("csv", csv=_rel(csv_path, base), backup=_rel(backup, base),
                       before_sha256=_sha256(csv_path), after_sha256=hashlib.sha256(data).hexdigest(),
                       changes=[[c.after, list(c.old_labels), list(c.new_labels)] for c in changed])
    write_journal(journal, state.entries + [entry])
    after_step("journal-written")
    try:
        backup_csv(csv_path, backup)
        after_step("backup-written")
        write_csv_bytes(csv_path, data)
        after_step("csv-written")
    except (CsvLabelsError, OSError) as exc:
        if _sha256_or_none(backup) == entry["before_sha256"]:
            backup.unlink()  # the CSV was not replaced: its copy is not needed
        _record_despite(exc, lambda: write_journal(journal, state.entries))
        raise
    entry["state"] = "applied"
    write_journal(journal, state.entries + [entry])
    logger.info("Wrote %d label change(s) into %s (backup %s)", len(changes), csv_path, backup)
    return RelabelResult(changed, journal, csv_backup=str(backup))


def _undo_csv(base: Path, entry: dict[str, Any], journal: Path) -> RelabelResult:
    from mlcls_gui.core.files.atomic_files import write_bytes_atomic

    csv_path, backup = base / entry["csv"], base / entry["backup"]
    now = _sha256_or_none(csv_path)
    if now == entry["before_sha256"] and entry["state"] != "applied":
        # An apply cut short before the CSV was replaced: only its backup is to go.
        if _sha256_or_none(backup) == entry["before_sha256"]:
            backup.unlink()
        return RelabelResult([], journal)
    if os.path.islink(backup) or _sha256_or_none(backup) != entry["before_sha256"]:
        raise RelabelError(f"Cannot undo: the backup {backup} is missing or was changed. Nothing was changed.")
    if os.path.islink(csv_path) or now != entry["after_sha256"]:
        raise RelabelError(
            f"Cannot undo: {csv_path} was edited since the apply. Nothing was changed; its labels before "
            f"the apply are in {backup}.")
    data = backup.read_bytes()
    try:
        write_bytes_atomic(csv_path, data, keep_mode=True)  # the user's file keeps its mode
    except OSError as exc:
        raise RelabelError(f"Cannot restore {csv_path} ({os_reason(exc)}); it was not changed.") from None
    backup.unlink()  # byte-identical to the restored file: the tree is as before the apply
    changed = [Relabelled(path, path, tuple(new), tuple(old)) for path, old, new in entry["changes"]]
    return RelabelResult(changed, journal)


def _undo_exclude_csv(base: Path, entry: dict[str, Any], journal: Path) -> RelabelResult:
    """Put the excluded rows back: the CSV from its backup (its rows in their first order), the
    exclusion file as it was (removed when the exclusion made it). Each file is checked first and
    restored only when it still is what the exclusion wrote; one already as before is left alone
    (an exclusion cut short, or an undo cut short between the two)."""
    from mlcls_gui.core.files.atomic_files import write_bytes_atomic

    csv_path, backup, excluded = base / entry["csv"], base / entry["backup"], base / entry["excluded"]
    before, excluded_before = entry["before_sha256"], entry["excluded_before_sha256"] or None
    now, excluded_now = _sha256_or_none(csv_path), _sha256_or_none(excluded)
    restore_csv, restore_excluded = now == entry["after_sha256"], excluded_now == entry["excluded_after_sha256"]
    if os.path.islink(csv_path) or not (restore_csv or now == before):
        raise RelabelError(f"Cannot undo: {csv_path} was edited since the exclusion. Nothing was changed; its "
                           f"rows before the exclusion are in {backup}.")
    if os.path.islink(excluded) or not (restore_excluded or excluded_now == excluded_before):
        raise RelabelError(f"Cannot undo: {excluded} was edited since the exclusion. Nothing was changed; "
                           f"the rows of {csv_path} before the exclusion are in {backup}.")
    if restore_csv and (os.path.islink(backup) or _sha256_or_none(backup) != before):
        raise RelabelError(f"Cannot undo: the backup {backup} is missing or was changed. Nothing was changed.")
    kept = b""
    if restore_excluded and excluded_before is not None:
        kept = excluded.read_bytes()[:entry["excluded_before_size"]]
        if hashlib.sha256(kept).hexdigest() != excluded_before:
            raise RelabelError(f"Cannot undo: {excluded} does not begin with its rows before the exclusion. "
                               "Nothing was changed.")
    try:
        # The CSV first: cut short here, the rows are in both files, never in neither.
        if restore_csv:
            write_bytes_atomic(csv_path, backup.read_bytes(), keep_mode=True)
        if restore_excluded and excluded_before is not None:
            write_bytes_atomic(excluded, kept, keep_mode=True)
        elif restore_excluded:
            excluded.unlink()  # it holds exactly what the exclusion wrote
    except OSError as exc:
        raise RelabelError(f"Cannot restore {csv_path} and {excluded} ({os_reason(exc)}); Undo again to "
                           "finish.") from None
    if _sha256_or_none(backup) == before:
        backup.unlink()  # byte-identical to the restored file: the tree is as before the exclusion
    changed = [Relabelled(path, path, (), tuple(old)) for path, old, _new in entry["changes"]]
    return RelabelResult(changed, journal)


# ------------------------------------------------------------------ helpers
def _labels_csv(root: str | os.PathLike[str]) -> Path | None:
    from mlcls_gui.core.data.csv_labels import find_labels_csv

    return find_labels_csv(root)


def _base(root: str | os.PathLike[str]) -> Path:
    try:
        return data_folder_of(root)
    except DatasetError as exc:
        raise RelabelError(str(exc)) from None


def _clean_labels(labels: Sequence[str], path: str, *, folders: bool) -> tuple[str, ...]:
    """Sorted, unique, allowed as labels, and (for label folders) usable as a folder name."""
    if isinstance(labels, str):
        labels = [labels]
    cleaned = tuple(sorted({str(label).strip() for label in labels}))  # () : none of the labels
    problem = next((p for p in map(label_problem, cleaned) if p), "")
    if problem:
        raise RelabelError(f"{path} cannot get that label: {problem}. {LABEL_RULE} Nothing was changed.")
    problem = folder_label_problem(cleaned) if folders else ""
    if problem:
        raise RelabelError(f"{path} cannot get these labels: {problem}. Nothing was changed.")
    return cleaned


def _check_regular_file(path: Path, root: Path) -> None:
    if path.is_symlink():
        raise RelabelError(f"{path} is a symbolic link, not an image file; it is not moved (move the file "
                           "it leads to instead). Nothing was changed.")
    if not path.is_file():
        raise RelabelError(f"{path} is no longer there (moved or deleted since the review); rescan "
                           "the data folder. Nothing was changed.")
    if not is_inside(path, root):
        raise RelabelError(f"{path} lies outside {root} (its label folder is a symbolic link); it is not "
                           "moved. Nothing was changed.")


def _matches(path: Path, move: Mapping[str, Any]) -> bool:
    try:
        return (path.is_file() and not path.is_symlink() and path.stat().st_size == move["size"]
                and _sha256(path) == move["sha256"])
    except (OSError, RelabelError):
        return False


def _sha256(path: Path) -> str:
    try:
        return file_sha256(path)
    except OSError as exc:
        raise RelabelError(f"Cannot read {path} ({os_reason(exc)}). Nothing was changed.") from None


def _sha256_or_none(path: Path) -> str | None:
    try:
        return None if os.path.islink(path) else _sha256(path)
    except RelabelError:
        return None


def _rel(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix()


def _stamp_for_name() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")
