"""What an evaluation report looks like to a reader, without Qt: one label's
mistakes in the order worth looking at them, metrics as text, whether a tuned
metric beats the one at 0.5, and the report written as a JSON file."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from mlcls_gui.core.evaluation.report import EvaluationReport
from mlcls_gui.core.files.atomic_files import write_json_atomic

logger = logging.getLogger(__name__)

LOWER_IS_BETTER = frozenset({"hamming_loss"})  # MetricReport attributes where less is better


def label_mistakes(probabilities: np.ndarray, truth: np.ndarray, column: int,
                   threshold: float) -> tuple[list[int], list[int]]:
    """Image indices of one label's false positives (most confident first) and
    false negatives (least confident first) at ``threshold``. Unknown (NaN)
    truth is neither."""
    scores = np.asarray(probabilities, dtype=np.float64)[:, column]
    raw = np.asarray(truth, dtype=np.float64)[:, column]
    known = ~np.isnan(raw)
    positive = known & (np.nan_to_num(raw) >= 0.5)
    predicted = scores >= threshold
    false_pos = np.nonzero(predicted & ~positive & known)[0]
    false_neg = np.nonzero(~predicted & positive)[0]
    # Stable sorts: equal scores keep the report's image order.
    false_pos = false_pos[np.argsort(-scores[false_pos], kind="mergesort")]
    false_neg = false_neg[np.argsort(scores[false_neg], kind="mergesort")]
    return false_pos.tolist(), false_neg.tolist()


def format_metric(value: float) -> str:
    """Three decimals; "n/a" for an undefined (NaN) metric."""
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def compare_metric(attribute: str, reference: float, value: float, tolerance: float = 0.0) -> int:
    """+1 when ``value`` beats ``reference`` by more than ``tolerance``, -1 when
    it is worse by more than that, 0 otherwise (NaN compares as neither)."""
    if attribute in LOWER_IS_BETTER:
        reference, value = value, reference
    if value > reference + tolerance:
        return 1
    return -1 if value < reference - tolerance else 0


def write_report_json(report: EvaluationReport, path: str) -> str:
    """Write ``report.to_dict()`` to ``path`` atomically; returns the path written."""
    target = Path(path)
    write_json_atomic(target, report.to_dict())
    logger.info("Evaluation report written to %s", target)
    return str(target)
