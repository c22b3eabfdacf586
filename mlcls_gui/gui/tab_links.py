"""The Runs tab's links to the rest of the window: open a run's model in
Predict or Evaluate, follow the output folder, refresh when a run starts or
ends. Kept out of ``main_window.py`` so the window only owns a run's lifecycle."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Slot

from .runs_tab import RunsTab


class RunsTabLinks(QObject):
    """Connects ``window.runs_tab`` (a RunsTab) to the window's other panels."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self._window = window
        tab: RunsTab = window.runs_tab
        tab.open_in_predict.connect(self._open_in_predict)
        tab.open_in_evaluate.connect(self._open_in_evaluate)
        # Pruning earlier runs removes rows.
        window.archive_panel.pruned.connect(lambda _count: tab.refresh())

    @Slot(str)
    def _open_in_predict(self, path: str) -> None:
        self._window.predict_panel.set_model_file(path)
        self._window.main_tabs.setCurrentIndex(0)

    @Slot(str)
    def _open_in_evaluate(self, path: str) -> None:
        window = self._window
        panel = window.evaluate_panel
        if panel.is_busy():
            window.statusBar().showMessage("Evaluate is busy; try again when it has finished.", 5000)
            return
        panel.set_model_path(path)
        record = window.runs_tab.record_for_model(path)
        if record is not None and record.data_root:
            panel.set_data_root(record.data_root)
            panel.set_split("test")
        window.main_tabs.setCurrentWidget(panel)
