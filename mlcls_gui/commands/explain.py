"""``mlcls-gui explain MODEL IMAGE --label LABEL --out heatmap.png [--raw heat.npy]``

A Grad-CAM saliency map (``core.inference.saliency``): where in IMAGE the model found
its evidence for LABEL. ``--out`` writes the image with the heatmap blended
over it, ``--raw`` the map itself as float32 in [0, 1]; both at the size of
the original image (EXIF orientation applied).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from mlcls_gui.commands.outputs import OVERWRITE_HELP, check_output_file

if TYPE_CHECKING:
    import torch
    from PIL import Image

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
    parser.add_argument("--alpha", type=float, default=0.45,
                        help="opacity of the heatmap in --out, 0 to 1 (default 0.45)")
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
    from mlcls_gui.core.inference.saliency import blend_heatmap, saliency_map

    try:
        image = load_rgb(args.image)
    except ImageLoadError as exc:
        raise ConfigError(f"Cannot read the image {args.image}: {exc.reason}.") from None
    predictor = Predictor.from_file(args.model, device=args.device)
    probabilities = predictor.probabilities(_square_tensor(image, predictor.image_size))[0].tolist()
    label = args.label if args.label is not None else predictor.labels[int(np.argmax(probabilities))]
    heatmap = saliency_map(predictor, image, label)  # ConfigError naming the labels when unknown
    probability = probabilities[predictor.labels.index(label)]
    if args.raw:
        _write(lambda: np.save(Path(args.raw).expanduser(), heatmap), args.raw)
        print(f"Wrote {args.raw} (heatmap {heatmap.shape[1]}×{heatmap.shape[0]}, float32 in [0, 1])")
    if args.out:
        overlay = blend_heatmap(image, heatmap, args.alpha)
        _write(lambda: overlay.save(Path(args.out).expanduser(), format="PNG"), args.out)
        print(f"Wrote {args.out} ({image.width}×{image.height})")
    print(f"{label}: probability {probability:.3f}")
    return 0


def _square_tensor(image: "Image.Image", size: int) -> "torch.Tensor":
    """uint8 (1, 3, size, size): the image stretched to the model's square, as the Predictor loads files."""
    from PIL import Image

    from mlcls_gui.core.data.loaders import pil_to_uint8_tensor

    return pil_to_uint8_tensor(image.resize((size, size), Image.BILINEAR))[None]


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
