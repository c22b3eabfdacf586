"""``mlcls-gui runs FOLDER... [--json]``: every run under the folders in one table.

The same columns as the window's Runs tab: date, folder, data root,
architecture, the settings that differ between the runs, epochs, best
validation score, test mAP / exact-match / macro F1, wall time and how the
run ended. Each folder is searched with its previous_runs/ (and one level of
subfolders, for a folder of output folders).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# Long cells are cut in the terminal table (the JSON keeps them whole).
_MAX_WIDTH = {"folder": 40, "data_root": 30, "settings": 48}


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "runs", help="list the training runs in output folders (with previous_runs/) and compare them")
    parser.add_argument("folders", nargs="+", metavar="FOLDER",
                        help="output folder(s) of training runs, or a folder holding several")
    parser.add_argument("--json", action="store_true", help="print the table as JSON, one object per run")
    parser.set_defaults(run_command=run)


def run(args: argparse.Namespace) -> int:
    from mlcls_gui.core.runs.listing import common_root, differing_settings, load_runs, table_row

    records = load_runs(args.folders)
    differing = differing_settings(records)
    rows = [table_row(record, differing) for record in records]
    if args.json:
        print(json.dumps({"differing_settings": differing, "runs": rows}, indent=2, default=str))
        return 0
    if not rows:
        print(f"No training runs in {', '.join(args.folders)} (looked for run.json, config.json, "
              "metrics.csv or summary.json, and in previous_runs/).")
        return 0
    print(format_table(rows, common_root([record.folder for record in records])))
    return 0


def format_table(rows: list[dict[str, Any]], root: Path | None = None) -> str:
    from mlcls_gui.core.runs.listing import TABLE_COLUMNS, cell_text, short_folder

    headers = [header for _key, header in TABLE_COLUMNS]
    lines = []
    for row in rows:
        cells = []
        for key, _header in TABLE_COLUMNS:
            text = cell_text(row, key)
            if key == "folder":
                text = short_folder(Path(text), root)
            limit = _MAX_WIDTH.get(key)
            if limit and len(text) > limit:
                text = "…" + text[-(limit - 1):]
            cells.append(text)
        lines.append(cells)
    widths = [max(len(h), *(len(cells[i]) for cells in lines)) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    out += ["  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip() for cells in lines]
    notes = [f"{row['folder']}: {'; '.join(row['problems'])}" for row in rows if row["problems"]]
    if root is not None:
        out.insert(0, f"Runs under {root}:")
    if notes:
        out += ["", "Could not read everything:", *(f"  {note}" for note in notes)]
    return "\n".join(out)
