"""GUI responsiveness benchmark (run on demand, not part of the unit suite).

    python tests/benchmarks/bench_gui_latency.py [--threads 1 2] [--epochs 6] [--rounds 2]
        [--jobs lr-finder review] [--explain]

1. Launch: a fresh interpreter imports the app, builds the main window, shows it
   and prepares the demo (as ``mlcls-gui --demo`` does; its data set is written
   by an unmeasured first launch). Measured from just before the process was
   started: the first paint, Start possible (the demo scanned, the settings
   valid: ``window.is_ready()``), and PyTorch loaded in the window's process
   (Predict, Evaluate; a run loads its own).
2. GUI-thread blocking while the demo set trains: a 10 ms precise QTimer runs
   on the GUI thread; each tick's lateness (interval − 10 ms) is how long the
   GUI thread could not react. Reports p50 / p99 / max for the window's path
   (a supervised training process) and, as the baseline measured in the same
   run, the earlier in-process path (the Trainer on the worker's own thread),
   interleaved ``--rounds`` times, per value of ``--threads`` (torch threads of
   the training). Ratios are supervised / in-process.
3. ``--jobs lr-finder review``: the same lateness while the other jobs that
   train a model run on a thread of the window's process (the LR finder's
   dialog; Review's cross-fitted models, without a model file), against the
   supervised training run of the same round: whether moving them into a
   process of their own would pay.

Uses $DISPLAY when set (e.g. Xvfb), else the offscreen platform. Goal on a
2-core machine (issue 28): supervised p99 ≤ 16 ms and max ≤ 100 ms; Start
possible ≤ 3 s after launch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

_LAUNCH_CHILD = r"""
import os, sys, time
t0 = float(os.environ["BENCH_T0"])
from PySide6.QtCore import QSettings, QTimer
from mlcls_gui.gui.app import create_application
app = create_application()
from mlcls_gui.gui.main_window import MainWindow
window = MainWindow(settings=QSettings(sys.argv[1], QSettings.Format.IniFormat))
window.show()
marks = {}
def shown():
    marks["shown"] = time.time() - t0
    window.prepare_demo()
    def check():
        now = time.time() - t0
        if "ready" not in marks and window.is_ready() and window.demo.ready_text:
            marks["ready"] = now
        if "torch" not in marks and window._torch_ready:
            marks["torch"] = now
        if len(marks) == 3:
            print(marks["shown"], marks["ready"], marks["torch"], flush=True)
            window.close()
            app.quit()
    timer = QTimer(window)
    timer.timeout.connect(check)
    timer.start(10)
QTimer.singleShot(0, shown)
app.exec()
"""


# The baseline measured in the same run: an empty Qt window of a bare interpreter.
_BARE_CHILD = r"""
import os, sys, time
t0 = float(os.environ["BENCH_T0"])
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv[:1])
window = QMainWindow()
window.show()
def shown():
    print(time.time() - t0, flush=True)
    app.quit()
QTimer.singleShot(0, shown)
app.exec()
"""


def bench_launch(repeats: int) -> None:
    marks: list[list[float]] = []
    bare: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        # The demo's data set goes to a data folder of this benchmark, written once (unmeasured).
        env_base = dict(os.environ, XDG_DATA_HOME=str(Path(tmp) / "data"))
        for index in range(repeats + 1):
            env = dict(env_base, BENCH_T0=repr(time.time()))
            result = subprocess.run(
                [sys.executable, "-c", _LAUNCH_CHILD, str(Path(tmp) / f"s{index}.ini")],
                env=env, capture_output=True, text=True, timeout=180,
            )
            lines = [line for line in result.stdout.splitlines() if line.strip()]
            if result.returncode != 0 or not lines:
                print(f"launch run {index} failed:\n{result.stderr[-2000:]}")
                continue
            if index:
                marks.append([float(value) for value in lines[-1].split()])
                result = subprocess.run([sys.executable, "-c", _BARE_CHILD], capture_output=True, text=True,
                                        timeout=60, env=dict(os.environ, BENCH_T0=repr(time.time())))
                if result.returncode == 0 and result.stdout.strip():
                    bare.append(float(result.stdout.split()[-1]))
    if marks:
        base = statistics.median(bare) if bare else float("nan")
        print(f"Launch → an empty Qt window (baseline): median {base:.2f} s "
              f"(runs: {', '.join(f'{v:.2f}' for v in bare)})")
        for column, what in enumerate(("window shown (first paint)", "Start possible (demo scanned)",
                                       "PyTorch loaded in the window")):
            values = [row[column] for row in marks]
            median = statistics.median(values)
            print(f"Launch → {what}: median {median:.2f} s, ×{median / base:.1f} the empty window "
                  f"(runs: {', '.join(f'{v:.2f}' for v in values)})")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(fraction * (len(ordered) - 1)))))
    return ordered[index]


PATHS = ("in-process", "supervised")


class StackSampler:
    """Samples the GUI thread's Python stack every few ms (``--explain``), so each
    stall can be named by the code it was in: the frames of this package, else pyqtgraph's."""

    def __init__(self, interval_s: float = 0.002) -> None:
        import threading

        self._interval = interval_s
        self._thread_id = threading.get_ident()
        self.samples: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._worker.start()

    def stop(self) -> None:
        self._stop.set()
        self._worker.join()

    def _run(self) -> None:
        import traceback

        while not self._stop.wait(self._interval):
            frame = sys._current_frames().get(self._thread_id)
            if frame is None:
                continue
            stack = traceback.extract_stack(frame)
            named = [f for f in stack if "mlcls_gui" in f.filename] or [f for f in stack if "pyqtgraph" in f.filename]
            where = f"{Path(named[-1].filename).name}:{named[-1].lineno} {named[-1].name}" if named else "(Qt)"
            self.samples.append((time.perf_counter(), where))

    def explain(self, start: float, end: float) -> str:
        import collections

        seen = collections.Counter(where for at, where in self.samples if start <= at <= end)
        return "; ".join(f"{where} ×{count}" for where, count in seen.most_common(3)) or "(no sample)"


