"""What the Health tab runs and says: the check off the GUI thread, the report's
sentences (leakage first), where a report is saved by default, the undo offer."""

from __future__ import annotations

import html
from pathlib import Path

from mlcls_gui.core.health.check import HealthOptions
from mlcls_gui.core.health.report import HealthReport
from mlcls_gui.gui.health.health_rows import CONFLICT_COLOUR, LEAK_COLOUR
from mlcls_gui.gui.widgets.task_runner import Job


def run_check(root: str, options: HealthOptions, job: Job) -> HealthReport | None:
    """Runs on the runner's thread; None when cancelled."""
    from mlcls_gui.core.health.check import check_health
    from mlcls_gui.core.review.label_review import ReviewCancelled

    try:
        return check_health(root, options, on_progress=job.progress.set, should_stop=job.cancel.is_set)
    except ReviewCancelled:
        return None


def default_report_path(report_root: str) -> str:
    """``<data folder>_health.json`` beside the data folder, never inside it."""
    folder = Path(report_root)
    return str(folder.parent / f"{folder.name}_health.json")


def summary_html(report: HealthReport) -> str:
    """The report's sentences, leakage first (red), label conflicts orange."""
    lines = report.summary_lines()
    leaks = [line for line in lines if "near copy in" in line or line.startswith("Train with split_groups")]
    rest = [line for line in lines if line not in leaks]
    shown = []
    for line in leaks + rest:
        text = html.escape(line)
        if line in leaks:
            text = f"<b style='color:{LEAK_COLOUR}'>{text}</b>"
        elif "different labels" in line:
            text = f"<span style='color:{CONFLICT_COLOUR}'>{text}</span>"
        shown.append(text)
    return "<br>".join(shown)


def undo_status_of(root: str):
    from mlcls_gui.core.review.relabel import undo_status

    return undo_status(root)
