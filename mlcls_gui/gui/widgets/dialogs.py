"""Error dialogs: a one-line summary, expandable details, never blocking the event loop."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from mlcls_gui.core.ops.output_guard import kept_file

logger = logging.getLogger(__name__)


def open_in_file_manager(folder: str) -> str:
    """Show ``folder`` in the file manager: "" when one opened it, else what to tell the user."""
    if QDesktopServices.openUrl(QUrl.fromLocalFile(folder)):
        return ""
    return f"No file manager could open {folder}. The files are there; open the folder yourself."


def show_error(parent: QWidget | None, title: str, summary: str, details: str = "") -> QMessageBox:
    """Open (window-modal, non-blocking) an error box and return it.

    ``details`` (e.g. a traceback) sits behind "Show Details…"; the app keeps
    running, so a failed run never takes the window with it."""
    logger.info("%s: %s", title, summary)
    box = QMessageBox(parent)
    box.setObjectName("errorBox")
    box.setIcon(QMessageBox.Icon.Critical)
    box.setWindowTitle(title)
    box.setText(summary)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if details:
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


def confirm_replace(parent: QWidget | None, path: str, new: str = "the new file") -> bool:
    """True when ``path`` may be written: it does not exist, or the user agreed to
    replace it after being told what it is (a model file, a labels CSV, a run's
    file …). A symlink or one of the app's own files is refused, never asked."""
    target = Path(path).expanduser()
    kept = kept_file(target)
    if kept is not None and kept.final:
        show_error(parent, "Choose another file", f"{path} {kept.reason}; choose another file name.")
        return False
    if not target.exists():
        return True
    what = f"{path} exists already and {kept.reason}." if kept else f"{path} exists already."
    answer = QMessageBox.question(
        parent, "Replace the file?", f"{what} Replace it with {new}?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel)
    return answer == QMessageBox.StandardButton.Yes


def ask_save_file(parent: QWidget | None, title: str, start: str, file_filter: str) -> str:
    """A save dialog whose replace question names what the existing file is
    (Qt's own question cannot); "" when the user cancels or declines."""
    path, _ = QFileDialog.getSaveFileName(parent, title, start, file_filter,
                                          options=QFileDialog.Option.DontConfirmOverwrite)
    if path and not confirm_replace(parent, path):
        return ""
    return path


CLOSE_SKIP_TEST = "skip-test"
CLOSE_FINISH_TEST = "finish-test"
CLOSE_CANCEL = "cancel"


def ask_close_during_run(parent: QWidget | None, has_test_split: bool) -> str:
    """Quit during a run: stop now without the test evaluation, stop after it, or keep training.

    Returns CLOSE_SKIP_TEST, CLOSE_FINISH_TEST or CLOSE_CANCEL."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Training is running")
    box.setText("A training run is in progress. Stop it and close?")
    test = (
        "<b>Stop and close</b> skips the test evaluation: summary.json then has no test "
        "metrics (the Evaluate tab can compute them later from the final model).<br>"
        "<b>Finish the test evaluation first</b> evaluates the best model on the test split, "
        "then closes."
        if has_test_split else "")
    box.setInformativeText(
        "The current batch finishes; the best checkpoint and the final model are kept.<br><br>" + test)
    skip = box.addButton("Stop and close", QMessageBox.ButtonRole.DestructiveRole)
    finish = box.addButton("Finish the test evaluation first", QMessageBox.ButtonRole.AcceptRole) \
        if has_test_split else None
    cancel = box.addButton("Keep training", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(cancel)
    box.exec()
    clicked = box.clickedButton()
    if clicked is skip:
        return CLOSE_SKIP_TEST
    if finish is not None and clicked is finish:
        return CLOSE_FINISH_TEST
    return CLOSE_CANCEL
