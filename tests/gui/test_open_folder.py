"""Open output folder without a file manager says so, in the run panel and the Runs tab."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtGui import QDesktopServices
from pytestqt.qtbot import QtBot

from mlcls_gui.gui.train.run_panel import RunPanel


def test_open_output_folder_without_a_file_manager_says_where_the_files_are(
        qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: False))  # none installed
    panel = RunPanel()
    qtbot.addWidget(panel)
    panel.show_summary("<b>Training completed.</b>", str(tmp_path))
    panel.open_folder_button.click()
    box = panel.last_error_box
    assert box is not None and str(tmp_path) in box.text() and "No file manager" in box.text()
    box.close()
