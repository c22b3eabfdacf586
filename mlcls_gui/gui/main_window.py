"""The main window: lays out the panels and owns the run's lifecycle and settings.

Flow: Data (folder + scan, audit) → Settings (form, device) → Start (a
TrainingWorker on its QThread, supervising a training process) → live plots,
progress and log → summary →
Predict with the final model; the Evaluate and Batch predict tabs get the
final model too. Widgets only show things; this window decides.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QResizeEvent
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.device_choices import DeviceChoice
from mlcls_gui.core.presets import quick_model_config
from mlcls_gui.core.training.events import PhaseChanged, RunFinished, RunStarted
from mlcls_gui.gui import window_settings
from mlcls_gui.gui.data.audit_view import AuditView
from mlcls_gui.gui.data.data_panel import DataPanel
from mlcls_gui.gui.evaluate.evaluate_panel import EvaluatePanel
from mlcls_gui.gui.export_dialog import ExportDialog
from mlcls_gui.gui.health.health_tab import HealthTab
from mlcls_gui.gui.predict.batch_predict_panel import BatchPredictPanel
from mlcls_gui.gui.predict.predict_panel import PredictPanel
from mlcls_gui.gui.review.labelling_tab import LabellingTab
from mlcls_gui.gui.review.review_tab import ReviewTab
from mlcls_gui.gui.runs.runs_tab import RunsTab
from mlcls_gui.gui.settings.config_form import ConfigForm
from mlcls_gui.gui.startup import DemoLink, fitting_size, warm_up
from mlcls_gui.gui.tab_links import (
    HealthTabLinks,
    LabellingTabLinks,
    LrFinderLink,
    PredictModelLink,
    ReviewTabLinks,
    RunsTabLinks,
)
from mlcls_gui.gui.train.archive_panel import ArchivePanel
from mlcls_gui.gui.train.plots import TrainingPlots
from mlcls_gui.gui.train.resume_info import ResumeChecker
from mlcls_gui.gui.train.run_panel import LogBridge, QtLogHandler, RunPanel
from mlcls_gui.gui.train.run_summary import RUN_END_STATES, summary_html
from mlcls_gui.gui.train.run_view import RunView
from mlcls_gui.gui.widgets.dialogs import (
    CLOSE_CANCEL,
    CLOSE_FINISH_TEST,
    CLOSE_SKIP_TEST,
    ask_close_during_run,
    show_error,
)
from mlcls_gui.gui.widgets.field_labels import with_form_labels
from mlcls_gui.gui.widgets.task_runner import TaskRunner
from mlcls_gui.gui.widgets.wheel_guard import guard_wheel_in
from mlcls_gui.gui.window_layout import (
    build_menu,
    fit_to_width,
    give_the_plots_their_room,
    lay_out,
    make_room_for_the_summary,
)

if TYPE_CHECKING:
    from mlcls_gui.core.training.resume import ResumePlan

logger = logging.getLogger(__name__)

# Qt appends " — mlcls-gui" (the application display name) to every window title.
WINDOW_TITLE = "Train multi-label image classifiers"
DEFAULT_SIZE = (1560, 940)
# Closing without the test: how long a stopping run may take before its process is ended.
CLOSE_GRACE_MS = 30_000


class MainWindow(QMainWindow):
    run_ended = Signal(str)  # "completed", "stopped", "early-stopped", "time-up" or "failed"; thread gone
    ready_changed = Signal(bool)  # Start became possible / impossible
    demo_ready = Signal()
    resume_checked = Signal(str)  # what a resume would continue from ("" when the file is unusable)

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
        self._torch_ready = False  # in this process: for Predict, Evaluate, Review (runs load their own)
        self._torch_error = ""
        self._training_pid = 0
        self._warm_up = TaskRunner("warm-up", self)
        self._warm_up.done.connect(self._on_warm_up_done)
        self._warm_up.failed.connect(self._on_warm_up_failed)
        self._warm_up.finished.connect(self._update_start_state)
        self._last_finish: RunFinished | None = None
        self._end_reason = ""
        self._ready = False
        self._close_choice = ""
        self._phase = ""
        self._test_images = 0
        self.last_error_box: QMessageBox | None = None

        self.data_panel = DataPanel()
        self.config_form = ConfigForm()
        self.plots = TrainingPlots()
        self.run_panel = RunPanel()
        self.run_view = RunView(self.plots, self.run_panel, self.statusBar(), self)
        self.predict_panel = PredictPanel()
        self.audit_view = AuditView()
        self.evaluate_panel = EvaluatePanel()
        self.batch_predict_panel = BatchPredictPanel()
        self.archive_panel = ArchivePanel()
        self.runs_tab = RunsTab()
        self.review_tab = ReviewTab()
        self.labelling_tab = LabellingTab()
        self.health_tab = HealthTab()
        self.export_dialog: ExportDialog | None = None  # File → Export model…
        self.resume_checker = ResumeChecker(self)
        self._audit_stale = True

        lay_out(self)
        guard_wheel_in(self)
        build_menu(self)
        self._runs_links = RunsTabLinks(self)
        self._review_links = ReviewTabLinks(self)
        self._health_links = HealthTabLinks(self)
        self._labelling_links = LabellingTabLinks(self)
        self._model_links = PredictModelLink(self)
        self.lr_finder = LrFinderLink(self)
        self.demo = DemoLink(self)  # before the window's own slots: they show what it decided
        self.demo.ready.connect(self._update_start_state)
        self.demo.ready.connect(self.demo_ready)
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
        self.config_form.reset_done.connect(self._on_config_form_reset_done)
        self.run_panel.start_clicked.connect(self.start_run)
        self.run_panel.quick_model_clicked.connect(self.start_quick_model)
        self.run_panel.stop_clicked.connect(self.request_stop)
        self.run_panel.checkpoint_clicked.connect(self.request_checkpoint)
        self.run_panel.resume_clicked.connect(self._on_run_panel_resume_clicked)
        self.resume_checker.checked.connect(self._on_resume_checker_checked)
        self.resume_checker.failed.connect(self._on_resume_checker_failed)
        self.left_tabs.currentChanged.connect(self._on_left_tabs_current_changed)
        self.evaluate_panel.open_image_requested.connect(self._on_open_image_requested)
        self.batch_predict_panel.open_image_requested.connect(self._on_open_image_requested)
        self.health_tab.open_image_requested.connect(self._on_open_image_requested)
        self.evaluate_panel.thresholds_saved.connect(self._on_evaluate_panel_thresholds_saved)

        self.resize(*fitting_size(DEFAULT_SIZE))
        self._restore_settings()
        self._update_start_state()
        if warm_up_now:
            self.start_warm_up()

    # ================================================================ setup
    def start_warm_up(self) -> None:
        self._warm_up.start(lambda _job: warm_up())

    def _restore_settings(self) -> None:
        geometry = window_settings.stored_bytes(self.settings, "window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        splitter = window_settings.stored_bytes(self.settings, "window/splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)
        self.data_panel.set_recent_roots(window_settings.recent_roots(self.settings))
        config = window_settings.last_config(self.settings)
        if config is not None:
            self.apply_config(config)
        model = window_settings.last_model(self.settings)
        if model:
            self.predict_panel.set_model_file(model)  # loads in the background

    def save_settings(self) -> None:
        window_settings.save(
            self.settings, geometry=self.saveGeometry(), splitter=self.splitter.saveState(),
            roots=self.data_panel.recent_roots(), config=self.config_form.config(),
            model=self.predict_panel.model_path() if self.predict_panel.has_model() else "")

    # =============================================================== public
    def apply_config(self, config: TrainConfig, baseline_source: str = "") -> None:
        """Show ``config`` in the form and select (and scan) its data folder.

        ``baseline_source`` names it as what the changed-field marks compare against."""
        self.config_form.set_config(config, baseline_source=baseline_source)
        self.data_panel.set_split_settings(config.val_fraction, config.test_fraction, config.seed,
                                            config.split_groups)
        if config.images_root != self.data_panel.root() or self.data_panel.blocking_reason():
            # The same folder again after a failed scan (e.g. the demo just written) is rescanned.
            self.data_panel.set_root(config.images_root)

    def prepare_demo(self) -> None:
        """Generate (once) and select the demo set and fill in the demo config."""
        self.demo.prepare()

    def is_ready(self) -> bool:
        return self._ready

    def is_running(self) -> bool:
        return self._thread is not None

    def training_pid(self) -> int:
        """The running training process's pid (0 when none runs)."""
        return self._training_pid if self._thread is not None else 0

    def final_model_path(self) -> str:
        """The last run's final model file, or "" when there is none."""
        path = self._last_finish.final_model_path if self._last_finish else ""
        return path if path and os.path.isfile(path) else ""

    def start_blocker(self) -> str:
        """Why Start is not possible now, or "" when it is."""
        if self._thread is not None:
            return "A run is in progress."
        if self._torch_error:
            return f"PyTorch could not be loaded: {self._torch_error}"
        if self.resume_checker.is_busy():
            return "Reading the checkpoint to resume from…"
        errors = self.config_form.errors()
        if errors:
            first = with_form_labels(next(iter(errors.values())))
            return f"Fix the settings marked in red (Settings tab): {first}"
        return self.data_panel.blocking_reason()

    def start_quick_model(self) -> bool:
        """Start a quick model's run (a linear probe, presets.quick_model_config) with
        the form's data, model and output settings; the form is not changed."""
        return self.start_run(quick=True)

    def start_run(self, resume_from: str = "", resume_plan: ResumePlan | None = None, *,
                  quick: bool = False) -> bool:
        """Start training with the form's config, or resume: as planned (and shown) by
        ``resume_plan``, or from ``resume_from`` (the run plans it); False if blocked."""
        blocker = self.start_blocker()
        config = self.config_form.config()
        if blocker or config is None:
            self.statusBar().showMessage(blocker or "The settings are invalid.", 8000)
            return False
        if quick:
            config = quick_model_config(config)
        from mlcls_gui.gui.train.training_worker import TrainingWorker, default_torch_threads, start_training_thread

        threads = self.torch_threads if self.torch_threads is not None else default_torch_threads()
        worker = TrainingWorker(config, resume_from=resume_from, resume_plan=resume_plan, torch_threads=threads)
        resume_from = worker.resume_from
        self.run_view.follow(worker)
        worker.run_started.connect(self._on_worker_run_started)
        worker.phase_changed.connect(self._on_worker_phase_changed)
        worker.run_finished.connect(self._on_worker_run_finished)
        worker.finished.connect(self._on_worker_finished)
        worker.failed.connect(self._on_worker_failed)
        worker.process_started.connect(self._on_worker_process_started)
        self._worker = worker
        self._control = worker.control
        self._resuming = bool(resume_from)
        self._stopping = False
        self._last_finish = None
        self._end_reason = ""
        self.demo.forget()
        self._phase = ""
        self._test_images = 0
        self.plots.reset()
        give_the_plots_their_room(self)
        self.run_panel.begin_run(resuming=self._resuming, resume_text=resume_plan.text() if resume_plan else "",
                                 quick=quick)
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
            self.run_panel.set_stopping()
            self.run_panel.stop_button.setEnabled(False)
            self.run_panel.checkpoint_button.setEnabled(False)
            logger.info("Stop requested")

    def request_checkpoint(self) -> None:
        if self._control is not None and self._thread is not None:
            self._control.request_checkpoint()
            self.statusBar().showMessage("A checkpoint will be saved after the current batch.", 5000)

    # ============================================================ lifecycle
    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        QTimer.singleShot(0, self, functools.partial(fit_to_width, self))  # once the scroll area has its size

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        if self._thread is not None:
            if not self._closing:
                answer = self.confirm_close_during_run()
                # True / False: the plain "stop and close" / "keep training" (tests answer so).
                choice = {True: CLOSE_SKIP_TEST, False: CLOSE_CANCEL}.get(answer, answer)  # type: ignore[arg-type]
                if choice == CLOSE_CANCEL:
                    event.ignore()
                    return
                self._closing = True
                self._close_choice = str(choice)
                self._stop_for_close()
            event.ignore()
            return
        self._shutdown()
        event.accept()

    def confirm_close_during_run(self) -> str | bool:
        """CLOSE_SKIP_TEST, CLOSE_FINISH_TEST or CLOSE_CANCEL (tests replace this method)."""
        return ask_close_during_run(self, has_test_split=self._test_images > 0)

    def _stop_for_close(self) -> None:
        if self._close_choice == CLOSE_FINISH_TEST:
            # One stop request ends training; the engine then still tests. A
            # second one (or one during the test) would skip the test.
            if not self._stopping and self._phase not in ("testing", "saving"):
                self.request_stop()
            self.run_panel.set_state("Stopping… the test evaluation runs, then the window closes.", "#b26a00")
        else:
            if self._control is not None:
                self._control.request_skip_test()  # before the test starts: it is not started
            self.request_stop()  # during the test evaluation this skips it
            self.run_panel.set_state(
                "Stopping… the window closes once the run has stopped (test evaluation skipped).", "#b26a00")
            QTimer.singleShot(CLOSE_GRACE_MS, self, self._end_run_for_close)

    def _end_run_for_close(self) -> None:
        """The run did not stop in time: its process is ended (what it saved stays)."""
        if self._control is not None and self._thread is not None:
            logger.warning("The run did not stop within %d s; ending its training process.", CLOSE_GRACE_MS // 1000)
            self._control.request_end()

    def _shutdown(self) -> None:
        self.save_settings()
        self.predict_panel.shutdown()
        for panel in (self.evaluate_panel, self.batch_predict_panel, self.audit_view, self.config_form,
                      self.archive_panel, self.runs_tab, self.review_tab, self.labelling_tab, self.health_tab,
                      self.lr_finder, *self.findChildren(ExportDialog)):
            panel.shutdown()
        self.data_panel.wait_for_scan()
        self.resume_checker.wait()
        self._warm_up.shutdown()
        self.demo.shutdown()
        logging.getLogger("mlcls_gui").removeHandler(self._log_handler)

    def _set_locked(self, locked: bool) -> None:
        self.config_form.set_locked(locked)
        self.data_panel.set_locked(locked)
        self.run_panel.set_running(locked)
        self.archive_panel.set_running(locked)
        self.review_tab.set_locked(locked)
        self.labelling_tab.set_locked(locked)
        self.health_tab.set_locked(locked)
        self.runs_tab.refresh()  # a run starting (archiving the last) or ending changes the list

    def _update_start_state(self) -> None:
        blocker = self.start_blocker()
        ready = not blocker
        shown = "" if (ready or self._thread is not None) else blocker
        self.run_panel.set_start_allowed(ready, shown)
        if self.demo.ready_text and self._thread is None:
            # "Demo ready" must not stand under a reason why Start is not possible.
            self.run_panel.set_state(self.demo.ready_text if ready else "")
        if ready != self._ready:
            self._ready = ready
            self.ready_changed.emit(ready)

    # ================================================================ slots
    @Slot(object)
    def _on_warm_up_done(self, devices: list[DeviceChoice]) -> None:
        self._torch_ready = True
        self.config_form.set_device_choices(devices)
        self.config_form.load_architectures()  # torch is loaded: describing them is quick now
        self.statusBar().showMessage("PyTorch ready.", 3000)

    @Slot(str, str)
    def _on_warm_up_failed(self, summary: str, details: str) -> None:
        self._torch_error = summary
        self.last_error_box = show_error(self, "PyTorch could not be loaded", summary, details)

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
    def show_predict(self) -> None:
        """Bring Try the model into view: the Train & try tab, or its own tab at narrow widths."""
        index = self.main_tabs.indexOf(self.predict_box)
        self.main_tabs.setCurrentIndex(index if index >= 0 else 0)

    @Slot(str)
    def _on_open_image_requested(self, path: str) -> None:
        """Evaluate's, Batch predict's or Health's image, double-clicked: predicted in Try the model."""
        self.show_predict()
        self.predict_panel.add_paths([path])

    @Slot(str)
    def _on_evaluate_panel_thresholds_saved(self, path: str) -> None:
        if os.path.abspath(self.predict_panel.model_path()) == os.path.abspath(path):
            self.predict_panel.set_model_file(path)  # reload: the thresholds changed

    @Slot()
    def _on_config_form_changed(self) -> None:
        config = self.config_form.config()
        if config is not None:
            self.data_panel.set_split_settings(config.val_fraction, config.test_fraction, config.seed,
                                               config.split_groups)
            self.archive_panel.set_folder(config.save_model_folder)
            self.runs_tab.set_output_folder(config.save_model_folder)
        self._update_start_state()

    @Slot(object)
    def _on_config_form_config_loaded(self, config: TrainConfig) -> None:
        if config.images_root and config.images_root != self.data_panel.root():
            self.data_panel.set_root(config.images_root)

    @Slot(str)
    def _on_config_form_reset_done(self, choice: str) -> None:
        self._update_start_state()  # with "Demo ready" as the demo link left it
        self.statusBar().showMessage(f"Settings reset to {choice}.", 6000)

    @Slot()
    def _on_run_panel_resume_clicked(self) -> None:
        config = self.config_form.config()
        start = config.save_model_folder if config else ""
        path, _ = QFileDialog.getOpenFileName(
            self, "Resume from a checkpoint", start, "Checkpoints (*.pt *.pth);;All files (*)")
        if path:
            self.prepare_resume(path)

    def prepare_resume(self, path: str) -> None:
        """Read what ``path`` continues from (in the background), say it, then resume."""
        config = self.config_form.config()
        if self.resume_checker.is_busy() or self._thread is not None or config is None:
            return
        self.run_panel.set_state(f"Reading {Path(path).name} to see where it continues…")
        self.resume_checker.check(path, config)
        self._update_start_state()

    def confirm_resume(self, plan: ResumePlan) -> bool:
        """Say what the resume continues from and ask; tests replace this method."""
        answer = QMessageBox.question(
            self, "Resume training", "\n\n".join(plan.sentences() + [f"• {with_form_labels(note)}" for note in plan.notes]),
            QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Ok)
        return answer == QMessageBox.StandardButton.Ok

    @Slot(object)
    def _on_resume_checker_checked(self, plan: ResumePlan) -> None:
        self._update_start_state()
        self.run_panel.set_state(plan.text())
        self.resume_checked.emit(plan.text())
        if self._closing:
            return
        if self.confirm_resume(plan):
            self.start_run(resume_plan=plan)
        else:
            self.run_panel.set_state("")

    @Slot(str, str)
    def _on_resume_checker_failed(self, summary: str, details: str) -> None:
        self._update_start_state()
        self.run_panel.set_state("Cannot resume from that file.", "#c62828")
        self.resume_checked.emit("")
        self.last_error_box = show_error(self, "Cannot resume", summary, details)

    # ---------------------------------------------------------- worker events
    @Slot(object)
    def _on_worker_run_started(self, event: RunStarted) -> None:
        config = self.config_form.config()
        self._test_images = int(event.split_sizes.get("test", 0))
        self.run_panel.show_run_started(event, config.learning_rate if config else None)
        if self._stopping:
            self.run_panel.set_state("Stopping… (finishing the current batch)", "#b26a00")

    @Slot(object)
    def _on_worker_phase_changed(self, event: PhaseChanged) -> None:
        self._phase = event.phase
        self.run_panel.show_phase(event)

    @Slot(int)
    def _on_worker_process_started(self, pid: int) -> None:
        self._training_pid = pid
        logger.info("Training process %d started", pid)

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
        text, colour, word = RUN_END_STATES.get(reason, (f"Run ended ({reason}).", "#222", "ended"))
        self.run_panel.finish_progress(word)
        self.run_panel.set_state(text, colour)
        self.run_panel.show_summary(summary_html(summary, output_dir, final_model), output_dir)
        make_room_for_the_summary(self)
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
        self.run_panel.set_state(f"Run failed: {summary}", "#c62828")
        self.run_panel.finish_progress("failed")
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
        self._training_pid = 0
        self._worker = None
        self._control = None
        self._stopping = False
        self._set_locked(False)
        self._update_start_state()
        reason = self._end_reason or "failed"
        self.run_ended.emit(reason)
        if self._closing:
            QTimer.singleShot(0, self.close)

