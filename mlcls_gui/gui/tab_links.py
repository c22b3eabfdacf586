"""Links between the window's panels that are not about a run's lifecycle:
the Runs tab (open a run's model in Predict or Evaluate, refresh when earlier
runs are pruned), the model opened in Predict (passed on to Evaluate and Batch
predict, once they are idle), the Review tab (follows the data folder and the model in
Predict; the data panel rescans after an apply or undo) and the learning-rate finder (opened from the settings form,
its suggestion applied to it), and the Health tab (follows the data folder, the
model in Predict and the split settings; its images open in Try the model, its
map's selection goes to Review, its report becomes split_groups). Kept out of ``main_window.py`` so the window only
owns a run's lifecycle."""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QObject, Qt, Slot

from mlcls_gui.gui.health.health_tab import HealthTab
from mlcls_gui.gui.review.labelling_tab import LabellingTab
from mlcls_gui.gui.review.review_tab import ReviewTab
from mlcls_gui.gui.runs.runs_tab import RunsTab
from mlcls_gui.gui.settings.lr_find_dialog import LrFindDialog


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
        self._window.show_predict()

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


class PredictModelLink(QObject):
    """The model opened in Predict becomes Evaluate's and Batch predict's; a panel
    that is busy then gets it when its job ends, so it never keeps an old one."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self._panels = (window.evaluate_panel, window.batch_predict_panel)
        self._pending: dict[int, str] = {}  # index in _panels -> the model waiting for it
        window.predict_panel.model_loaded.connect(self._on_model_loaded)
        window.evaluate_panel.evaluation_finished.connect(self._on_evaluate_finished)
        window.batch_predict_panel.finished.connect(self._on_batch_predict_finished)

    @Slot(str)
    def _on_model_loaded(self, path: str) -> None:
        for index, panel in enumerate(self._panels):
            if panel.is_busy():
                self._pending[index] = path
            else:
                self._pending.pop(index, None)
                panel.set_model_path(path)

    @Slot(str)
    def _on_evaluate_finished(self, _outcome: str) -> None:
        self._pass_on(0)

    @Slot(str)
    def _on_batch_predict_finished(self, _outcome: str) -> None:
        self._pass_on(1)

    def _pass_on(self, index: int) -> None:
        path = self._pending.pop(index, None)
        if path is not None:
            self._panels[index].set_model_path(path)


class LrFinderLink(QObject):
    """Opens the learning-rate finder on the form's settings; Apply sets the
    form's learning rate. One dialog at a time; it is shut down with the window."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self._window = window
        self.dialog: LrFindDialog | None = None
        window.config_form.lr_find_requested.connect(self.open)

    @Slot()
    def open(self) -> None:
        window = self._window
        if self.dialog is not None:
            self.dialog.raise_()
            self.dialog.activateWindow()
            return
        config = window.config_form.config()
        problem = ("Fix the settings marked in red first." if config is None
                   else "Choose a data folder first: the test trains on its images." if not config.images_root
                   else window.data_panel.blocking_reason())
        if problem:
            window.statusBar().showMessage(f"Learning-rate finder: {problem}", 8000)
            return
        dialog = LrFindDialog(config, window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.applied.connect(self._apply)
        dialog.destroyed.connect(self._forget)
        self.dialog = dialog
        dialog.open()
        dialog.start()

    def shutdown(self) -> None:
        if self.dialog is not None:
            self.dialog.shutdown()

    @Slot(float)
    def _apply(self, learning_rate: float) -> None:
        # As if typed: the preset's marks on the other fields stay.
        self._window.config_form.set_field_value("learning_rate", learning_rate)

    @Slot()
    def _forget(self) -> None:
        self.dialog = None


class ReviewTabLinks(QObject):
    """Connects ``window.review_tab`` (a ReviewTab) to the data panel and Predict."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self._window = window
        tab: ReviewTab = window.review_tab
        # Any way the folder changes (picked, dropped, loaded settings, the demo) rescans it.
        window.data_panel.summary_changed.connect(lambda: tab.set_data_root(window.data_panel.root()))
        window.predict_panel.model_loaded.connect(tab.set_model_path)
        tab.data_changed.connect(window.data_panel.rescan_if_showing)



class LabellingTabLinks(QObject):
    """Connects ``window.labelling_tab`` to the data panel, Predict (the model that
    suggests) and the run ("Train on the new labels" warm-starts from that model)."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self._window = window
        tab: LabellingTab = window.labelling_tab
        window.data_panel.summary_changed.connect(lambda: tab.set_data_root(window.data_panel.root()))
        window.predict_panel.model_loaded.connect(tab.set_model_path)
        tab.data_changed.connect(window.data_panel.rescan_if_showing)
        tab.train_requested.connect(self._train)

    @Slot(str)
    def _train(self, model: str) -> None:
        window = self._window
        window.config_form.set_field_value("init_model", model)
        window.main_tabs.setCurrentIndex(0)
        started = window.start_run()
        where = f", starting from {os.path.basename(model)} (Start from model, Settings tab)" if model else ""
        window.statusBar().showMessage(
            f"Training on the new labels{where}." if started else
            "Could not start training: see the Train tab.", 10_000)


class HealthTabLinks(QObject):
    """Connects ``window.health_tab`` (a HealthTab) to the data panel, Predict, Review and the form."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self._window = window
        tab: HealthTab = window.health_tab
        window.data_panel.summary_changed.connect(lambda: tab.set_data_root(window.data_panel.root()))
        window.predict_panel.model_loaded.connect(tab.set_model_path)
        window.config_form.changed.connect(self._follow_split_settings)
        tab.data_changed.connect(window.data_panel.rescan_if_showing)
        tab.review_requested.connect(self._review)
        tab.split_groups_chosen.connect(self._use_for_split)
        window.review_tab.data_changed.connect(self._review_changed_the_data)
        self._follow_split_settings()

    @Slot()
    def _follow_split_settings(self) -> None:
        config = self._window.config_form.config()
        if config is not None:
            self._window.health_tab.set_split_settings(config.val_fraction, config.test_fraction, config.seed)


    @Slot(str)
    def _review_changed_the_data(self, root: str) -> None:
        if root == self._window.health_tab.data_root():
            self._window.health_tab.mark_stale()  # a relabel moved files the report names

    @Slot(list)
    def _review(self, paths: list[str]) -> None:
        review: ReviewTab = self._window.review_tab
        review.show_only(paths)
        self._window.main_tabs.setCurrentWidget(review)

    @Slot(str)
    def _use_for_split(self, path: str) -> None:
        window = self._window
        window.config_form.set_field_value("split_groups", path)
        window.statusBar().showMessage(
            f"split_groups is now {path} (Settings tab): training keeps each group of near copies in one split.",
            10_000)
