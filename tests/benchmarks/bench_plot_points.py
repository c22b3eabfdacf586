"""How the live plots cope with long runs: cost per batch event and per redraw.

    python tests/benchmarks/bench_plot_points.py

Feeds 1,000 / 10,000 / 50,000 batch points to the training plots and times
adding them and a redraw with paint (median of 5). Offscreen unless $DISPLAY.
"""

from __future__ import annotations

import os
import statistics
import time

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication  # noqa: E402

import mlcls_gui.gui  # noqa: E402,F401 - applies the PySide6 work-around first
from mlcls_gui.core.training.events import BatchEnd  # noqa: E402
from mlcls_gui.gui.train.plots import TrainingPlots  # noqa: E402


def main() -> None:
    app = QApplication.instance() or QApplication([])
    for count in (1_000, 10_000, 50_000):
        plots = TrainingPlots()
        plots.resize(700, 500)
        plots.show()
        started = time.perf_counter()
        for step in range(1, count + 1):
            plots.add_batch(BatchEnd(epoch=1 + step // 1000, batch=step % 1000 + 1, batches=1000,
                                     loss=1.0 / step, images=16, images_per_second=100.0,
                                     global_step=step))
        per_event = (time.perf_counter() - started) / count
        redraws = []
        for _ in range(5):
            started = time.perf_counter()
            plots.redraw()
            plots.repaint()
            app.processEvents()
            redraws.append(time.perf_counter() - started)
        print(f"{count:>6} batch points: {per_event * 1e6:.1f} µs per event, "
              f"redraw + paint median {statistics.median(redraws) * 1000:.1f} ms")
        plots.close()


if __name__ == "__main__":
    main()
