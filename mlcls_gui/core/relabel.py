"""Apply label changes to a data root, with an undo journal.

Label folders: each changed image is **moved** (never copied, never deleted)
into the folder of its new label set (``cat+dog/``, created when missing; an
existing folder with the same labels is reused). A name already taken gets a
numbered suffix, so nothing is ever overwritten. CSV roots: the CSV is
rewritten (``csv_labels.apply_csv_label_changes``, which keeps a backup).

Every apply is recorded in ``.mlcls-relabel-journal.json`` beside the data
(relative paths, sizes and SHA-256 of each moved file) before anything moves;
``undo_last_apply`` puts the tree back exactly and refuses, changing nothing,
when a file was changed, moved or replaced since.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping, Sequence

from .atomic_files import write_bytes_atomic, write_json_atomic
from .dataset import LABEL_SEPARATOR, check_data_root, choose_layout, os_reason, parse_label_folder
from .errors import DatasetError, MlclsError

logger = logging.getLogger(__name__)

JOURNAL_NAME = ".mlcls-relabel-journal.json"
JOURNAL_FORMAT = "mlcls-relabel-journal"
_SHOWN_PROBLEMS = 3


class RelabelError(MlclsError):
    """Label changes cannot be applied or undone (nothing was changed)."""


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


# ------------------------------------------------------------------ public
def journal_path(root: str | os.PathLike[str]) -> Path:
    """Where the journal of ``root`` lives: the data folder, or a CSV root's folder."""
    csv_path = _labels_csv(root)
    return (csv_path.parent if csv_path else _data_folder(root)) / JOURNAL_NAME


def can_undo(root: str | os.PathLike[str]) -> bool:
    try:
        return bool(_read_journal(journal_path(root)))
    except MlclsError:
        return False


def apply_label_changes(root: str | os.PathLike[str], changes: Mapping[str, Sequence[str]]) -> RelabelResult:
    """Give each image in ``changes`` (image path → new labels) its new labels."""
    csv_path = _labels_csv(root)
    # abspath, not resolve: a symlinked image must not turn into its target's path.
    wanted = {os.path.abspath(path): _clean_labels(labels, path) for path, labels in changes.items()}
    if csv_path is not None:
        return _apply_csv(csv_path, wanted)
    return _apply_folders(_data_folder(root), wanted)


def undo_last_apply(root: str | os.PathLike[str]) -> RelabelResult:
    """Reverse the last apply exactly; RelabelError (nothing changed) when it cannot."""
    journal = journal_path(root)
    entries = _read_journal(journal)
    if not entries:
        raise RelabelError(f"Nothing to undo: {journal.parent} has no applied label changes.")
    entry = entries[-1]
    base = journal.parent
    result = _undo_csv(base, entry, journal) if entry["kind"] == "csv" else _undo_moves(base, entry, journal)
    _write_journal(journal, entries[:-1])
    logger.info("Undid the label changes of %s in %s (%d images)", entry["id"], base, len(result.changed))
    return result


