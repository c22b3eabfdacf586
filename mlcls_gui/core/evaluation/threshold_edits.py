"""Per-label thresholds being edited by hand over one evaluation report.

The report holds every image's probabilities, so editing a threshold needs no
new inference: the metrics at the edited thresholds are recomputed with
``core.evaluation.metrics.compute_metrics``. The thresholds last saved in the model file
are kept apart, so a client can tell (and show) that an edit is not saved
yet, and go back to them. No Qt: the Evaluate panel is one client, a script
or a test is another.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Sequence

import numpy as np

from mlcls_gui.core.evaluation.metrics import MetricReport, compute_metrics
from mlcls_gui.core.evaluation.report import EvaluationReport
from mlcls_gui.core.evaluation.views import label_mistakes

logger = logging.getLogger(__name__)


class ThresholdEdits:
    """The edited thresholds of one report and the metrics they give."""

    def __init__(self, report: EvaluationReport) -> None:
        self._report = report
        self.probabilities: np.ndarray = report.probabilities()
        # 1 / 0, and NaN for a label a CSV left unknown: masked, never a negative.
        self.truth: np.ndarray = report.targets()
        self._thresholds = [float(t) for t in report.thresholds]
        self._saved = list(self._thresholds)
        # The report's own metrics until the first edit: no recomputation on load.
        self._at_thresholds: MetricReport = report.at_thresholds

    @property
    def labels(self) -> list[str]:
        return list(self._report.labels)

    @property
    def source_report(self) -> EvaluationReport:
        """The report as evaluated, before any edit."""
        return self._report

    @property
    def at_half(self) -> MetricReport:
        """The fixed reference: every label at 0.5."""
        return self._report.at_half

    @property
    def at_thresholds(self) -> MetricReport:
        """The metrics at the thresholds as currently edited."""
        return self._at_thresholds

    def thresholds(self) -> list[float]:
        return list(self._thresholds)

    def saved_thresholds(self) -> list[float]:
        """The thresholds the model file holds (as far as this report knows)."""
        return list(self._saved)

    def edited(self) -> bool:
        """True when the thresholds differ from those in the model file."""
        return self._thresholds != self._saved

    def set_threshold(self, column: int, value: float) -> None:
        """Edit one label's threshold and recompute the metrics."""
        if not 0 <= column < len(self._thresholds):
            raise IndexError(f"label column {column} out of range (0..{len(self._thresholds) - 1})")
        value = float(value)
        if math.isnan(value) or not 0.0 < value <= 1.0:
            raise ValueError(f"a threshold must lie in (0, 1], not {value}")
        self._thresholds[column] = value
        self._recompute()

    def reset(self) -> None:
        """Back to the saved thresholds (metrics recomputed: they may differ
        from the report's own after a save)."""
        self._thresholds = list(self._saved)
        self._recompute()

    def mark_saved(self, thresholds: Sequence[float]) -> None:
        """Record that ``thresholds`` are now in the model file. They may be an
        earlier snapshot than the thresholds shown (edits during the save)."""
        if len(thresholds) != len(self._thresholds):
            raise ValueError(f"{len(thresholds)} thresholds for {len(self._thresholds)} labels")
        self._saved = [float(t) for t in thresholds]

    def current_report(self) -> EvaluationReport:
        """The report with the thresholds (and metrics) as currently edited."""
        return dataclasses.replace(self._report, thresholds=list(self._thresholds),
                                   at_thresholds=self._at_thresholds)

    def mistakes(self, column: int) -> tuple[list[int], list[int]]:
        """Image indices of the label's false positives and false negatives at its edited threshold."""
        return label_mistakes(self.probabilities, self.truth, column, self._thresholds[column])

    def _recompute(self) -> None:
        self._at_thresholds = compute_metrics(self.probabilities, self.truth, self._report.labels,
                                              self._thresholds)
