"""The Settings form's marks: ● on a setting that differs from the baseline (the
defaults, a loaded file, the choice last reset to), ◆ on one a preset set, the
line above the form that counts them, and settings greyed out while the other
values make them unused (``field_applies``).

The label column keeps its width with or without a mark (``fix_label_column``),
so marking never shifts the fields sideways.
"""

from __future__ import annotations

import html
from typing import Any, Collection, Iterable, Mapping

from PySide6.QtGui import QFont, QFontMetrics

from mlcls_gui.core.config import field_default, field_spec
from mlcls_gui.core.field_applies import field_applies, when_it_applies
from mlcls_gui.gui.settings.form_rows import FieldRow, format_value
from mlcls_gui.gui.widgets.field_labels import with_form_labels

CHANGED_MARK = "● "
CHANGED_STYLE = "color: #0d47a1; font-weight: bold;"
PRESET_MARK = "◆ "
PRESET_STYLE = "color: #1b5e20; font-weight: bold;"


def mark_set_by_preset(row: FieldRow, preset_title: str) -> None:
    row.label.setText(PRESET_MARK + row.label_text)
    row.label.setStyleSheet(PRESET_STYLE)
    seed = html.escape(format_value(field_default(row.name)))
    row.label.setToolTip(f"<b>Set by preset {html.escape(preset_title)}</b> (the seed script: {seed}).<br>"
                         + row.editor.toolTip())


def mark_differs(row: FieldRow, differs: bool, baseline_value: Any, baseline_source: str) -> None:
    row.label.setText(CHANGED_MARK + row.label_text if differs else row.label_text)
    row.label.setStyleSheet(CHANGED_STYLE if differs else "")
    if differs:
        row.label.setToolTip(f"<b>Differs from {html.escape(baseline_source)}</b> "
                             f"({html.escape(format_value(baseline_value))}).<br>" + row.editor.toolTip())
    else:
        row.label.setToolTip(row.editor.toolTip())


def marks_line(changed: Collection[str], by_preset: Collection[str], preset_title: str,
               baseline_source: str, hidden: Collection[str]) -> str:
    """The line above the form: what each mark means, how many it marks, and how
    many of those are among the ``hidden`` fields (under All settings)."""
    text = (f"{CHANGED_MARK}marks the {len(changed)} setting(s) that differ from {baseline_source}"
            f"{_hidden_note(changed, hidden)}." if changed else f"All settings as in {baseline_source}.")
    if by_preset:
        text = (f"{PRESET_MARK}marks the {len(by_preset)} setting(s) set by preset {preset_title}"
                f"{_hidden_note(by_preset, hidden)}. " + text)
    return text


def _hidden_note(names: Collection[str], hidden: Collection[str]) -> str:
    count = sum(name in hidden for name in names)
    return f" ({count} of them under All settings)" if count else ""


def grey_out_unused(rows: Iterable[FieldRow], values: Mapping[str, Any], tips: Mapping[str, str]) -> None:
    """Disable the rows that have no effect with ``values`` (ASL settings with another
    loss, the LR step with a cosine schedule …); the editor's tooltip (its own, in
    ``tips``) then says when the field applies."""
    for row in rows:
        if not field_spec(row.name).applies_when:
            continue
        applies = field_applies(row.name, values)
        row.row_widget.setEnabled(applies)  # the editor and its Browse… button
        row.label.setEnabled(applies)
        reason = "" if applies else (
            f"<br><b>Not used now.</b> {html.escape(with_form_labels(when_it_applies(row.name)))}")
        row.editor.setToolTip(tips[row.name] + reason)


def fix_label_column(rows: Collection[FieldRow], font: QFont, max_width: int) -> None:
    """One label column width for marked and unmarked labels alike, so a change
    mark never widens the column and shifts every field sideways. Sized for the
    usual labels, at most ``max_width``; a longer one wraps onto a second line."""
    bold = QFont(font)
    bold.setBold(True)
    metrics = QFontMetrics(bold)
    widest = max(metrics.horizontalAdvance(CHANGED_MARK + row.label_text) for row in rows)
    width = min(widest, max_width) + 4
    for row in rows:
        row.label.setFixedWidth(width)
        row.label.setWordWrap(True)