# ------------------------------------------------------------------ label folders
def _apply_folders(root: Path, wanted: dict[str, tuple[str, ...]]) -> RelabelResult:
    split_dirs, _ = choose_layout(root, [])
    plans: list[dict[str, Any]] = []
    taken: set[str] = set()
    renamed = 0
    for path, labels in sorted(wanted.items()):
        base, folder, inner = _locate(root, Path(path), split_dirs)
        old = parse_label_folder(folder, where=str(base))
        if old == labels:
            continue
        source = base / folder / inner
        _check_regular_file(source)
        target_dir = base / _folder_for(base, labels) / inner.parent
        destination = _free_name(target_dir / inner.name, taken)
        renamed += destination.name != inner.name
        taken.add(str(destination))
        plans.append({"from": _rel(source, root), "to": _rel(destination, root),
                      "size": source.stat().st_size, "sha256": _sha256(source),
                      "old": list(old), "new": list(labels)})
    journal = root / JOURNAL_NAME
    if not plans:
        return RelabelResult([], journal)
    entries = _read_journal(journal)
    entry = {"id": _stamp(), "kind": "folders", "state": "applying", "moves": plans, "created_dirs": []}
    # Journal first: a crash part-way leaves a record undo can follow.
    _write_journal(journal, entries + [entry])
    changed: list[Relabelled] = []
    try:
        for plan in plans:
            source, destination = root / plan["from"], root / plan["to"]
            entry["created_dirs"] += [_rel(d, root) for d in _make_dirs(destination.parent)]
            _move_no_replace(source, destination)
            changed.append(Relabelled(str(source), str(destination), tuple(plan["old"]), tuple(plan["new"])))
    finally:
        entry["state"] = "applied" if len(changed) == len(plans) else "partial"
        _write_journal(journal, entries + ([entry] if changed else []))
    logger.info("Moved %d images of %s into their new label folders (%d renamed)", len(changed), root, renamed)
    return RelabelResult(changed, journal, renamed)


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
            f"Cannot undo the label changes of {entry['id']}: {'; '.join(problems[:_SHOWN_PROBLEMS])}{more}. "
            f"Nothing was changed; put the files back by hand, or delete {journal} to forget the apply.")
    changed: list[Relabelled] = []
    for move in reversed(to_move):
        source, destination = base / move["from"], base / move["to"]
        _make_dirs(source.parent)
        _move_no_replace(destination, source)
        changed.append(Relabelled(str(destination), str(source), tuple(move["new"]), tuple(move["old"])))
    for folder in sorted(entry.get("created_dirs", []), key=lambda d: -len(Path(d).parts)):
        try:
            (base / folder).rmdir()  # only when empty: never deletes a file
        except OSError:
            logger.info("Kept %s: it is not empty", base / folder)
    return RelabelResult(changed, journal)


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


def _folder_for(base: Path, labels: tuple[str, ...]) -> str:
    """An existing folder of exactly these labels (e.g. 'dog+cat'), else 'cat+dog'."""
    try:
        for entry in sorted(os.scandir(base), key=lambda e: e.name):
            if entry.is_dir() and not entry.name.startswith("."):
                try:
                    if parse_label_folder(entry.name) == labels:
                        return entry.name
                except DatasetError:
                    continue
    except OSError as exc:
        raise RelabelError(f"Cannot read {base} ({os_reason(exc)}).") from None
    return LABEL_SEPARATOR.join(labels)


def _free_name(path: Path, taken: set[str]) -> Path:
    """``path``, or ``stem_1.ext``, ``stem_2.ext``… when the name is in use."""
    candidate, number = path, 1
    while os.path.lexists(candidate) or str(candidate) in taken:
        candidate = path.with_name(f"{path.stem}_{number}{path.suffix}")
        number += 1
    return candidate


def _move_no_replace(source: Path, destination: Path) -> None:
    """Rename that never replaces: link + unlink refuses an existing name atomically;
    where hard links are not supported, check then rename."""
    try:
        os.link(source, destination, follow_symlinks=False)
    except FileExistsError:
        raise RelabelError(f"{destination} already exists; it was not overwritten.") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
            raise RelabelError(f"Cannot move {source} to {destination} ({os_reason(exc)}).") from None
        if os.path.lexists(destination):
            raise RelabelError(f"{destination} already exists; it was not overwritten.") from None
        try:
            os.rename(source, destination)
        except OSError as exc2:
            raise RelabelError(f"Cannot move {source} to {destination} ({os_reason(exc2)}).") from None
        return
    try:
        os.unlink(source)
    except OSError as exc:
        os.unlink(destination)  # the second name we just made; the file stays where it was
        raise RelabelError(f"Cannot move {source} ({os_reason(exc)}); it was left where it was.") from None


def _make_dirs(folder: Path) -> list[Path]:
    """Create ``folder`` and missing parents; the ones created, outermost first."""
    missing: list[Path] = []
    current = folder
    while not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir()
        except OSError as exc:
            raise RelabelError(f"Cannot create the folder {path} ({os_reason(exc)}).") from None
    return list(reversed(missing))


