"""Command line: no sub-command opens the window; sub-commands run headless.

    mlcls-gui [--demo]                           the window
    mlcls-gui --install-desktop-entry            add it to the desktop's menu (Linux)
    mlcls-gui train [CONFIG.json] [--preset NAME] [--set F=V ...] [--resume CKPT]
    mlcls-gui lr-find [CONFIG.json] [--set F=V ...]      suggest a learning rate
    mlcls-gui predict MODEL IMAGE_OR_FOLDER... [--json] [--csv FILE] [--copy-to DIR]
    mlcls-gui evaluate MODEL DATA_ROOT [--json FILE] [--split all|train|val|test]
    mlcls-gui demo-data DIR
    mlcls-gui scan DATA_ROOT
    mlcls-gui audit DATA_ROOT [--json FILE]
    mlcls-gui export MODEL --format onnx|torchscript [--out FILE] [--check IMAGE...]
    mlcls-gui explain MODEL IMAGE [--label LABEL] --out heatmap.png [--raw heatmap.npy]
    mlcls-gui review DATA_ROOT [--model MODEL] [--json FILE] [--csv FILE]
    mlcls-gui runs FOLDER... [--json]

User errors exit with status 2 and one clear line on stderr, no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

from mlcls_gui import __version__
from mlcls_gui.commands.outputs import (
    add_overwrite_option,
    check_output_file,
    check_output_folder,
    write_json_output,
)
from mlcls_gui.core.errors import MlclsError

if TYPE_CHECKING:
    from mlcls_gui.core.training.engine import RunControl

logger = logging.getLogger("mlcls_gui.cli")

EXIT_USER_ERROR = 2
EXIT_FAILED = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlcls-gui",
        description="Train multi-label image classifiers from folders of images. "
        "Without a sub-command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"mlcls-gui {__version__}")
    parser.add_argument("--demo", action="store_true",
                        help="open the window with the built-in demo data selected")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--install-desktop-entry", action="store_true",
                        help="add mlcls-gui to the desktop's application menu (Linux: writes "
                        "mlcls-gui.desktop and its icon under ~/.local/share) and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = commands.add_parser("train", help="train from a config file and/or --set values")
    train.add_argument("config", nargs="?", help="config JSON file (defaults: the seed's settings)")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                       help="override one config field, e.g. --set images_root=data --set n_epochs=20")
    train.add_argument("--preset", choices=("seed", "recommended"),
                       help="start from a training recipe (seed: the seed script's, recommended: ours); "
                       "CONFIG's values, then --set values, override it")
    train.add_argument("--resume", metavar="CHECKPOINT",
                       help="continue from a checkpoint or final model file, in its folder; "
                       "without CONFIG, with the config stored in it")
    train.add_argument("--allow-split-change", action="store_true",
                       help="resume even when the data split differs from the checkpoint's; "
                       "the test score is then marked as not held out")
    train.add_argument("--save-config", metavar="FILE",
                       help="write the resulting config to FILE and exit without training")
    train.add_argument("--quiet", action="store_true", help="print only the epoch lines")
    train.add_argument("--events", metavar="FILE",
                       help="also append every training event to FILE as JSON lines (the window "
                       "follows multi-process runs this way); SIGUSR1 then saves a checkpoint")

    predict = commands.add_parser("predict", help="per-label probabilities for images")
    predict.add_argument("model", help="final model or checkpoint file")
    predict.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER")
    predict.add_argument("--json", action="store_true", help="print JSON instead of a table")
    predict.add_argument("--csv", metavar="FILE", help="also write a CSV file")
    predict.add_argument("--threshold", type=float, help="decision threshold (default: the model's)")
    predict.add_argument("--device", default="cpu", help="cpu (default), auto, cuda:N or mps")
    predict.add_argument("--copy-to", metavar="DIR",
                         help="also copy each image into DIR/<predicted labels joined by '+'>/")

    evaluate = commands.add_parser("evaluate", help="per-label and overall metrics on labelled data")
    evaluate.add_argument("model", help="final model or checkpoint file")
    evaluate.add_argument("data_root", help="folder in the training layout (labels from folder names) "
                          "or a labels CSV")
    evaluate.add_argument("--json", dest="json_file", metavar="FILE",
                          help="write the report with every image's probabilities to FILE")
    evaluate.add_argument("--split", choices=("all", "train", "val", "test"), default="all",
                          help="all images (default) or one split as training made it")
    evaluate.add_argument("--threshold", type=float,
                          help="one threshold for all labels instead of the model's per-label ones")
    evaluate.add_argument("--device", default="cpu")

    demo = commands.add_parser("demo-data", help="write the built-in demo dataset")
    demo.add_argument("folder")
    demo.add_argument("--images-per-folder", type=int, default=50)
    demo.add_argument("--image-size", type=int, default=64)
    demo.add_argument("--config", metavar="FILE",
                      help="also write the demo config (training into FOLDER-output) to FILE")

    scan = commands.add_parser("scan", help="print the dataset summary of a data root")
    scan.add_argument("root", help="data folder, or a labels CSV (or a folder holding labels.csv)")
    scan.add_argument("--val-fraction", type=float, default=0.15)
    scan.add_argument("--test-fraction", type=float, default=0.15)
    scan.add_argument("--seed", type=int, default=42)

    audit = commands.add_parser("audit", help="label co-occurrence, cardinality, imbalance, leaks")
    audit.add_argument("root", help="data folder, or a labels CSV (or a folder holding labels.csv)")
    audit.add_argument("--json", dest="json_file", metavar="FILE", help="also write the audit as JSON")
    audit.add_argument("--val-fraction", type=float, default=0.15)
    audit.add_argument("--test-fraction", type=float, default=0.15)
    audit.add_argument("--seed", type=int, default=42)

    export = commands.add_parser("export", help="write the model as ONNX or TorchScript, parity-checked")
    export.add_argument("model", help="final model or checkpoint file (.pt)")
    export.add_argument("--format", choices=("onnx", "torchscript"), default="onnx")
    export.add_argument("--out", metavar="FILE",
                        help="output file (default: beside MODEL, .onnx or .torchscript.pt)")
    export.add_argument("--check", nargs="+", default=[], metavar="IMAGE",
                        help="images to compare the export with PyTorch on (default: a random batch)")
    for sub in (train, predict, evaluate, demo, audit, export):
        add_overwrite_option(sub)
    for module in _command_modules():
        module.add_parser(commands)
    return parser


# Sub-commands with a module of their own in mlcls_gui/commands/ (add_parser + run).
_COMMAND_MODULES = ("lr_find", "review", "explain", "runs")


def _command_modules() -> list:
    import importlib

    return [importlib.import_module(f"mlcls_gui.commands.{name}") for name in _COMMAND_MODULES]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    _configure_logging(args.verbose)
    if args.install_desktop_entry:
        from mlcls_gui.desktop_entry import install_desktop_entry

        try:
            written = install_desktop_entry()
        except MlclsError as exc:
            print(f"mlcls-gui: error: {exc}", file=sys.stderr)
            return EXIT_USER_ERROR
        for path in written:
            print(f"Wrote {path}")
        return 0
    if args.command is None:
        from mlcls_gui.platform_check import xcb_problem

        problem = _no_display_problem() or xcb_problem()
        if problem:
            print(f"mlcls-gui: error: {problem}", file=sys.stderr)
            return EXIT_USER_ERROR
        from mlcls_gui.gui.app import run_app  # Qt only when the window is wanted

        return run_app(demo=args.demo)
    handler = {
        "train": _cmd_train,
        "predict": _cmd_predict,
        "demo-data": _cmd_demo_data,
        "scan": _cmd_scan,
        "evaluate": _cmd_evaluate,
        "audit": _cmd_audit,
        "export": _cmd_export,
    }.get(args.command) or args.run_command  # commands/ modules set run_command
    try:
        return handler(args)
    except MlclsError as exc:
        print(f"mlcls-gui: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:
        # A path the user gave that the system refuses (too long, missing, not a folder…).
        where = f" {exc.filename}" if exc.filename else ""
        print(f"mlcls-gui: error:{where}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("mlcls-gui: interrupted", file=sys.stderr)
        return 130


def _no_display_problem() -> str:
    """Qt aborts the process without a screen on Linux; say so in one line instead."""
    if not sys.platform.startswith("linux"):
        return ""
    if any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        return ""
    return ("no display to open the window on (DISPLAY is not set). Run it on a desktop, or use "
            "the headless commands: mlcls-gui train / predict / evaluate (see mlcls-gui --help).")


# ----------------------------------------------------------------- commands
def _cmd_train(args: argparse.Namespace) -> int:
    from mlcls_gui.core.config import TrainConfig, current_field_name, parse_field_text
    from mlcls_gui.core.errors import ConfigError

    payload = None
    if args.config:
        config = TrainConfig.load_json(args.config)
        if args.preset:
            # The preset first, then the file's own fields over it.
            from mlcls_gui.core.presets import preset_values

            file_values = json.loads(Path(args.config).read_text(encoding="utf-8"))
            file_values.pop("format_version", None)
            config = TrainConfig.from_dict({**preset_values(args.preset), **file_values}, source=args.config)
    elif args.resume:
        from mlcls_gui.core.model_file.checkpoint import load_model_file
        from mlcls_gui.core.training.resume import checkpoint_config

        payload = load_model_file(args.resume)
        config = checkpoint_config(payload, args.resume)
    else:
        config = TrainConfig()
    if args.preset and not args.config:
        from mlcls_gui.core.presets import apply_preset

        config = apply_preset(config, args.preset)
    changes = {}
    for item in args.overrides:
        name, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected FIELD=VALUE, e.g. --set n_epochs=20.")
        field = current_field_name(name.strip())
        changes[field] = parse_field_text(field, text)
    config = config.with_values(**changes)
    if args.save_config:
        check_output_file(args.save_config, "--save-config", overwrite=args.overwrite)
        config.save_json(args.save_config)
        print(f"Wrote {args.save_config}")
        return 0

    from mlcls_gui.core.training.launch import launch_processes, process_rank, under_launcher

    if config.processes > 1 and not under_launcher():
        launch_processes(config.processes, args.argv, config.device)
        return 0
    # The engine (torch, torchvision: seconds) only now: a bad setting is refused
    # at once, and a launcher that only starts the processes never loads it.
    from mlcls_gui.core.training.engine import RunControl, Trainer
    from mlcls_gui.core.training.events import FinishReason

    control = RunControl()
    # Only the main process reports; the others train quietly beside it.
    sinks = [_ProgressDisplay(quiet=args.quiet)] if process_rank() == 0 else []
    if args.events and process_rank() == 0:
        from mlcls_gui.core.training.event_stream import EventWriter

        sinks.append(EventWriter(args.events))
    trainer = Trainer(config, on_event=lambda event: [sink(event) for sink in sinks], control=control,
                      resume_from=args.resume, allow_split_change=args.allow_split_change,
                      resume_payload=payload)
    payload = None  # the Trainer lets go of it once restored; so must we (weights, optimiser state)
    # Under a launcher, the launcher ends what does not stop: a second signal must
    # not abort a process that is still writing its share of the outputs.
    with _stop_on_signals(control, abort_on_second=not under_launcher()):
        result = trainer.run()
    if process_rank() == 0:
        print(f"Output folder: {result.output_dir}")
    return 0 if result.reason is not FinishReason.FAILED else EXIT_FAILED


# Ctrl-C, a job scheduler's SIGTERM and a closing terminal's SIGHUP all stop the
# run at the next batch with every output written.
_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def _stop_on_signals(control: "RunControl", *, abort_on_second: bool = True) -> Iterator[None]:
    previous = {signum: signal.getsignal(signum) for signum in _STOP_SIGNALS}

    def on_signal(signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        if control.stop_requested and abort_on_second:
            for number, handler in previous.items():  # a second signal interrupts for real
                signal.signal(number, handler)
            raise KeyboardInterrupt
        if control.stop_requested:
            return
        hint = "; Ctrl-C again to abort" if signum == signal.SIGINT and abort_on_second else ""
        print(f"\nStopping after this batch and saving ({name}{hint})…", file=sys.stderr, flush=True)
        control.request_stop()

    for signum in _STOP_SIGNALS:
        signal.signal(signum, on_signal)
    checkpoint_signal = getattr(signal, "SIGUSR1", None)
    if checkpoint_signal is not None:
        previous[checkpoint_signal] = signal.getsignal(checkpoint_signal)
        signal.signal(checkpoint_signal, lambda signum, frame: control.request_checkpoint())
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _cmd_predict(args: argparse.Namespace) -> int:
    from mlcls_gui.core.errors import ConfigError
    from mlcls_gui.core.inference.predict import Predictor, check_copy_target, expand_image_paths

    if args.threshold is not None and not 0 < args.threshold <= 1:
        raise ConfigError(f"--threshold {args.threshold}: expected a number in (0, 1].")
    if args.csv:
        check_output_file(args.csv, "--csv", overwrite=args.overwrite)
    if args.copy_to:
        check_output_folder(args.copy_to, "--copy-to")
        check_copy_target(args.inputs, args.copy_to)
    predictor = Predictor.from_file(args.model, device=args.device)
    paths, rejected = expand_image_paths(args.inputs)
    for path, reason in rejected:
        print(f"mlcls-gui: skipped {path}: {reason}", file=sys.stderr)
    if not paths:
        raise ConfigError("No image files to predict: give image files or folders that hold images.")
    predictions = predictor.predict_paths(paths, threshold=args.threshold)
    if args.json:
        # The thresholds that decided "predicted", per label: the model's own (tuned
        # per label at the end of training), or --threshold for every label.
        print(json.dumps(
            {"model": args.model, "labels": predictor.labels,
             "thresholds": predictor.thresholds_used(args.threshold),
             "thresholds_from": "model" if args.threshold is None else "--threshold",
             "predictions": [_prediction_dict(p) for p in predictions]},
            indent=2,
        ))
    else:
        for prediction in predictions:
            print(_prediction_text(prediction))
    if args.csv:
        from mlcls_gui.core.inference.predict import write_predictions_csv

        write_predictions_csv(args.csv, predictor.labels, predictions)
        print(f"Wrote {args.csv}", file=sys.stderr)
    if args.copy_to:
        from mlcls_gui.core.inference.predict import copy_into_label_folders

        copied = copy_into_label_folders(predictions, args.copy_to)
        print(f"Copied {copied} image(s) into label folders under {args.copy_to}", file=sys.stderr)
    failed = sum(1 for p in predictions if not p.ok)
    return EXIT_FAILED if failed == len(predictions) else 0


def _cmd_demo_data(args: argparse.Namespace) -> int:
    from mlcls_gui.core.config import demo_config
    from mlcls_gui.core.data.demo import write_demo_dataset

    check_output_folder(args.folder, "demo-data")
    if args.config:
        check_output_file(args.config, "--config", overwrite=args.overwrite)
    root = write_demo_dataset(args.folder, images_per_folder=args.images_per_folder,
                              image_size=args.image_size)
    print(f"Wrote the demo dataset to {root}")
    if args.config:
        output = root.with_name(root.name + "-output")
        demo_config(root.resolve(), output.resolve()).save_json(args.config)
        print(f"Wrote the demo config to {args.config} (train with: mlcls-gui train {args.config})")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from mlcls_gui.core.errors import ConfigError
    from mlcls_gui.core.ops.evaluate import evaluate_model_file

    if args.threshold is not None and not 0 < args.threshold <= 1:
        raise ConfigError(f"--threshold {args.threshold}: expected a number in (0, 1].")
    if args.json_file:
        check_output_file(args.json_file, "--json", overwrite=args.overwrite)
    report = evaluate_model_file(args.model, args.data_root, split=args.split, device=args.device,
                                 threshold=args.threshold)
    print(report.to_text())
    if args.json_file:
        write_json_output(args.json_file, report.to_dict(), "--json")
        print(f"Wrote {args.json_file}", file=sys.stderr)
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from mlcls_gui.core.data.audit import audit_dataset
    from mlcls_gui.core.data.dataset import scan_data_root

    if args.json_file:
        check_output_file(args.json_file, "--json", overwrite=args.overwrite)
    splits = scan_data_root(args.root, val_fraction=args.val_fraction,
                            test_fraction=args.test_fraction, seed=args.seed)
    print(splits.summary().to_text())
    audit = audit_dataset(splits)
    print(audit.to_text())
    if args.json_file:
        write_json_output(args.json_file, audit.to_dict(), "--json")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from mlcls_gui.core.inference.export import default_output, export_model

    target = Path(args.out).expanduser() if args.out else default_output(args.model, args.format)
    check_output_file(str(target), "--out", overwrite=args.overwrite)
    check_output_file(str(target.with_name(target.name + ".json")), "--out (its .json sidecar)",
                      overwrite=args.overwrite)
    result = export_model(args.model, args.format, args.out, args.check)
    print(f"Wrote {result.path}")
    print(f"Wrote {result.sidecar}")
    print(f"Parity: max abs difference {result.max_abs_difference:.2e} on {result.checked_on} "
          f"(PyTorch vs {result.format})")
    return 0


def _cmd_scan(args: argparse.Namespace) -> int:
    from mlcls_gui.core.data.dataset import scan_data_root

    splits = scan_data_root(args.root, val_fraction=args.val_fraction,
                            test_fraction=args.test_fraction, seed=args.seed)
    summary = splits.summary()
    print(summary.to_text())
    return EXIT_USER_ERROR if summary.problems else 0


# ----------------------------------------------------------------- output
class _ProgressDisplay:
    """Prints the dataset summary, a live batch line and one line per epoch."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self.interactive = sys.stderr.isatty()
        self._last_draw = 0.0

    def __call__(self, event: object) -> None:
        from mlcls_gui.core.training import events as ev

        if isinstance(event, ev.RunStarted):
            if event.dataset is not None and not self.quiet:
                print(event.dataset.to_text(), flush=True)
            sizes = event.split_sizes
            print(
                f"Training on {event.device}: {sizes['train']} train, {sizes['val']} val, "
                f"{sizes['test']} test images, {len(event.labels)} labels "
                f"({', '.join(event.labels)}); epochs {event.start_epoch}–{event.total_epochs}",
                flush=True,
            )
            print(f"Log: {event.log_path}", flush=True)
            for note in event.notes:
                print(f"Resume: {note}", flush=True)
        elif isinstance(event, ev.BatchEnd) and self.interactive and not self.quiet:
            now = time.monotonic()
            if now - self._last_draw > 0.2 or event.batch == event.batches:
                self._last_draw = now
                print(
                    f"\r  epoch {event.epoch} batch {event.batch}/{event.batches} "
                    f"loss {event.loss:.4f} {event.images_per_second:.0f} img/s   ",
                    end="", file=sys.stderr, flush=True,
                )
        elif isinstance(event, ev.EpochEnd):
            if self.interactive and not self.quiet:
                print("\r" + " " * 70 + "\r", end="", file=sys.stderr)
            m = event.metrics
            print(
                f"Epoch {event.epoch}/{event.total_epochs}: train loss {m['train_loss']:.4f} "
                f"acc {m['train_accuracy']:.3f} | val loss {m['val_loss']:.4f} "
                f"acc {m['val_accuracy']:.3f} mAP {m['val_map']:.3f} F1 {m['val_macro_f1']:.3f} | "
                f"{m['epoch_seconds']:.1f}s{'  * best' if event.improved else ''}",
                flush=True,
            )
        elif isinstance(event, ev.FilesSkipped) and not self.quiet:
            for path, reason in event.files:
                print(f"  skipped {path}: {reason}", file=sys.stderr)
        elif isinstance(event, ev.RunFinished):
            print(event.message, flush=True)
            if event.final_model_path:
                print(f"Final model: {event.final_model_path}", flush=True)


def _prediction_dict(prediction: object) -> dict:
    return {
        "path": prediction.path,
        "probabilities": prediction.probabilities,
        "predicted": list(prediction.predicted),
        "error": prediction.error or None,
    }


def _prediction_text(prediction: object) -> str:
    if not prediction.ok:
        return f"{prediction.path}: cannot read ({prediction.error})"
    ranked = sorted(prediction.probabilities.items(), key=lambda kv: -kv[1])
    scores = "  ".join(f"{label} {p:.3f}" for label, p in ranked)
    labels = "+".join(prediction.predicted) or "(none)"
    return f"{prediction.path}: {labels}    [{scores}]"


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("mlcls_gui").setLevel(logging.DEBUG if verbose else logging.INFO)
    # The package logs INFO to the run's log file; the console shows warnings.
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
