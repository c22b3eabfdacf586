"""The end-of-run summary shown in the run panel, built from ``summary.json``'s dict.

It shows the test scores at 0.5 and at the model's tuned per-label thresholds
side by side and says which of the two the model file uses (Predict, Evaluate
and Batch predict apply its thresholds), so the summary and the predictions
never seem to disagree. It lists the files the run left in its folder once
each, and says when the test evaluation was skipped.
"""

from __future__ import annotations

import html
import logging
import math
from pathlib import Path
from typing import Any

from mlcls_gui.core.output_names import MANUAL_CHECKPOINT_NAME

logger = logging.getLogger(__name__)

HEADLINES = {
    "completed": "Training completed",
    "stopped": "Training stopped by request",
    "early-stopped": "Training stopped early (no more improvement)",
    "time-up": "Training reached its time budget",
}
# A run's end in the run panel: (state line, its colour, the progress bar's word).
RUN_END_STATES = {
    "completed": ("Run finished.", "#1b5e20", "finished"),
    "early-stopped": ("Run finished (stopped early: no more improvement).", "#1b5e20", "stopped early"),
    "stopped": ("Run stopped.", "#b26a00", "stopped"),
    "time-up": ("Run finished (its time budget was reached).", "#1b5e20", "time budget reached"),
}
FAR_FROM_HALF = 0.25  # a tuned threshold below 0.25 or above 0.75 gets a word of explanation


def fmt_metric(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "—" if math.isnan(number) else f"{number:.{digits}f}"


def summary_html(summary: dict[str, Any], output_dir: str, final_model_path: str) -> str:
    """The summary as rich text for a QLabel."""
    # The test scores first: they are what the summary is read for.
    test, thresholds_note = _test_html(summary)
    parts = [f"<b>{html.escape(_headline(summary))}</b>", test, _leak_html(summary.get("near_copies_across_splits"))]
    best_epoch = summary.get("best_epoch")
    best_val = summary.get("best_val") or {}
    if best_epoch:
        parts.append(
            f"Best epoch <b>{best_epoch}</b> ({html.escape(str(summary.get('monitor', '')))}): "
            f"val loss {fmt_metric(best_val.get('val_loss'), 4)}, exact-match "
            f"{fmt_metric(best_val.get('val_accuracy'))}, mAP {fmt_metric(best_val.get('val_map'))}, "
            f"macro F1 {fmt_metric(best_val.get('val_macro_f1'))}"
            + (f"; kept the <b>{html.escape(str(summary['weights']))}</b>" if summary.get("weights") else ""))
    parts.append(thresholds_note)
    if output_dir:
        parts.append(_files_html(summary, output_dir, final_model_path))
    return "<br>".join(p for p in parts if p)


def _leak_html(check: dict[str, Any] | None) -> str:
    """A red line when validation or test images have near copies in training (the run's split check)."""
    if not check or not (check.get("test_images_with_copy_in_train") or check.get("val_images_with_copy_in_train")):
        return ""
    test, val = check.get("test_images_with_copy_in_train", 0), check.get("val_images_with_copy_in_train", 0)
    return (f"<span style='color:#c62828'><b>Leaking split:</b> {test} test and {val} validation image(s) have a "
            "near copy in training, so these scores are optimistic. The Health tab shows them; Keep near "
            "copies together (Settings) gives an honest split.</span>")


def _headline(summary: dict[str, Any]) -> str:
    reason = str(summary.get("reason", ""))
    if reason not in HEADLINES:
        return str(summary.get("message", "Run ended."))
    text = f"{HEADLINES[reason]} after {summary.get('epochs_completed', '?')} epoch(s)"
    return text + (f"; best epoch {summary['best_epoch']}." if summary.get("best_epoch") else ".")


def _test_html(summary: dict[str, Any]) -> tuple[str, str]:
    """The test scores (a small table) and the note on the thresholds the model uses."""
    images = summary.get("test_images") or (summary.get("split_sizes") or {}).get("test")
    if not images:
        return "", ""
    if summary.get("test_exact_match") is None and summary.get("test_map") is None:
        return (f"Test ({images} images): <b>not evaluated</b> — the test evaluation was skipped. "
                "The Evaluate tab can run it on the test split."), ""
    tuned = summary.get("test_at_thresholds") or {}
    thresholds = {str(k): float(v) for k, v in (summary.get("thresholds") or {}).items()}
    per_label = bool(thresholds) and any(abs(t - 0.5) > 1e-9 for t in thresholds.values())
    held_out = "" if summary.get("test_held_out", True) else \
        " <b style='color:#b71c1c'>not held out: the split changed on resume</b>"
    tuned_head = "at the tuned thresholds <b>(used)</b>" if per_label else "at the thresholds"
    rows = [
        ("Exact-match", summary.get("test_exact_match"), tuned.get("exact_match")),
        ("Macro F1", summary.get("test_macro_f1"), tuned.get("macro_f1")),
    ]
    cells = "".join(
        f"<tr><td>{name}</td><td align='right'>{fmt_metric(half)}</td>"
        f"<td align='right'>{fmt_metric(at) if per_label else '(= 0.5)'}</td></tr>"
        for name, half, at in rows)
    table = (
        f"<b>Test</b>, {images} images{held_out}; mAP {fmt_metric(summary.get('test_map'))} and loss "
        f"{fmt_metric(summary.get('test_loss'), 4)} need no threshold:"
        "<table cellspacing='0' cellpadding='1'>"
        f"<tr><td></td><td align='right'>&nbsp;at 0.5&nbsp;&nbsp;</td><td align='right'>{tuned_head}</td></tr>"
        f"{cells}</table>")
    if not per_label:
        return table, "The model file uses 0.5 for every label."
    listing = ", ".join(f"{html.escape(label)} {t:.2f}" for label, t in thresholds.items())
    note = (f"The model file uses per-label thresholds tuned on the validation split ({listing}); "
            "Predict, Evaluate and Batch predict apply them.")
    far = [label for label, t in thresholds.items() if abs(t - 0.5) > FAR_FROM_HALF]
    if far:
        note += (f" Far from 0.5 ({html.escape(', '.join(far))}): the model's confidences there are not "
                 "centred yet (short run or few images); tuning keeps thresholds within 0.05–0.95.")
    return table, note


def _files_html(summary: dict[str, Any], output_dir: str, final_model_path: str) -> str:
    """Each file once, the final model first; what exists in the folder, when it can be read."""
    folder = Path(output_dir)
    final = Path(final_model_path).name if final_model_path else ""
    names: list[str] = [final] if final else []
    for value in (summary.get("files") or {}).values():
        if value and str(value) not in names:
            names.append(str(value))
    if MANUAL_CHECKPOINT_NAME not in names:
        names.append(MANUAL_CHECKPOINT_NAME)
    if folder.is_dir():
        names = [name for name in names if (folder / name).exists()]
    elif MANUAL_CHECKPOINT_NAME in names:
        names.remove(MANUAL_CHECKPOINT_NAME)
    shown = [f"<b>{html.escape(n)}</b>" if n == final else html.escape(n) for n in names]
    return f"Files in <code>{html.escape(output_dir)}</code>: {', '.join(shown)}"
