"""``mlcls-gui explain MODEL IMAGE --label LABEL --out heatmap.png [--raw heat.npy]``

A Grad-CAM saliency map: where in IMAGE the model found its evidence for
LABEL. ``--out`` writes the image with the heatmap blended over it, ``--raw``
the map itself as float32 in [0, 1]; both at the size of the original image
(EXIF orientation applied). The work is ``core.ops.explain``, which the
window's saliency overlays call too.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Callable

from mlcls_gui.commands.outputs import OVERWRITE_HELP, check_output_file
from mlcls_gui.core.ops.explain import DEFAULT_ALPHA

logger = logging.getLogger(__name__)


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "explain", help="saliency map (Grad-CAM) of one label on one image",
        description="Show where in an image the model found its evidence for a label (Grad-CAM).")
    parser.add_argument("model", help="final model or checkpoint file (.pt)")
    parser.add_argument("image", help="the image to explain")
    parser.add_argument("--label", help="the label to explain (default: the model's most confident label)")
    parser.add_argument("--out", metavar="FILE.png",
                        help="write the image with the heatmap blended over it (PNG, the image's size)")
    parser.add_argument("--raw", metavar="FILE.npy",
                        help="write the heatmap itself: float32, the image's height × width, values in [0, 1]")
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                        help=f"opacity of the heatmap in --out, 0 to 1 (default {DEFAULT_ALPHA})")
    parser.add_argument("--device", default="cpu", help="cpu (default), auto, cuda:N or mps")
    parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    parser.set_defaults(run_command=run)


def run(args: argparse.Namespace) -> int:
    from mlcls_gui.core.errors import ConfigError

    if not args.out and not args.raw:
        raise ConfigError("Nothing to write: give --out FILE.png (the overlay) and/or --raw FILE.npy (the heatmap).")
    _check_suffix(args.out, "--out", ".png")
    _check_suffix(args.raw, "--raw", ".npy")
    if not 0.0 <= args.alpha <= 1.0:
        raise ConfigError(f"--alpha {args.alpha}: expected a number from 0 to 1.")
    for path, option in ((args.out, "--out"), (args.raw, "--raw")):
        if path:
            check_output_file(path, option, overwrite=args.overwrite)

    import numpy as np

    from mlcls_gui.core.data.images import ImageLoadError, load_rgb
    from mlcls_gui.core.inference.predict import Predictor
    from mlcls_gui.core.ops.explain import explain, overlay

    try:
        image = load_rgb(args.image)
    except ImageLoadError as exc:
        raise ConfigError(f"Cannot read the image {args.image}: {exc.reason}.") from None
    predictor = Predictor.from_file(args.model, device=args.device)
    explanation = explain(predictor, image, args.label)  # ConfigError naming the labels when unknown
    heatmap = explanation.heatmap
    if args.raw:
        _write(lambda: np.save(Path(args.raw).expanduser(), heatmap), args.raw)
        print(f"Wrote {args.raw} (heatmap {heatmap.shape[1]}×{heatmap.shape[0]}, float32 in [0, 1])")
    if args.out:
        blended = overlay(explanation, args.alpha)
        _write(lambda: blended.save(Path(args.out).expanduser(), format="PNG"), args.out)
        print(f"Wrote {args.out} ({image.width}×{image.height})")
    print(f"{explanation.label}: probability {explanation.probability:.3f}")
    return 0


def _check_suffix(path: str | None, option: str, suffix: str) -> None:
    from mlcls_gui.core.errors import ConfigError

    if path and Path(path).suffix.lower() != suffix:
        raise ConfigError(f"{option} {path}: give a file name ending in {suffix}.")


def _write(save: Callable[[], object], path: str) -> None:
    from mlcls_gui.core.errors import ConfigError, os_reason

    try:
        save()
    except OSError as exc:
        raise ConfigError(f"Cannot write {path} ({os_reason(exc)}).") from None
