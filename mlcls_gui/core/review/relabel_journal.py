"""The relabel journal: what an apply did, so that Undo can reverse it exactly.

``.mlcls-relabel-journal.json`` lives in the data folder. A data set may come
with one (sent by someone, or edited), and Undo moves files by what it says,
so a journal is trusted only when

- it carries this user's signature (HMAC-SHA256 with a key kept in the
  user's config folder, ``$XDG_CONFIG_HOME/mlcls-gui/journal-key``) over its
  whole content and the identity of the folder it was written for, and
- every entry passes ``check_entry``: the right types, and every path a
  plain relative path that stays inside the data folder after symlinks.

Its entries are of four kinds: "folders" and "csv" (a relabel), "exclude"
and "exclude-csv" (images taken out of the data set, see ``exclude``).

A journal that fails the first is *foreign*: never offered for Undo, and set
aside (renamed, never deleted) by the next apply. One that fails the second
is refused as damaged, naming the file and the field.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlcls_gui.core.data.images import is_image_path
from mlcls_gui.core.errors import MlclsError, os_reason
from mlcls_gui.core.files.atomic_files import write_json_atomic
from mlcls_gui.core.files.safe_paths import inside_problem, open_no_follow, real
from mlcls_gui.core.output_names import EXCLUDED_FOLDER  # the folder an exclusion moves images into

logger = logging.getLogger(__name__)

JOURNAL_NAME = ".mlcls-relabel-journal.json"
JOURNAL_FORMAT = "mlcls-relabel-journal"
JOURNAL_VERSION = 2
KEY_NAME = "journal-key"
# Where a CSV root's excluded rows go, beside the CSV: excluded_labels.csv for labels.csv.
EXCLUDED_CSV_PREFIX = "excluded_"
KINDS = ("folders", "csv", "exclude", "exclude-csv")
STATES = ("applying", "applied", "partial")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_MAX_ID = 100
_process_key: bytes | None = None  # when the config folder cannot hold the key


class RelabelError(MlclsError):
    """Label changes cannot be applied or undone (nothing was changed)."""


@dataclass(frozen=True)
class JournalState:
    """A data folder's journal as read: its entries when trusted, else why not."""

    path: Path
    entries: list[dict[str, Any]] = field(default_factory=list)
    foreign: str = ""  # why the journal is not trusted; '' when it is (or there is none)

    @property
    def exists(self) -> bool:
        return os.path.lexists(self.path)