# ------------------------------------------------------------------ CSV roots
def _apply_csv(csv_path: Path, wanted: dict[str, tuple[str, ...]]) -> RelabelResult:
    from .csv_labels import apply_csv_label_changes, read_labels_csv

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
    journal = csv_path.parent / JOURNAL_NAME
    if not changes:
        return RelabelResult([], journal)
    entries = _read_journal(journal)
    before = _sha256(csv_path)
    backup = apply_csv_label_changes(csv_path, changes)
    entry = {"id": _stamp(), "kind": "csv", "state": "applied", "csv": _rel(csv_path, journal.parent),
             "backup": _rel(backup, journal.parent), "before_sha256": before, "after_sha256": _sha256(csv_path),
             "changes": [[c.after, list(c.old_labels), list(c.new_labels)] for c in changed]}
    _write_journal(journal, entries + [entry])
    return RelabelResult(changed, journal, csv_backup=str(backup))


def _undo_csv(base: Path, entry: dict[str, Any], journal: Path) -> RelabelResult:
    csv_path, backup = base / entry["csv"], base / entry["backup"]
    if not backup.is_file() or _sha256(backup) != entry["before_sha256"]:
        raise RelabelError(f"Cannot undo: the backup {backup} is missing or was changed. Nothing was changed.")
    if not csv_path.is_file() or _sha256(csv_path) != entry["after_sha256"]:
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


# ------------------------------------------------------------------ journal
def _read_journal(journal: Path) -> list[dict[str, Any]]:
    try:
        text = journal.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise RelabelError(f"Cannot read the relabel journal {journal} ({os_reason(exc)}).") from None
    try:
        data = json.loads(text)
        entries = data["applies"]
        if data.get("format") != JOURNAL_FORMAT or not isinstance(entries, list):
            raise ValueError("not a relabel journal")
        for entry in entries:
            if entry["kind"] not in ("folders", "csv"):
                raise ValueError(f"unknown kind {entry['kind']!r}")
    except (ValueError, KeyError, TypeError) as exc:
        raise RelabelError(
            f"The relabel journal {journal} is damaged ({exc}); nothing was changed. Move it away to "
            "start a new one (its applies can then no longer be undone here).") from None
    return entries


def _write_journal(journal: Path, entries: list[dict[str, Any]]) -> None:
    """Atomically; an empty journal is removed, so undoing everything leaves no trace."""
    try:
        if not entries:
            journal.unlink(missing_ok=True)
            return
        write_json_atomic(journal, {"format": JOURNAL_FORMAT, "version": 1, "applies": entries}, indent=1)
    except OSError as exc:
        raise RelabelError(f"Cannot write the relabel journal {journal} ({os_reason(exc)}).") from None


# ------------------------------------------------------------------ helpers
def _labels_csv(root: str | os.PathLike[str]) -> Path | None:
    from .csv_labels import find_labels_csv

    return find_labels_csv(root)


def _data_folder(root: str | os.PathLike[str]) -> Path:
    try:
        return check_data_root(root)
    except DatasetError as exc:
        raise RelabelError(str(exc)) from None


def _clean_labels(labels: Sequence[str], path: str) -> tuple[str, ...]:
    """Sorted, unique, and each usable as part of a folder name."""
    if isinstance(labels, str):
        labels = [labels]
    cleaned = tuple(sorted({str(label).strip() for label in labels}))
    if not cleaned:
        raise RelabelError(f"{path} would have no label; every image needs at least one. Nothing was changed.")
    for label in cleaned:
        if (not label or label.startswith(".") or LABEL_SEPARATOR in label
                or any(ch in label for ch in '/\\\0')):
            raise RelabelError(
                f"{label!r} cannot be a label of {path}: labels may not be empty, start with '.', "
                "or contain '+', '/' or '\\'. Nothing was changed.")
    return cleaned


def _check_regular_file(path: Path) -> None:
    if not path.is_file() or path.is_symlink():
        raise RelabelError(f"{path} is no longer there (moved or deleted since the review); rescan "
                           "the data folder. Nothing was changed.")


def _matches(path: Path, move: Mapping[str, Any]) -> bool:
    try:
        return (path.is_file() and not path.is_symlink() and path.stat().st_size == move["size"]
                and _sha256(path) == move["sha256"])
    except (OSError, RelabelError):
        return False


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise RelabelError(f"Cannot read {path} ({os_reason(exc)}). Nothing was changed.") from None
    return digest.hexdigest()


def _rel(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix()


def _stamp() -> str:
    return datetime.now().isoformat(timespec="seconds")
