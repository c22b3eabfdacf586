"""Plot titles that carry their own legend (the training plots and the Runs tab's curves)."""

from __future__ import annotations


def title_with_legend(title: str, entries: list[tuple[str, str, str]]) -> str:
    """``title`` followed by (colour, mark, name) entries, as the plot title's HTML."""
    keys = "&nbsp;&nbsp;".join(
        f"<span style='color:{colour}'>{mark}</span>&nbsp;{name}" for colour, mark, name in entries)
    return f"<b>{title}</b>&nbsp;&nbsp;&nbsp;<span style='font-size:8pt'>{keys}</span>"