class LatenessProbe:
    """A 10 ms precise timer on the GUI thread; each tick's lateness is how long the
    GUI thread could not react. ``stalls`` are ticks over 40 ms apart."""

    def __init__(self) -> None:
        from PySide6.QtCore import QElapsedTimer, Qt, QTimer

        self.intervals: list[float] = []
        self.stalls: list[tuple[float, float, float]] = []  # (lateness ms, s since start, perf_counter at end)
        self._clock = QElapsedTimer()
        self._last = 0
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._clock.start()
        self.timer.start()

    def _tick(self) -> None:
        now = self._clock.nsecsElapsed()
        if self._last:
            interval = (now - self._last) / 1e6
            self.intervals.append(interval)
            if interval > 40:
                self.stalls.append((interval - 10, now / 1e9, time.perf_counter()))
        self._last = now

    def stats(self, wall: float) -> dict[str, float]:
        late = [max(0.0, value - 10.0) for value in self.intervals] or [0.0]
        return {"p50": percentile(late, 0.50), "p99": percentile(late, 0.99), "max": max(late), "wall": wall}

    def report(self, title: str, wall: float, sampler: StackSampler | None) -> dict[str, float]:
        stats = self.stats(wall)
        print(f"{title} in {wall:.1f} s, {len(self.intervals)} ticks — GUI-thread lateness "
              f"p50 {stats['p50']:.1f} ms, p99 {stats['p99']:.1f} ms, max {stats['max']:.1f} ms")
        worst = sorted(self.stalls, reverse=True)[:5]
        print("  worst stalls: " + ", ".join(f"{ms:.0f} ms at {at:.1f} s" for ms, at, _end in worst))
        if sampler is not None:
            for ms, at, end in worst:
                print(f"    {ms:.0f} ms at {at:.1f} s: {sampler.explain(end - (ms + 10) / 1000, end)}")
        return stats


def _train_in_this_process(worker):  # the baseline: TrainingWorker._run_supervised as it was
    import torch

    from mlcls_gui.core.training.engine import Trainer
    from mlcls_gui.core.training.supervised_run import ProcessOutcome

    if worker._torch_threads:
        torch.set_num_threads(worker._torch_threads)
    result = Trainer(worker.config, on_event=worker._on_trainer_event, control=worker.control).run()
    return ProcessOutcome(result.reason, dict(result.summary))


def bench_latency(path: str, threads: int, epochs: int, data: Path, work: Path,
                  explain: bool = False) -> dict[str, float] | None:
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from mlcls_gui.core.config import demo_config
    from mlcls_gui.gui.app import create_application
    from mlcls_gui.gui.main_window import MainWindow
    from mlcls_gui.gui.train import training_worker

    app = create_application()
    name = f"{path}-{threads}-{len(list(work.glob('out-*')))}"
    output = work / f"out-{name}"
    config = demo_config(data, output)
    import dataclasses

    config = dataclasses.replace(config, n_epochs=epochs, early_stop_epoch_limit=epochs)
    supervised = training_worker.TrainingWorker._run_supervised
    if path == "in-process":
        training_worker.TrainingWorker._run_supervised = _train_in_this_process
    window = MainWindow(settings=QSettings(str(work / f"s-{name}.ini"), QSettings.Format.IniFormat),
                        torch_threads=threads)
    window.resize(1560, 940)
    window.show()
    window.apply_config(config)
    deadline = time.monotonic() + 120
    # Both paths start with PyTorch loaded in the window (the in-process one needs it).
    while not (window.is_ready() and window._torch_ready) and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    if not window.is_ready():
        print(f"{path}, threads={threads}: window never became ready: {window.start_blocker()}")
        return None

    probe = LatenessProbe()
    sampler = StackSampler() if explain else None
    state: dict[str, str] = {}

    def finish() -> None:
        probe.timer.stop()  # before quit(): closing the window is not part of the run
        app.quit()

    def ended(reason: str) -> None:
        state["reason"] = reason
        # Keep measuring through the end-of-run work (summary, loading the model).
        QTimer.singleShot(1500, finish)

    window.run_ended.connect(ended)
    probe.start()
    started = time.monotonic()
    if sampler is not None:
        sampler.start()
    try:
        window.start_run()
        app.exec()
    finally:
        training_worker.TrainingWorker._run_supervised = supervised
        if sampler is not None:
            sampler.stop()
    probe.timer.stop()
    stats = probe.report(f"{path:>10}, threads={threads}: run {state.get('reason')}",
                         time.monotonic() - started, sampler)
    window.close()
    window.deleteLater()
    QApplication.processEvents()
    return stats


