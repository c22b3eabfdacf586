"""``mlcls-gui lr-find [CONFIG] [--set FIELD=VALUE ...]``: the learning-rate range
test (see ``mlcls_gui/core/training/lr_finder.py``) from the command line.

Prints the loss against the learning rate as a table with bars, the
suggestion and how to use it; ``--json`` and ``--plot`` also write the curve.
Nothing is written into the config's output folder.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from mlcls_gui.commands.config_options import with_overrides
from mlcls_gui.commands.outputs import add_overwrite_option, check_output_file, write_json_output

if TYPE_CHECKING:
    from mlcls_gui.core.config import TrainConfig
    from mlcls_gui.core.training.lr_finder import LrFindResult, LrPoint

TABLE_ROWS = 20
BAR_WIDTH = 40
PROGRESS_SECONDS = 5.0  # a progress line at most this often: a long test is seen to move


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "lr-find", help="suggest a learning rate with a short range test (writes no run)",
        description="Train briefly from the configured initial weights while the learning rate "
        "grows from --start-lr to --end-lr, and suggest the learning rate where the loss falls "
        "best. The config's output folder and earlier runs are left alone.")
    parser.add_argument("config", nargs="?", help="config JSON file (defaults: the seed's settings)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                        help="override one config field, e.g. --set images_root=data")
    parser.add_argument("--steps", type=int, default=None,
                        help="training batches in the test (default 100, at most 1000)")
    parser.add_argument("--start-lr", type=float, default=None, help="first learning rate (default 1e-7)")
    parser.add_argument("--end-lr", type=float, default=None, help="last learning rate (default 10)")
    parser.add_argument("--json", dest="json_file", metavar="FILE", help="also write the curve and suggestion")
    parser.add_argument("--plot", metavar="FILE.png", help="also draw the curve into a PNG file")
    add_overwrite_option(parser)
    parser.set_defaults(run_command=run)


def run(args: argparse.Namespace) -> int:
    from mlcls_gui.core.errors import ConfigError
    from mlcls_gui.core.training import lr_finder

    config = _config(args)
    if args.json_file:
        check_output_file(args.json_file, "--json", overwrite=args.overwrite)
    if args.plot:
        check_output_file(args.plot, "--plot", overwrite=args.overwrite)
        if Path(args.plot).suffix.lower() != ".png":
            raise ConfigError(f"--plot {args.plot}: the plot is a PNG image; give a file name ending in .png.")
    start = lr_finder.DEFAULT_START_LR if args.start_lr is None else args.start_lr
    end = lr_finder.DEFAULT_END_LR if args.end_lr is None else args.end_lr
    steps = lr_finder.DEFAULT_STEPS if args.steps is None else args.steps
    lr_finder.check_range(start, end, steps)  # before the data is scanned
    print(f"Learning-rate test on {config.images_root}: {steps} batches of {config.batch_size}, "
          f"lr {start:.0e} → {end:.0e} ({config.arch}, {config.optimizer})")
    result = lr_finder.find_learning_rate(config, start_lr=start, end_lr=end, steps=steps,
                                          on_point=Progress(steps))
    print(format_table(result))
    print(result.message)
    if result.alternatives:
        print("Other rules: " + ", ".join(
            f"{name} {value:.2g}" if value is not None else f"{name} none"
            for name, value in result.alternatives.items()))
    if result.suggestion is not None:
        words = ["mlcls-gui", "train", *([args.config] if args.config else [])]
        words += [f"--set={item}" for item in args.overrides if not item.startswith("learning_rate=")]
        words.append(f"--set=learning_rate={result.suggestion:.2g}")
        print(f"Train with it: {shlex.join(words)}")
    if args.json_file:
        payload = {"config": config.to_dict(), **result.to_dict()}
        write_json_output(args.json_file, payload, "--json", indent=2)
        print(f"Wrote {args.json_file}")
    if args.plot:
        draw_plot(result, args.plot)
        print(f"Wrote {args.plot}")
    return 0 if result.suggestion is not None else 1


class Progress:
    """An ``on_point`` callback: a line on stderr every PROGRESS_SECONDS (stdout keeps the result)."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.started = self.last = time.monotonic()

    def __call__(self, point: "LrPoint") -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_SECONDS:
            return
        self.last = now
        print(f"  step {point.step}/{self.steps}: lr {point.lr:.2e}, smoothed loss {point.smoothed:.4f} "
              f"({now - self.started:.0f} s)", file=sys.stderr, flush=True)


