"""``mlcls-gui train [CONFIG.json] [--preset NAME] [--set F=V ...] [--resume CKPT]``

Trains in the foreground and prints the dataset summary, a live batch line
(on a terminal) and one line per epoch. Ctrl-C, SIGTERM and SIGHUP stop the
run at the next batch with every output written; SIGUSR1 saves a checkpoint,
and SIGUSR2 before a stop skips the final test evaluation. With ``processes``
> 1 the command starts the training processes itself.
The window runs every training run as this command with ``--events``
(``core.training.supervised_run``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from mlcls_gui.commands.config_options import parse_overrides
from mlcls_gui.commands.outputs import add_overwrite_option, check_output_file

if TYPE_CHECKING:
    from mlcls_gui.core.training.run_control import RunControl

EXIT_FAILED = 1


def add_parser(commands: argparse._SubParsersAction) -> None:
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
                       help="also append every training event and log record to FILE as JSON lines "
                       "(the window follows its runs this way); SIGUSR1 then saves a checkpoint, SIGUSR2 "
                       "skips the final test, and a second stop signal during that test skips it "
                       "instead of aborting")
    add_overwrite_option(train)
    train.set_defaults(run_command=run)


def run(args: argparse.Namespace) -> int:
    from mlcls_gui.core.config import TrainConfig
    from mlcls_gui.core.training.launch import under_launcher
    from mlcls_gui.core.training.supervised_run import die_with_supervisor

    if not under_launcher():
        die_with_supervisor()  # started by the window: it does not outlive the window

    model_file = None  # the --resume file, read once: for its config and for the resume plan
    if args.config:
        config = TrainConfig.load_json(args.config)
        if args.preset:
            # The preset first, then the file's own fields over it.
            from mlcls_gui.core.presets import preset_values

            file_values = json.loads(Path(args.config).read_text(encoding="utf-8"))
            file_values.pop("format_version", None)
            config = TrainConfig.from_dict({**preset_values(args.preset), **file_values}, source=args.config)
    elif args.resume:
        from mlcls_gui.core.model_file.contents import read_model_file
        from mlcls_gui.core.training.resume import checkpoint_config

        model_file = read_model_file(args.resume)
        config = checkpoint_config(model_file)
    else:
        config = TrainConfig()
    if args.preset and not args.config:
        from mlcls_gui.core.presets import apply_preset

        config = apply_preset(config, args.preset)
    config = config.with_values(**parse_overrides(args.overrides))
    from mlcls_gui.core.field_applies import unused_settings
    from mlcls_gui.core.training.launch import launch_processes, process_rank

    if not under_launcher() and not args.quiet:  # said once, not by every training process
        for sentence in unused_settings(config):
            print(f"Note: {sentence}", file=sys.stderr)
    if args.save_config:
        check_output_file(args.save_config, "--save-config", overwrite=args.overwrite)
        config.save_json(args.save_config)
        print(f"Wrote {args.save_config}")
        return 0

    if config.processes > 1 and not under_launcher():
        launch_processes(config.processes, args.argv, config.device)
        return 0
    from mlcls_gui.core.training.run_control import RunControl

    control = RunControl()
    # Only the main process reports; the others train quietly beside it.
    sinks = [ProgressDisplay(quiet=args.quiet)] if process_rank() == 0 else []
    if args.events and process_rank() == 0:
        import logging

        from mlcls_gui.core.training.event_stream import EventWriter

        events = EventWriter(args.events)  # its first line names this process: it takes signals from here on
        sinks.append(events)
        logging.getLogger("mlcls_gui").addHandler(events.log_handler(logging.INFO))
    # Signals are taken before the engine loads, so a stop during start-up is a stop.
    # Under a launcher, the launcher ends what does not stop: a second signal must
    # not abort a process that is still writing its share of the outputs; a
    # supervised run (--events) takes a second stop as "skip the final test".
    with stop_on_signals(control, abort_on_second=not (under_launcher() or args.events)):
        # The engine (torch, torchvision: seconds) only now: a bad setting is refused
        # at once, and a launcher that only starts the processes never loads it.
        from mlcls_gui.core.training.engine import Trainer
        from mlcls_gui.core.training.events import FinishReason

        plan = None
        if args.resume:
            from mlcls_gui.core.training.resume import plan_resume

            # Planned once, from the file read once: printed here, run by the Trainer.
            plan = plan_resume(model_file or args.resume, config)
            if process_rank() == 0 and not args.quiet:
                print(f"Resume: {plan.text()}")
                for note in plan.notes:
                    print(f"  - {note}")
        trainer = Trainer(config, on_event=lambda event: [sink(event) for sink in sinks], control=control,
                          resume_from=args.resume, allow_split_change=args.allow_split_change,
                          resume_plan=plan, split_check=_near_copy_check(config))
        plan = model_file = None  # the Trainer lets go of them once restored; so must we (weights, optimiser state)
        result = trainer.run()
    if process_rank() == 0:
        print(f"Output folder: {result.output_dir}")
    return 0 if result.reason is not FinishReason.FAILED else EXIT_FAILED


def _near_copy_check(config):  # -> Callable[[DatasetSplits], dict] | None
    """The data health check's near-copy finder on the finished run's split."""
    if not config.check_split_leakage:
        return None

    def check(splits):
        from mlcls_gui.core.health.split_check import near_copies_across_splits

        return near_copies_across_splits(splits, device=config.device)

    return check


# Ctrl-C, a job scheduler's SIGTERM and a closing terminal's SIGHUP all stop the
# run at the next batch with every output written.
_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def stop_on_signals(control: "RunControl", *, abort_on_second: bool = True) -> Iterator[None]:
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
    requests = {"SIGUSR1": control.request_checkpoint, "SIGUSR2": control.request_skip_test}
    for name, request in requests.items():
        number = getattr(signal, name, None)
        if number is not None:
            previous[number] = signal.getsignal(number)
            signal.signal(number, lambda signum, frame, request=request: request())
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class ProgressDisplay:
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
