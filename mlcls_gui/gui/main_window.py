"""The main window: lays out the panels and owns the run's lifecycle and settings.

Flow: Data (folder + scan, audit) → Settings (form, device) → Start (a
TrainingWorker on its QThread) → live plots, progress and log → summary →
Predict with the final model; the Evaluate and Batch predict tabs get the
final model too. Widgets only show things; this window decides.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, QStandardPaths, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from mlcls_gui.core.config import TrainConfig, demo_config
from mlcls_gui.core.events import (
    BatchEnd,
    CheckpointSaved,
    EpochEnd,
    FilesSkipped,
    PhaseChanged,
    RunFinished,
    RunStarted,
)

from .audit_view import AuditView
from .background import BackgroundTask
from .batch_predict_panel import BatchPredictPanel
from .config_form import ConfigForm, DeviceChoice, device_choices_from
from .data_panel import DataPanel
from .dialogs import show_error
from .evaluate_panel import EvaluatePanel
from .plots import TrainingPlots
from .predict_panel import PredictPanel
from .run_panel import LogBridge, QtLogHandler, RunPanel, summary_html

logger = logging.getLogger(__name__)

WINDOW_TITLE = "mlcls-gui — train multi-label image classifiers"
DEMO_DATA_FOLDER = "demo-data"
DEMO_OUTPUT_FOLDER = "demo-output"
DEMO_MARKER = ".mlcls-demo-complete"


def warm_up() -> list[DeviceChoice]:
    """Runs on a background thread right after the window shows: the torch
    import (seconds) and the device list, so Start never waits for them."""
    import mlcls_gui.core.engine  # noqa: F401 - imported for its side effect (torch loaded)
    import mlcls_gui.core.predict  # noqa: F401
    from mlcls_gui.core.devices import list_devices

    devices = list_devices()
    return device_choices_from(devices, auto_precisions([d.id for d in devices]))


def auto_precisions(device_ids: list[str]) -> dict[str, str]:
    """The mixed precision ``mixed_precision="auto"`` would use on each device."""
    try:
        import torch

        from mlcls_gui.core.precision import choose_precision
    except ImportError:
        return {}
    found = {}
    for device_id in device_ids:
        try:
            found[device_id] = choose_precision("auto", torch.device(device_id)).name
        except Exception:  # noqa: BLE001 - informative only; never block the device list
            logger.debug("No precision for %s", device_id, exc_info=True)
    return found


def ensure_demo_dataset(folder: Path) -> Path:
    """Write the demo set into ``folder`` unless a complete one is there already."""
    if (folder / DEMO_MARKER).is_file():
        return folder
    from mlcls_gui.core.demo import write_demo_dataset

    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    write_demo_dataset(partial)
    (partial / DEMO_MARKER).write_text("complete\n", encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)
    logger.info("Demo dataset written to %s", folder)
    return folder


def app_data_dir() -> Path:
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(location or Path.home() / ".mlcls-gui")


class MainWindow(QMainWindow):
    run_ended = Signal(str)  # "completed", "stopped", "early-stopped" or "failed"; thread gone
    ready_changed = Signal(bool)  # Start became possible / impossible
    demo_ready = Signal()

    def __init__(self, settings: QSettings | None = None, *, warm_up_now: bool = True,
                 torch_threads: int | None = None) -> None:
        super().__init__()
        self.setWindowTitle(WINDOW_TITLE)
        self.settings = settings if settings is not None else QSettings()
        self.torch_threads = torch_threads
        self._thread: QThread | None = None
        self._worker: Any = None
        self._control: Any = None
        self._resuming = False
        self._stopping = False
        self._closing = False
        self._torch_ready = False
        self._torch_error = ""
        self._warm_up: BackgroundTask | None = None
        self._demo_task: BackgroundTask | None = None
        self._demo_output = Path()
        self._last_finish: RunFinished | None = None
        self._end_reason = ""
        self._ready = False
        self.last_error_box: QMessageBox | None = None

        self.data_panel = DataPanel()
        self.config_form = ConfigForm()
        self.plots = TrainingPlots()
        self.run_panel = RunPanel()
        self.predict_panel = PredictPanel()
        self.audit_view = AuditView()
        self.evaluate_panel = EvaluatePanel()
        self.batch_predict_panel = BatchPredictPanel()
        self._audit_stale = True

        left = QTabWidget()
        left.addTab(self.data_panel, "1 · Data")
        left.addTab(self.config_form, "2 · Settings")
        left.addTab(self.audit_view, "Audit")
        self.left_tabs = left
        center = QSplitter(Qt.Orientation.Vertical)
        center.addWidget(self.plots)
        center.addWidget(self.run_panel)
        center.setStretchFactor(0, 3)
        center.setStretchFactor(1, 2)
        center.setSizes([500, 440])
        center.setChildrenCollapsible(False)
        self.center_splitter = center
        predict_box = QGroupBox("Try the model")
        predict_layout = QVBoxLayout(predict_box)
        predict_layout.setContentsMargins(4, 8, 4, 4)
        predict_layout.addWidget(self.predict_panel)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(center)
        splitter.addWidget(predict_box)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setStretchFactor(2, 2)
        splitter.setSizes([430, 620, 500])
        splitter.setChildrenCollapsible(False)
        self.splitter = splitter
        container = QWidget()
        layout = QVBoxLayout(container)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)
        self.main_tabs = QTabWidget()
        self.main_tabs.setDocumentMode(True)
        self.main_tabs.addTab(container, "Train && try")
        self.main_tabs.addTab(self.evaluate_panel, "Evaluate")
        self.main_tabs.addTab(self.batch_predict_panel, "Batch predict")
        self.setCentralWidget(self.main_tabs)
        self._build_menu()
        self.statusBar().showMessage("Loading PyTorch in the background…")

        self._log_bridge = LogBridge(self)
        self._log_bridge.line.connect(self.run_panel.append_log)
        self._log_handler = QtLogHandler(self._log_bridge)
        package_logger = logging.getLogger("mlcls_gui")
        package_logger.addHandler(self._log_handler)
        if package_logger.level == logging.NOTSET or package_logger.level > logging.INFO:
            package_logger.setLevel(logging.INFO)

        self.data_panel.root_chosen.connect(self._on_data_panel_root_chosen)
        self.data_panel.summary_changed.connect(self._on_data_panel_summary_changed)
        self.config_form.changed.connect(self._on_config_form_changed)
        self.config_form.config_loaded.connect(self._on_config_form_config_loaded)
        self.run_panel.start_clicked.connect(self._on_run_panel_start_clicked)
        self.run_panel.stop_clicked.connect(self._on_run_panel_stop_clicked)
        self.run_panel.checkpoint_clicked.connect(self._on_run_panel_checkpoint_clicked)
        self.run_panel.resume_clicked.connect(self._on_run_panel_resume_clicked)
        self.left_tabs.currentChanged.connect(self._on_left_tabs_current_changed)
        self.predict_panel.model_loaded.connect(self._on_predict_panel_model_loaded)
        self.evaluate_panel.open_image_requested.connect(self._on_evaluate_panel_open_image_requested)
        self.evaluate_panel.thresholds_saved.connect(self._on_evaluate_panel_thresholds_saved)

        self.resize(1560, 940)
        self._restore_settings()
        self._update_start_state()
        if warm_up_now:
            self.start_warm_up()

    # ================================================================ setup
    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        actions = [
            ("Choose data folder…", None, self.data_panel._on_browse_button_clicked),
            ("Load settings…", QKeySequence.StandardKey.Open, self.config_form._on_load_button_clicked),
            ("Save settings…", QKeySequence.StandardKey.Save, self.config_form._on_save_button_clicked),
            ("Open model for predictions…", None, self.predict_panel._on_open_model_button_clicked),
        ]
        for text, shortcut, slot in actions:
            action = QAction(text, self)
            if shortcut is not None:
                action.setShortcut(QKeySequence(shortcut))
            action.triggered.connect(slot)
            file_menu.addAction(action)
        file_menu.addSeparator()
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Quit))
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

    def start_warm_up(self) -> None:
        task = BackgroundTask(warm_up, name="warm-up", parent=self)
        task.done.connect(self._on_warm_up_done)
        task.failed.connect(self._on_warm_up_failed)
        task.finished.connect(self._on_warm_up_finished)
        self._warm_up = task
        task.start()

    def _restore_settings(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        splitter = self.settings.value("window/splitter")
        if isinstance(splitter, QByteArray) and not splitter.isEmpty():
            self.splitter.restoreState(splitter)
        recent = self.settings.value("data/recent_roots", "")
        try:
            roots = json.loads(recent) if isinstance(recent, str) and recent else []
        except json.JSONDecodeError:
            roots = []
        self.data_panel.set_recent_roots([r for r in roots if isinstance(r, str)])
        text = self.settings.value("config/last", "")
        if isinstance(text, str) and text:
            try:
                config = TrainConfig.from_dict(json.loads(text), source="the last session's settings")
            except (json.JSONDecodeError, Exception) as exc:  # noqa: BLE001 - never block the start
                logger.warning("Ignoring the last session's settings: %s", exc)
            else:
                self.apply_config(config)
        model = self.settings.value("predict/model", "")
        if isinstance(model, str) and model and os.path.isfile(model):
            self.predict_panel.set_model_file(model)  # loads in the background

    def save_settings(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/splitter", self.splitter.saveState())
        self.settings.setValue("data/recent_roots", json.dumps(self.data_panel.recent_roots()))
        config = self.config_form.config()
        if config is not None:
            self.settings.setValue("config/last", json.dumps(config.to_dict()))
        if self.predict_panel.has_model():
            self.settings.setValue("predict/model", self.predict_panel.model_path())
        self.settings.sync()

    # =============================================================== public
    def apply_config(self, config: TrainConfig) -> None:
        """Show ``config`` in the form and select (and scan) its data folder."""
        self.config_form.set_config(config)
        self.data_panel.set_split_settings(config.val_fraction, config.test_fraction, config.seed)
        if config.images_root != self.data_panel.root():
            self.data_panel.set_root(config.images_root)

    def prepare_demo(self) -> None:
        """Generate (once) and select the demo set and fill in the demo config."""
        base = app_data_dir()
        data, output = base / DEMO_DATA_FOLDER, base / DEMO_OUTPUT_FOLDER
        self.run_panel.set_state("Preparing the demo dataset…")
        task = BackgroundTask(functools.partial(ensure_demo_dataset, data), name="demo", parent=self)
        self._demo_output = output
        task.done.connect(self._on_demo_task_done)
        task.failed.connect(self._on_demo_task_failed)
        task.finished.connect(self._on_demo_task_finished)
        self._demo_task = task
        task.start()

    def is_ready(self) -> bool:
        return self._ready

    def is_running(self) -> bool:
        return self._thread is not None

    def start_blocker(self) -> str:
        """Why Start is not possible now, or "" when it is."""
        if self._thread is not None:
            return "A run is in progress."
        if self._torch_error:
            return f"PyTorch could not be loaded: {self._torch_error}"
        if not self._torch_ready:
            return "Loading PyTorch…"
        errors = self.config_form.errors()
        if errors:
            first = next(iter(errors.values()))
            return f"Fix the settings marked in red (Settings tab): {first}"
        return self.data_panel.blocking_reason()

    def start_run(self, resume_from: str = "") -> bool:
        """Start training with the form's config (optionally resuming); False if blocked."""
        blocker = self.start_blocker()
        config = self.config_form.config()
        if blocker or config is None:
            self.statusBar().showMessage(blocker or "The settings are invalid.", 8000)
            return False
        from .training_worker import TrainingWorker, default_torch_threads, start_training_thread

        threads = self.torch_threads if self.torch_threads is not None else default_torch_threads()
        worker = TrainingWorker(config, resume_from=resume_from, torch_threads=threads)
        worker.run_started.connect(self._on_worker_run_started)
        worker.batch_finished.connect(self._on_worker_batch_finished)
        worker.epoch_finished.connect(self._on_worker_epoch_finished)
        worker.checkpoint_saved.connect(self._on_worker_checkpoint_saved)
        worker.phase_changed.connect(self._on_worker_phase_changed)
        worker.files_skipped.connect(self._on_worker_files_skipped)
        worker.run_finished.connect(self._on_worker_run_finished)
        worker.history_loaded.connect(self._on_worker_history_loaded)
        worker.finished.connect(self._on_worker_finished)
        worker.failed.connect(self._on_worker_failed)
        self._worker = worker
        self._control = worker.control
        self._resuming = bool(resume_from)
        self._stopping = False
        self._last_finish = None
        self._end_reason = ""
        self.plots.reset()
        self.run_panel.begin_run(resuming=self._resuming)
        self._set_locked(True)
        self.save_settings()
        if resume_from:
            logger.info("Resuming from %s", resume_from)
        thread = start_training_thread(worker)
        thread.finished.connect(self._on_training_thread_finished)
        self._thread = thread
        self._update_start_state()
        return True

    def request_stop(self) -> None:
        if self._control is None or self._thread is None:
            return
        self._control.request_stop()
        if not self._stopping:
            self._stopping = True
            self.run_panel.set_state("Stopping… (finishing the current batch, keeping the best checkpoint)", "#b26a00")
            self.run_panel.stop_button.setEnabled(False)
            self.run_panel.checkpoint_button.setEnabled(False)
            logger.info("Stop requested")

    def request_checkpoint(self) -> None:
        if self._control is not None and self._thread is not None:
            self._control.request_checkpoint()
            self.statusBar().showMessage("A checkpoint will be saved after the current batch.", 5000)

    # ============================================================ lifecycle
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        if self._thread is not None:
            if not self._closing:
                if not self.confirm_close_during_run():
                    event.ignore()
                    return
                self._closing = True
                self.request_stop()
                self.run_panel.set_state("Stopping… the window closes once the run has stopped.", "#b26a00")
            event.ignore()
            return
        self._shutdown()
        event.accept()

    def confirm_close_during_run(self) -> bool:
        answer = QMessageBox.question(
            self, "Training is running — mlcls-gui",
            "A training run is in progress. Stop it and close?\n\n"
            "The current batch finishes, the best checkpoint and the final model are kept.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _shutdown(self) -> None:
        self.save_settings()
        self.predict_panel.shutdown()
        for panel in (self.evaluate_panel, self.batch_predict_panel, self.audit_view):
            panel.shutdown()
        self.data_panel.wait_for_scan()
        for task in (self._warm_up, self._demo_task):
            if task is not None:
                task.wait()
        logging.getLogger("mlcls_gui").removeHandler(self._log_handler)

    def _set_locked(self, locked: bool) -> None:
        self.config_form.set_locked(locked)
        self.data_panel.set_locked(locked)
        self.run_panel.set_running(locked)

    def _update_start_state(self) -> None:
        blocker = self.start_blocker()
        ready = not blocker
        shown = "" if (ready or self._thread is not None) else blocker
        self.run_panel.set_start_allowed(ready, shown)
        if ready != self._ready:
            self._ready = ready
            self.ready_changed.emit(ready)

    # ================================================================ slots
    @Slot(object)
    def _on_warm_up_done(self, devices: list[DeviceChoice]) -> None:
        self._torch_ready = True
        self.config_form.set_device_choices(devices)
        self.statusBar().showMessage("PyTorch ready.", 3000)

    @Slot(str, str)
    def _on_warm_up_failed(self, summary: str, details: str) -> None:
        self._torch_error = summary
        self.last_error_box = show_error(self, "PyTorch could not be loaded", summary, details)

    @Slot()
    def _on_warm_up_finished(self) -> None:
        self._warm_up = None
        self._update_start_state()

    @Slot(object)
    def _on_demo_task_done(self, root: Path) -> None:
        output = self._demo_output
        config = demo_config(root, output)
        self.apply_config(config)
        self.left_tabs.setCurrentWidget(self.data_panel)
        self.run_panel.set_state("Demo ready: press Start training.")
        logger.info("Demo: data %s, output %s", root, output)
        self.demo_ready.emit()

    @Slot(str, str)
    def _on_demo_task_failed(self, summary: str, details: str) -> None:
        self.run_panel.set_state("The demo dataset could not be prepared.", "#c62828")
        self.last_error_box = show_error(self, "Demo dataset", summary, details)

    @Slot()
    def _on_demo_task_finished(self) -> None:
        self._demo_task = None

    @Slot(str)
    def _on_data_panel_root_chosen(self, root: str) -> None:
        self.config_form.set_images_root(root)

    @Slot()
    def _on_data_panel_summary_changed(self) -> None:
        self._update_start_state()
        self._audit_stale = True
        self._refresh_audit()

    @Slot(int)
    def _on_left_tabs_current_changed(self, _index: int) -> None:
        self._refresh_audit()

    def _refresh_audit(self) -> None:
        """Audit the scanned data, only while the Audit tab is shown: hashing
        every file for duplicates is work nobody asked for otherwise."""
        splits = self.data_panel.splits()
        if self._audit_stale and splits is not None and self.left_tabs.currentWidget() is self.audit_view:
            self._audit_stale = False
            self.audit_view.set_splits(splits)

    @Slot(str)
    def _on_predict_panel_model_loaded(self, path: str) -> None:
        for panel in (self.evaluate_panel, self.batch_predict_panel):
            if not panel.is_busy():
                panel.set_model_path(path)

    @Slot(str)
    def _on_evaluate_panel_open_image_requested(self, path: str) -> None:
        self.main_tabs.setCurrentIndex(0)
        self.predict_panel.add_paths([path])

    @Slot(str)
    def _on_evaluate_panel_thresholds_saved(self, path: str) -> None:
        if os.path.abspath(self.predict_panel.model_path()) == os.path.abspath(path):
            self.predict_panel.set_model_file(path)  # reload: the thresholds changed

    @Slot()
    def _on_config_form_changed(self) -> None:
        config = self.config_form.config()
        if config is not None:
            self.data_panel.set_split_settings(config.val_fraction, config.test_fraction, config.seed)
        self._update_start_state()

    @Slot(object)
    def _on_config_form_config_loaded(self, config: TrainConfig) -> None:
        if config.images_root and config.images_root != self.data_panel.root():
            self.data_panel.set_root(config.images_root)

    @Slot()
    def _on_run_panel_start_clicked(self) -> None:
        self.start_run()

    @Slot()
    def _on_run_panel_stop_clicked(self) -> None:
        self.request_stop()

    @Slot()
    def _on_run_panel_checkpoint_clicked(self) -> None:
        self.request_checkpoint()

    @Slot()
    def _on_run_panel_resume_clicked(self) -> None:
        config = self.config_form.config()
        start = str(Path(config.save_model_folder).expanduser()) if config else ""
        path, _ = QFileDialog.getOpenFileName(
            self, "Resume from a checkpoint", start, "Checkpoints (*.pt *.pth);;All files (*)")
        if path:
            self.start_run(resume_from=path)

    # ---------------------------------------------------------- worker events
    @Slot(object)
    def _on_worker_run_started(self, event: RunStarted) -> None:
        config = self.config_form.config()
        self.run_panel.show_run_started(event, config.learning_rate if config else None)
        if self._stopping:
            self.run_panel.set_state("Stopping… (finishing the current batch)", "#b26a00")

    @Slot(object)
    def _on_worker_history_loaded(self, rows: list[dict[str, float]]) -> None:
        self.plots.add_history(rows)

    @Slot(object)
    def _on_worker_batch_finished(self, event: BatchEnd) -> None:
        self.plots.add_batch(event)
        self.run_panel.show_batch(event)

    @Slot(object)
    def _on_worker_epoch_finished(self, event: EpochEnd) -> None:
        self.plots.add_epoch(event)
        self.run_panel.show_epoch(event)

    @Slot(object)
    def _on_worker_checkpoint_saved(self, event: CheckpointSaved) -> None:
        what = {"improved": "best checkpoint", "requested": "checkpoint (requested)", "end": "checkpoint"}
        self.statusBar().showMessage(
            f"Saved {what.get(event.reason, 'checkpoint')}: {event.path}", 6000)

    @Slot(object)
    def _on_worker_phase_changed(self, event: PhaseChanged) -> None:
        self.run_panel.show_phase(event)
        if event.phase == "testing" and self._closing and self._control is not None:
            # Closing: a second stop request skips the test evaluation.
            self._control.request_stop()

    @Slot(object)
    def _on_worker_files_skipped(self, event: FilesSkipped) -> None:
        self.statusBar().showMessage(
            f"{len(event.files)} image(s) could not be read and were skipped (see the log).", 6000)

    @Slot(object)
    def _on_worker_run_finished(self, event: RunFinished) -> None:
        self._last_finish = event

    @Slot(str, object)
    def _on_worker_finished(self, reason: str, summary: dict[str, Any]) -> None:
        self._end_reason = reason
        finish = self._last_finish
        output_dir = finish.output_dir if finish else ""
        final_model = finish.final_model_path if finish else ""
        self.plots.set_best_epoch(int(summary.get("best_epoch") or 0))
        self.plots.redraw()
        self.run_panel.finish_progress()
        states = {
            "completed": ("Finished.", "#1b5e20"),
            "early-stopped": ("Finished (stopped early: no more improvement).", "#1b5e20"),
            "stopped": ("Stopped.", "#b26a00"),
        }
        text, colour = states.get(reason, (f"Ended ({reason}).", "#222"))
        self.run_panel.set_state(text, colour)
        self.run_panel.show_summary(summary_html(summary, output_dir, final_model), output_dir)
        if final_model and os.path.isfile(final_model) and not self._closing:
            self.predict_panel.set_model_file(final_model)
            self._offer_evaluation(final_model)

    def _offer_evaluation(self, final_model: str) -> None:
        """Point the Evaluate tab at the new model and its data's test split."""
        config = self.config_form.config()
        if self.evaluate_panel.is_busy() or config is None:
            return
        self.evaluate_panel.set_model_path(final_model)
        self.evaluate_panel.set_data_root(config.images_root)
        self.evaluate_panel.set_split("test")

    @Slot(str, str)
    def _on_worker_failed(self, summary: str, details: str) -> None:
        self._end_reason = "failed"
        finish = self._last_finish
        self.run_panel.set_state(f"Failed: {summary}", "#c62828")
        self.run_panel.finish_progress()
        if finish is not None and finish.final_model_path:
            self.run_panel.show_summary(
                summary_html(finish.summary or {"message": finish.message}, finish.output_dir,
                             finish.final_model_path), finish.output_dir)
            if os.path.isfile(finish.final_model_path) and not self._closing:
                self.predict_panel.set_model_file(finish.final_model_path)
        if not self._closing:
            self.last_error_box = show_error(self, "Training failed", summary, details)

    @Slot()
    def _on_training_thread_finished(self) -> None:
        self._thread = None
        self._worker = None
        self._control = None
        self._stopping = False
        self._set_locked(False)
        self._update_start_state()
        reason = self._end_reason or "failed"
        self.run_ended.emit(reason)
        if self._closing:
            QTimer.singleShot(0, self.close)