JOBS = ("lr-finder", "review")


def bench_job_latency(job: str, threads: int, data: Path, explain: bool = False) -> dict[str, float] | None:
    """The lateness while ``job`` trains on a thread of this (the window's) process."""
    import torch
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from mlcls_gui.core.config import demo_config
    from mlcls_gui.gui.app import create_application
    from mlcls_gui.gui.startup import warm_up

    app = create_application()
    warm_up()  # as the window does at launch (PyTorch loaded, the heap frozen)
    torch.set_num_threads(threads)  # as the window's own torch (Predict, Evaluate, these jobs)
    if job == "lr-finder":
        from mlcls_gui.gui.settings.lr_find_dialog import LrFindDialog

        with tempfile.TemporaryDirectory() as out:
            widget = LrFindDialog(demo_config(data, Path(out)))
        done_signal, begin = widget.test_finished, widget.start
    else:
        from mlcls_gui.gui.review.review_tab import ReviewTab

        widget = ReviewTab()
        widget.resize(1200, 800)
        widget.set_data_root(str(data))
        widget.set_model_path(None)  # cross-fitted models: the review's own training
        done_signal, begin = widget.review_finished, widget.start_review
    widget.show()
    QApplication.processEvents()
    probe = LatenessProbe()
    sampler = StackSampler() if explain else None

    def finish() -> None:
        probe.timer.stop()
        app.quit()

    done_signal.connect(lambda *_args: QTimer.singleShot(1500, finish))
    probe.start()
    started = time.monotonic()
    if sampler is not None:
        sampler.start()
    try:
        begin()
        app.exec()
    finally:
        if sampler is not None:
            sampler.stop()
    stats = probe.report(f"{job:>10}, threads={threads}: in the window's process",
                         time.monotonic() - started, sampler)
    widget.close()
    widget.deleteLater()
    QApplication.processEvents()
    return stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1],
                        help="torch threads of the training to compare (default: 1)")
    parser.add_argument("--epochs", type=int, default=6, help="demo epochs per measured run")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of both paths")
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS))
    parser.add_argument("--jobs", nargs="*", choices=JOBS, default=[],
                        help="also measure these jobs on a thread of the window's process")
    parser.add_argument("--launch-repeats", type=int, default=3)
    parser.add_argument("--explain", action="store_true",
                        help="sample the GUI thread's stack and name the code of the worst stalls")
    parser.add_argument("--switch-interval", type=float, default=None,
                        help="sys.setswitchinterval in seconds (default: what the app sets)")
    args = parser.parse_args()
    from mlcls_gui.gui.app import share_the_gil_with_the_gui

    if args.switch_interval is None:
        share_the_gil_with_the_gui()
    else:
        sys.setswitchinterval(args.switch_interval)
    print(f"Platform: {os.environ.get('QT_QPA_PLATFORM') or 'DISPLAY=' + os.environ.get('DISPLAY', '')}, "
          f"{len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()} cores, "
          f"switch interval {sys.getswitchinterval() * 1000:g} ms")
    if args.launch_repeats:
        bench_launch(args.launch_repeats)
    from mlcls_gui.core.data.demo import write_demo_dataset

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = write_demo_dataset(work / "demo-data")
        for threads in args.threads:
            results: dict[str, list[dict[str, float]]] = {name: [] for name in [*args.paths, *args.jobs]}
            for _round in range(args.rounds):
                for path in args.paths:
                    stats = bench_latency(path, threads, args.epochs, data, work, args.explain)
                    if stats is not None:
                        results[path].append(stats)
                for job in args.jobs:
                    stats = bench_job_latency(job, threads, data, args.explain)
                    if stats is not None:
                        results[job].append(stats)
            _print_ratios(threads, results)
    return 0


def _print_ratios(threads: int, results: dict[str, list[dict[str, float]]]) -> None:
    """Medians over the rounds; supervised / in-process where both ran."""
    medians = {path: {key: statistics.median(run[key] for run in runs) for key in ("p99", "max", "wall")}
               for path, runs in results.items() if runs}
    for path, values in medians.items():
        print(f"threads={threads} {path:>10}: median p99 {values['p99']:.1f} ms, max {values['max']:.1f} ms, "
              f"run {values['wall']:.1f} s")
    pairs = [("supervised", "in-process")] + [(job, "supervised") for job in JOBS]
    for name, baseline in pairs:
        if name in medians and baseline in medians:
            new, base = medians[name], medians[baseline]
            print(f"threads={threads} {name} / {baseline}: p99 ×{new['p99'] / max(base['p99'], 1e-9):.2f}, "
                  f"max ×{new['max'] / max(base['max'], 1e-9):.2f}, run time ×{new['wall'] / base['wall']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
