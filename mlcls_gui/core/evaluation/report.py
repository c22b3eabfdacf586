"""Evaluation reports: a model's per-label and overall metrics on labelled images.

The same report is written after training (test split, ``evaluation.json``)
and by ``mlcls-gui evaluate MODEL DATA_ROOT --json FILE``. It holds every
image's per-label probabilities and true labels, so anyone can recompute the
metrics, and it shows the metrics at 0.5 and at the model's per-label
thresholds side by side.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from mlcls_gui.core.data.splits import Sample, target_matrix
from mlcls_gui.core.evaluation.metrics import MetricReport, compute_metrics

logger = logging.getLogger(__name__)

REPORT_VERSION = 1


@dataclass(frozen=True)
class ImageResult:
    path: str
    labels: tuple[str, ...]  # the true labels (from the folder name or the CSV)
    probabilities: tuple[float, ...]  # in the order of the report's labels
    unknown: tuple[str, ...] = ()  # labels nobody gave (CSV): left out of the metrics


@dataclass
class EvaluationReport:
    labels: list[str]
    thresholds: list[float]
    at_half: MetricReport
    at_thresholds: MetricReport
    images: list[ImageResult]
    source: dict[str, Any] = field(default_factory=dict)  # model, data root, split, held_out
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def probabilities(self) -> np.ndarray:
        return np.array([r.probabilities for r in self.images], dtype=np.float64).reshape(-1, len(self.labels))

    def targets(self) -> np.ndarray:
        return targets_for(self.images, self.labels)

    def to_dict(self) -> dict:
        return {
            "format": "mlcls-gui-evaluation",
            "version": REPORT_VERSION,
            **self.source,
            "labels": list(self.labels),
            "thresholds": list(self.thresholds),
            "images_evaluated": len(self.images),
            "metrics_at_0.5": self.at_half.to_dict(),
            "metrics_at_thresholds": self.at_thresholds.to_dict(),
            "images": [
                {
                    "path": r.path,
                    "labels": list(r.labels),
                    "unknown": list(r.unknown),
                    "probabilities": dict(zip(self.labels, r.probabilities)),
                    "predicted": [label for label, p, t in zip(self.labels, r.probabilities, self.thresholds) if p >= t],
                }
                for r in self.images
            ],
            "skipped": [{"path": p, "reason": why} for p, why in self.skipped],
            "warnings": list(self.warnings),
        }

    def to_text(self) -> str:
        width = max([len(label) for label in self.labels] + [5])
        lines = [f"{len(self.images)} images, {len(self.labels)} labels"]
        lines.append(
            f"{'label':<{width}}  thresh  support   prec  recall     F1     AP   | at 0.5: prec  recall     F1"
        )
        for tuned, half in zip(self.at_thresholds.per_label, self.at_half.per_label):
            ap = "   n/a" if tuned.average_precision != tuned.average_precision else f"{tuned.average_precision:6.3f}"
            lines.append(
                f"{tuned.label:<{width}}  {tuned.threshold:6.3f}  {tuned.support:7d} {tuned.precision:6.3f} "
                f"{tuned.recall:6.3f} {tuned.f1:6.3f} {ap}   |        {half.precision:6.3f} {half.recall:6.3f} "
                f"{half.f1:6.3f}"
            )
        for name, report in (("at 0.5", self.at_half), ("at thresholds", self.at_thresholds)):
            lines.append(
                f"Overall {name}: exact-match {report.exact_match:.4f}, mAP {report.mean_average_precision:.4f}, "
                f"macro F1 {report.macro_f1:.4f}, micro F1 {report.micro_f1:.4f}, "
                f"Hamming loss {report.hamming_loss:.4f}"
            )
        lines += [f"Warning: {w}" for w in self.warnings]
        if self.skipped:
            lines.append(f"Skipped {len(self.skipped)} unreadable file(s).")
        return "\n".join(lines)


def targets_for(images: Sequence[ImageResult], labels: Sequence[str]) -> np.ndarray:
    """(N, L): 1 positive, 0 negative, NaN unknown (masked by the metrics)."""
    samples = [Sample(r.path, r.labels, r.unknown) for r in images]
    return target_matrix(samples, labels).astype(np.float64)


def build_report(
    labels: Sequence[str], thresholds: Sequence[float], images: list[ImageResult], **extra: object,
) -> EvaluationReport:
    probs = np.array([r.probabilities for r in images], dtype=np.float64).reshape(-1, len(labels))
    truth = targets_for(images, labels)
    return EvaluationReport(
        labels=list(labels), thresholds=[float(t) for t in thresholds],
        at_half=compute_metrics(probs, truth, labels, 0.5),
        at_thresholds=compute_metrics(probs, truth, labels, list(thresholds)),
        images=images, **extra,
    )