def _config(args: argparse.Namespace) -> "TrainConfig":
    from mlcls_gui.core.config import TrainConfig

    config = TrainConfig.load_json(args.config) if args.config else TrainConfig()
    return with_overrides(config, args.overrides)


def format_table(result: "LrFindResult") -> str:
    """About TABLE_ROWS points spread evenly over the test, each with a bar as long
    as its smoothed loss; the row nearest the suggestion is marked."""
    points = result.points
    if not points:
        return "(no step was completed)"
    stride = max(1, math.ceil(len(points) / TABLE_ROWS))
    shown = points[::stride]
    if shown[-1] is not points[-1]:
        shown.append(points[-1])
    marked = None
    if result.suggestion is not None:
        marked = min(shown, key=lambda p: abs(math.log(p.lr / result.suggestion)))
    low = min(p.smoothed for p in shown)
    high = max(p.smoothed for p in shown)
    span = high - low or 1.0
    lines = [f"{'step':>5}  {'learning rate':>13}  {'loss':>8}  {'smoothed':>8}"]
    for p in shown:
        bar = "#" * (1 + round((p.smoothed - low) / span * (BAR_WIDTH - 1)))
        mark = "  <- suggested" if p is marked else ""
        lines.append(f"{p.step:>5}  {p.lr:>13.2e}  {p.loss:>8.4f}  {p.smoothed:>8.4f}  {bar}{mark}")
    return "\n".join(lines)


def draw_plot(result: "LrFindResult", path: str, size: tuple[int, int] = (720, 440)) -> None:
    """Smoothed loss against log10(learning rate), the suggestion as a vertical line."""
    from PIL import Image, ImageDraw

    width, height = size
    left, right, top, bottom = 70, 20, 30, 50
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    points = result.points
    if not points:
        draw.text((left, top), "no step was completed", fill="black")
        image.save(path)
        return
    xs = [math.log10(p.lr) for p in points]
    ys = [p.smoothed for p in points]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1

    def to_pixel(x: float, y: float) -> tuple[float, float]:
        return (left + (x - x0) / (x1 - x0) * (width - left - right),
                height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom))

    draw.rectangle([left, top, width - right, height - bottom], outline="#888")
    for decade in range(math.ceil(x0), math.floor(x1) + 1):  # a tick per power of ten
        x, _ = to_pixel(decade, y0)
        draw.line([x, height - bottom, x, height - bottom + 5], fill="#444")
        draw.text((x - 12, height - bottom + 8), f"1e{decade}", fill="#222")
    for fraction in (0.0, 0.5, 1.0):
        value = y0 + fraction * (y1 - y0)
        _, y = to_pixel(x0, value)
        draw.text((6, y - 6), f"{value:.3f}", fill="#222")
    draw.text((width // 2 - 40, height - 20), "learning rate", fill="#222")
    draw.line([to_pixel(x, y) for x, y in zip(xs, ys)], fill=(30, 90, 200), width=2)
    if result.suggestion is not None:
        x, _ = to_pixel(math.log10(result.suggestion), y0)
        draw.line([x, top, x, height - bottom], fill=(0, 150, 70), width=2)
        draw.text((x + 4, top + 4), f"suggested {result.suggestion:.2g}", fill=(0, 120, 60))
    draw.text((left, 8), f"Smoothed training loss ({result.stop_reason}, {len(points)} steps)", fill="#222")
    image.save(path)
