"""``mlcls-gui labels import|export|undo``: label files of other tools in and out of a
data root (Create ML, Label Studio, Vertex AI, this app's CSV; ``core/labelling/label_files``)."""

from __future__ import annotations

import argparse
import os


def add_parser(commands: argparse._SubParsersAction) -> None:
    from mlcls_gui.core.labelling.label_formats import FORMATS

    parser = commands.add_parser(
        "labels", help="import or export label files (Create ML, Label Studio, Vertex AI, CSV)",
        description="Bring labels made in another tool into a data root, or write the data root's labels "
        "for one. Formats: createml (annotations.json), labelstudio (Label Studio's JSON export, choices), "
        "vertex (Vertex AI CSV: [ML_USE,]uri,label,…), csv (this app's path,labels CSV).")
    actions = parser.add_subparsers(dest="labels_action", metavar="ACTION", required=True)
    importing = actions.add_parser(
        "import", help="give the data root's images the labels of a file (moves them between label folders)",
        description="Match every entry of FILE to an image of DATA_ROOT (by its path relative to the data "
        "folder, else by the longest path suffix or a unique file name) and give it the file's labels: "
        "images move into their label folders (or the labels CSV is rewritten after a backup), journaled. "
        "Any bad entry (missing or ambiguous image, a path outside the data folder, a bad label, an image "
        "twice with different labels) refuses the whole file and names every bad entry; nothing moves.")
    importing.add_argument("data_root", help="the data folder (label folders) or labels CSV")
    importing.add_argument("file", help="the label file")
    importing.add_argument("--format", dest="fmt", choices=FORMATS,
                           help="the file's format (default: told by its content)")
    importing.add_argument("--dry-run", action="store_true", help="only say what would change")
    importing.set_defaults(run_command=run_import)
    exporting = actions.add_parser(
        "export", help="write the labels of the data root's labelled images to a file",
        description="Write every labelled image of DATA_ROOT (all splits) with its labels, paths relative "
        "to the data folder. Never replaces a file without --overwrite, and never writes into a folder of "
        "the images.")
    exporting.add_argument("data_root", help="the data folder (label folders) or labels CSV")
    exporting.add_argument("file", help="the file to write")
    exporting.add_argument("--format", dest="fmt", choices=FORMATS, required=True, help="the file's format")
    exporting.add_argument("--overwrite", action="store_true", help="replace FILE when it exists")
    exporting.add_argument("--uri-prefix", default="", metavar="P",
                           help="vertex and labelstudio: put P before each relative path (gs://bucket/, "
                           "or /data/local-files/?d= for Label Studio's local files)")
    exporting.set_defaults(run_command=run_export)
    undoing = actions.add_parser(
        "undo", help="reverse the last apply on the data root (an import, a review's or the Label tab's)",
        description="Put back what the last journaled apply on DATA_ROOT changed: an import, or the Review, "
        "Label or Health tab's Apply (the same journal as their Undo last apply).")
    undoing.add_argument("data_root", help="the data folder (label folders) or labels CSV")
    undoing.set_defaults(run_command=run_undo)


def run_import(args: argparse.Namespace) -> int:
    from mlcls_gui.core.labelling.label_files import LabelFileError, import_label_file, read_label_file

    if args.dry_run:
        found = read_label_file(args.file, args.data_root, args.fmt)
        if found.problems:
            raise LabelFileError(found.problem_text())
        print(f"{found.file} ({found.fmt}): {len(found.changes)} image(s) would get new labels, "
              f"{found.unchanged} already have them, {len(found.not_labelled)} entries give no labels.")
        for path, labels in sorted(found.changes.items()):
            print(f"  {os.path.relpath(path, found.root)} → {'+'.join(labels) or '(none of the labels)'}")
        return 0
    result = import_label_file(args.data_root, args.file, args.fmt)
    for note in result.notes:
        print(f"Note: {note}")
    if not result.changed:
        print("Nothing to change: every image already has the file's labels.")
        return 0
    base = result.journal.parent
    if result.csv_backup:
        print(f"Wrote the labels of {len(result.changed)} image(s) into the labels CSV (backup: {result.csv_backup}).")
    else:
        renamed = f"; {result.renamed} renamed because the name was taken" if result.renamed else ""
        print(f"Moved {len(result.changed)} image(s) into their new label folders{renamed}:")
        for change in result.changed:
            print(f"  {os.path.relpath(change.before, base)} → {os.path.relpath(change.after, base)}")
    print(f"To undo: mlcls-gui labels undo {args.data_root} (or Undo last apply in the Review or Label tab).")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from mlcls_gui.core.labelling.label_files import export_labels

    written = export_labels(args.data_root, args.file, args.fmt, overwrite=args.overwrite,
                            uri_prefix=args.uri_prefix)
    print(f"Wrote the labels of {written.images} image(s) to {written.path} ({written.fmt}).")
    for line in written.left_out:
        print(f"Note: {line}")
    return 0


def run_undo(args: argparse.Namespace) -> int:
    from mlcls_gui.core.review.relabel import undo_last_apply

    result = undo_last_apply(args.data_root)
    print(f"Put back {len(result.changed)} image(s).")
    for note in result.notes:
        print(f"Note: {note}")
    return 0