# ------------------------------------------------------------------ reading
def read_journal(journal: Path) -> JournalState:
    """The journal beside the data; RelabelError when it cannot be read or is damaged."""
    base = journal.parent
    if os.path.islink(journal):
        return JournalState(journal, foreign=f"{journal} is a symbolic link, not a journal this app wrote")
    try:
        text = journal.read_text(encoding="utf-8")
    except FileNotFoundError:
        return JournalState(journal)
    except (OSError, UnicodeDecodeError) as exc:
        raise RelabelError(f"Cannot read the relabel journal {journal} ({os_reason(exc)}).") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _damaged(journal, f"not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != JOURNAL_FORMAT:
        raise _damaged(journal, "not a relabel journal")
    foreign = _why_foreign(data, base)
    if foreign:
        return JournalState(journal, foreign=f"{journal} {foreign}")
    entries = data["applies"]
    if not isinstance(entries, list) or not entries:
        raise _damaged(journal, "'applies' is not a list of applies")
    for number, entry in enumerate(entries, start=1):
        problem = check_entry(entry, base)
        if problem:
            raise _damaged(journal, f"apply {number}: {problem}")
    return JournalState(journal, entries)


def check_entry(entry: Any, base: Path) -> str:
    """Why one journal entry cannot be followed, or ''. Nothing is read but its text."""
    if not isinstance(entry, dict):
        return "not an object"
    if not isinstance(entry.get("id"), str) or not 0 < len(entry["id"]) <= _MAX_ID:
        return "'id' is not a short text"
    if entry.get("state") not in STATES:
        return f"'state' {entry.get('state')!r:.40} is not one of {', '.join(STATES)}"
    kind = entry.get("kind")
    if kind == "folders":
        return _check_folder_entry(entry, base)
    if kind == "csv":
        return _check_csv_entry(entry, base)
    if kind == "exclude":
        return _check_folder_entry(entry, base) or _check_exclude_moves(entry)
    if kind == "exclude-csv":
        return _check_csv_entry(entry, base) or _check_exclude_csv_entry(entry, base)
    return f"'kind' {kind!r:.40} is not one of {', '.join(KINDS)}"


def _check_folder_entry(entry: dict[str, Any], base: Path) -> str:
    moves, created = entry.get("moves"), entry.get("created_dirs")
    if not isinstance(moves, list) or not isinstance(created, list):
        return "'moves' and 'created_dirs' must be lists"
    for move in moves:
        if not isinstance(move, dict):
            return "a move is not an object"
        for key in ("from", "to"):
            problem = inside_problem(move.get(key), base) or _image_problem(move.get(key))
            if problem:
                return f"'{key}': {problem}"
        if move["from"] == move["to"]:
            return f"'from' and 'to' are both {move['from']!r:.80}"
        if not isinstance(move.get("size"), int) or isinstance(move["size"], bool) or move["size"] < 0:
            return "'size' is not a whole number of bytes"
        if not _is_digest(move.get("sha256")):
            return "'sha256' is not a SHA-256 digest"
        old = move.get("old")  # None: the image was unlabelled
        if not (old is None or _is_label_list(old)) or not _is_label_list(move.get("new")):
            return "'old' and 'new' must be lists of labels"
    for folder in created:
        problem = inside_problem(folder, base)
        if problem:
            return f"'created_dirs': {problem}"
    return ""


def _check_csv_entry(entry: dict[str, Any], base: Path) -> str:
    csv_rel, backup = entry.get("csv"), entry.get("backup")
    for key, value in (("csv", csv_rel), ("backup", backup)):
        problem = inside_problem(value, base)
        if problem:
            return f"'{key}': {problem}"
    if not csv_rel.lower().endswith(".csv"):
        return f"'csv' {csv_rel!r:.80} is not a .csv file"
    if not backup.startswith(f"{csv_rel}.bak-"):
        return f"'backup' {backup!r:.80} is not a backup of {csv_rel!r:.80}"
    if not _is_digest(entry.get("before_sha256")) or not _is_digest(entry.get("after_sha256")):
        return "'before_sha256' and 'after_sha256' must be SHA-256 digests"
    changes = entry.get("changes")
    if not isinstance(changes, list) or not all(
            isinstance(c, list) and len(c) == 3 and isinstance(c[0], str) and _is_label_list(c[1])
            and _is_label_list(c[2]) for c in changes):
        return "'changes' is not a list of [path, old labels, new labels]"
    return ""


def _check_exclude_moves(entry: dict[str, Any]) -> str:
    """An exclusion only moves an image from the data set into excluded/ (its undo: back out)."""
    for move in entry["moves"]:
        if Path(move["from"]).parts[0] == EXCLUDED_FOLDER or Path(move["to"]).parts[0] != EXCLUDED_FOLDER:
            return f"the move {move['from']!r:.80} -> {move['to']!r:.80} is not into {EXCLUDED_FOLDER}/"
        if move["new"]:
            return "an excluded image has no new labels"
    return ""


def _check_exclude_csv_entry(entry: dict[str, Any], base: Path) -> str:
    csv_rel, excluded = entry["csv"], entry.get("excluded")
    expected = (Path(csv_rel).parent / f"{EXCLUDED_CSV_PREFIX}{Path(csv_rel).name}").as_posix()
    if excluded != expected:
        return f"'excluded' {excluded!r:.80} is not {expected!r:.80}"
    problem = inside_problem(excluded, base)
    if problem:
        return f"'excluded': {problem}"
    before = entry.get("excluded_before_sha256")
    if not (before == "" or _is_digest(before)) or not _is_digest(entry.get("excluded_after_sha256")):
        return "'excluded_before_sha256' and 'excluded_after_sha256' must be SHA-256 digests"
    size = entry.get("excluded_before_size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0 or (before == "" and size):
        return "'excluded_before_size' is not a whole number of bytes"
    if any(change[2] for change in entry["changes"]):
        return "an excluded row has no new labels"
    return ""


def _image_problem(relative: Any) -> str:
    # An apply only ever moves images: a journal that names other files is not one of ours.
    return "" if is_image_path(str(relative)) else f"{relative!r:.80} is not an image file"


def _is_digest(value: Any) -> bool:
    return isinstance(value, str) and bool(_HEX64.fullmatch(value))


def _is_label_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(label, str) for label in value)


def _damaged(journal: Path, problem: str) -> RelabelError:
    return RelabelError(
        f"The relabel journal {journal} is damaged ({problem}); nothing was changed. Move it away to "
        "start a new one (its applies can then no longer be undone here).")


# ------------------------------------------------------------------ trust
def _why_foreign(data: dict[str, Any], base: Path) -> str:
    """Why ``data`` is not a journal this user's app wrote for ``base``, or ''."""
    if data.get("version") != JOURNAL_VERSION or not isinstance(data.get("signature"), str):
        return "has no signature of this app (an earlier version wrote it, or it came from elsewhere)"
    if not hmac.compare_digest(data["signature"], _sign(data.get("folder"), data.get("applies"))):
        return "was not written by mlcls-gui for this user, or was edited since"
    folder = data.get("folder")
    if not isinstance(folder, dict) or not _same_folder(folder, base):
        written_for = folder.get("path") if isinstance(folder, dict) else "?"
        return f"was written for another folder ({written_for!s:.200})"
    return ""


def folder_identity(base: Path) -> dict[str, Any]:
    info = os.stat(base)
    return {"path": str(real(base)), "device": info.st_dev, "inode": info.st_ino}


def _same_folder(recorded: dict[str, Any], base: Path) -> bool:
    """The same folder by path (restored in place) or by identity (renamed or moved)."""
    try:
        here = folder_identity(base)
    except OSError:
        return False
    return recorded.get("path") == here["path"] or (
        recorded.get("device") == here["device"] and recorded.get("inode") == here["inode"])


def _sign(folder: Any, applies: Any) -> str:
    text = json.dumps({"folder": folder, "applies": applies}, sort_keys=True, separators=(",", ":"))
    return hmac.new(_journal_key(), text.encode("utf-8"), hashlib.sha256).hexdigest()


def key_path() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(config) if config and os.path.isabs(config) else Path.home() / ".config"
    return base / "mlcls-gui" / KEY_NAME


def _journal_key() -> bytes:
    """This user's signing key, made on first use (0600); one for this process
    when the config folder cannot hold it (Undo then works until the app closes)."""
    global _process_key
    path = key_path()
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except OSError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = open_no_follow(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(os.urandom(32))
        return path.read_bytes()
    except FileExistsError:
        return path.read_bytes()  # another process made it just now
    except OSError as exc:
        if _process_key is None:
            logger.warning("Cannot keep the relabel journal key in %s (%s); Undo works until the app "
                           "closes.", path, os_reason(exc))
            _process_key = os.urandom(32)
        return _process_key


# ------------------------------------------------------------------ writing
def write_journal(journal: Path, entries: list[dict[str, Any]]) -> None:
    """Signed and atomic; an empty journal is removed, so undoing everything leaves no trace."""
    try:
        if not entries:
            if os.path.lexists(journal):
                journal.unlink()
            return
        folder = folder_identity(journal.parent)
        write_json_atomic(journal, {"format": JOURNAL_FORMAT, "version": JOURNAL_VERSION, "folder": folder,
                                    "applies": entries, "signature": _sign(folder, entries)}, indent=1)
    except OSError as exc:
        raise RelabelError(f"Cannot write the relabel journal {journal} ({os_reason(exc)}).") from None

