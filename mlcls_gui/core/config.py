"""TrainConfig: the seed script's settings as one frozen, validated dataclass.

Every field carries metadata (label, group, range or choices, help text) so the
GUI can build its form from it and the CLI can parse ``--set FIELD=VALUE``.
The JSON file, the form and checkpoints all use the same field names.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from mlcls_gui.core.errors import ConfigError, field_ref
from mlcls_gui.core.field_spec import FieldSpec
from mlcls_gui.core.field_spec import config_field as _spec
from mlcls_gui.core.field_validation import (
    OUTPUT_NAME_FIELDS,
    check_output_names,
    check_value,
    coerce_value,
    parse_text,
)
from mlcls_gui.core.files.atomic_files import write_json_atomic
from mlcls_gui.core.models import registry

logger = logging.getLogger(__name__)

CONFIG_FORMAT_VERSION = 1

# The short list a choice box offers; ``arch`` accepts any name the registry
# knows (every timm model as ``timm:<name>``), so the choices are suggestions.
ARCHITECTURES: tuple[str, ...] = registry.SUGGESTED
OPTIMIZERS: tuple[str, ...] = ("adamw", "adam")
MONITORS: tuple[str, ...] = ("val_loss", "val_map", "val_accuracy")
GROUPS: tuple[str, ...] = (
    "Data",
    "Augmentation",
    "Model",
    "Optimisation",
    "Schedule & early stop",
    "Performance",
    "Output",
)
PRECISIONS: tuple[str, ...] = ("auto", "off", "bf16", "fp16")
LOSSES: tuple[str, ...] = ("bce", "asl", "focal")
SCHEDULES: tuple[str, ...] = ("step", "cosine", "onecycle")
HEAD_INITS: tuple[str, ...] = ("default", "small", "zero")
AUTO_AUGMENTS: tuple[str, ...] = ("off", "trivialaugment", "randaugment")

_DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda|cuda:\d+)$")


@dataclass(frozen=True)
class TrainConfig:
    """All settings of one training run. Defaults are the seed script's."""

    # --- Data
    images_root: str = _spec(
        "", label="Data folder", group="Data", path_kind="path_dir",
        help="Root data folder. Each sub-folder name holds the labels of its images, "
        "joined by '+' (e.g. cat+dog/). A root with train/ and test/ (and optionally "
        "val/) uses those splits as given. Or a labels CSV (or a folder holding labels.csv): "
        "a path column and a labels column (joined by '|') or one 0/1 column per label; "
        "empty cells are unknown.")
    val_fraction: float = _spec(
        0.15, label="Validation share", group="Data", minimum=0.0, maximum=0.9,
        help="Share of the images held out for validation when the data folder has no "
        "val/ split. Validation decides the checkpoint and early stopping.")
    test_fraction: float = _spec(
        0.15, label="Test share", group="Data", minimum=0.0, maximum=0.9,
        help="Share of the images held out for the final test when the data folder has "
        "no train/ + test/ splits. 0 skips the test evaluation.")
    seed: int = _spec(
        42, label="Random seed", group="Data", minimum=0, maximum=2**31 - 1,
        help="Seed for the split, the initial head weights and the augmentation: the "
        "same seed and data give the same run on CPU.")
    split_groups: str = _spec(
        "", label="Keep near copies together", group="Data", path_kind="path_file",
        help="A data health report (the JSON from mlcls-gui health … --json FILE, or saved by the "
        "window's Health tab): each group of near copies is kept in one split, so no test image "
        "has a near copy in training. Empty: plain seeded split. Only for the seeded split (label "
        "folders, or a CSV without a split column): given train/val/test folders or a split column "
        "are kept, and the groups that cross them are counted.")
    check_split_leakage: bool = _spec(
        True, label="Check the split for near copies", group="Data",
        help="After training, look for near copies of the validation and test images in the "
        "training split (the data health check: pretrained features, about 1 s per 100 images "
        "on a CPU) and say in the summary how many there are: such scores measure memory. "
        "Skipped with split_groups (the report already counts them).")
    num_workers: int = _spec(
        0, label="Loader workers", group="Data", minimum=0, maximum=64,
        help="Processes that load images in parallel; 0 loads them in the training "
        "thread (set to 0 if not used).")
    pin_memory: bool = _spec(
        False, label="Pin memory", group="Data",
        help="Page-locked host memory: copies images to the GPU faster. No effect on CPU.")

    # --- Augmentation
    image_size: int = _spec(
        224, label="Image size (px)", essential=True, group="Augmentation", minimum=16, maximum=1024,
        help="Images are resized to this square size (224 for ResNet weights).")
    rotation_degrees: float = _spec(
        15.0, label="Random rotation (±°)", group="Augmentation", minimum=0.0,
        maximum=180.0,
        help="Rotate each training image by a random angle within ± this many degrees. "
        "0 turns rotation off. Validation and test images are never augmented.")
    horizontal_flip: bool = _spec(
        True, label="Random horizontal flip", group="Augmentation",
        help="Mirror half of the training images left-right.")
    random_resized_crop: bool = _spec(
        False, label="Random resized crop", group="Augmentation",
        help="Train on a random crop of each image (a random share of its area and aspect "
        "ratio 3:4 to 4:3), resized back to the image size.")
    crop_scale_min: float = _spec(
        0.08, label="Smallest crop (share of area)",
        applies_when=(("random_resized_crop", (True,)),), group="Augmentation", minimum=0.01,
        maximum=1.0,
        help="Random resized crop: the smallest crop, as a share of the image's area "
        "(0.08 is ImageNet's; small data sets often do better with 0.25-0.5).")
    auto_augment: str = _spec(
        "off", label="Automatic augmentation",
        choice_titles=("Off", "TrivialAugment", "RandAugment"), group="Augmentation", choices=AUTO_AUGMENTS,
        help="trivialaugment: one random colour or geometry operation of random strength "
        "per image (TrivialAugment Wide). randaugment: two random operations of strength 9 "
        "(RandAugment). off: none.")
    random_erasing: float = _spec(
        0.0, label="Random erasing (probability)", group="Augmentation", minimum=0.0,
        maximum=1.0,
        help="Share of the training images in which a random rectangle is blanked out "
        "(Random Erasing). 0 turns it off.")
    mixup_alpha: float = _spec(
        0.0, label="Mixup alpha", group="Augmentation", minimum=0.0, maximum=10.0,
        help="Blend pairs of training images and their label vectors by a Beta(alpha, alpha) "
        "share (mixup). 0 turns it off; 0.2-0.8 is usual. With cutmix on too, each batch "
        "uses one of the two at random.")
    cutmix_alpha: float = _spec(
        0.0, label="CutMix alpha", group="Augmentation", minimum=0.0, maximum=10.0,
        help="Paste a rectangle of another training image into each image and mix the label "
        "vectors by the pasted area (CutMix; the area share is Beta(alpha, alpha)). 0 turns "
        "it off; 1.0 is usual.")

    # --- Model
    arch: str = _spec(
        "resnet18", label="Architecture", essential=True, group="Model", choices=ARCHITECTURES,
        help="Network whose classifier is replaced by one output per label: a torchvision "
        "name (resnet18, resnet34, resnet50, mobilenet_v3_small, mobilenet_v3_large, "
        "efficientnet_b0), any timm model as timm:<name> (e.g. timm:convnext_atto), or "
        "tiny_cnn (a few thousand weights, for tests and quick trials).")
    pretrained: bool = _spec(
        True, label="ImageNet weights", essential=True, group="Model",
        help="Start from pretrained weights (torchvision's ImageNet weights, or a timm model's "
        "from the Hugging Face Hub; downloaded once, needs internet) or from the weights file "
        "below. Off: train from random weights.")
    weights_file: str = _spec(
        "", label="Weights file",
        essential=True, applies_when=(("pretrained", (True,)),), group="Model", path_kind="path_file",
        help="Local .pth/.pt/.safetensors file with the architecture's weights, used instead "
        "of a download when pretrained is on (for offline machines).")
    init_model: str = _spec(
        "", label="Start from model", group="Model", path_kind="path_file",
        help="A .pt model file of this app whose weights the run starts from (a warm start: "
        "labelling, then training on the new labels). The same architecture; its labels are "
        "matched by name and a new label gets a new classifier row. Empty: ImageNet weights "
        "(pretrained on) or random weights.")
    freeze_extractor: bool = _spec(
        False, label="Freeze feature extractor", group="Model",
        help="Train only the new classifier layer; all other layers keep their weights "
        "and BatchNorm statistics.")
    keep_norm_stats: bool = _spec(
        False, label="Keep pretrained BatchNorm statistics", applies_when=(("pretrained", (True,)),), group="Model",
        help="While fine-tuning, the BatchNorm layers keep the running statistics of the pretrained "
        "weights instead of re-estimating them from the training batches (their scale and shift "
        "still train). Helps when batches are small. Only with pretrained weights: random weights "
        "have no statistics to keep.")
    head_init: str = _spec(
        "default", label="New head's first weights",
        choice_titles=("The architecture's own", "Small (std 0.01)", "Zero"), group="Model", choices=HEAD_INITS,
        help="How the new classifier layer starts. default: the architecture's own initialisation "
        "(the seed's). small: weights of standard deviation 0.01 and zero bias, so a pretrained model's "
        "first outputs are near 0 and the first epochs are not spent unlearning a random head (timm's "
        "EfficientNet heads otherwise start with outputs of about ±10). zero: all zero.")
    probe_first: bool = _spec(
        False, label="Fit the head first (linear probe)", applies_when=(("pretrained", (True,)),), group="Model",
        help="Before training, fit the new classifier layer on the pretrained features of the "
        "training images (computed once, without augmentation; seconds), choosing its weight decay on "
        "validation, then train from there: linear probing, then fine-tuning (Kumar et al., ICLR 2022). "
        "The pretrained features are then not disturbed by a random head. Only with pretrained weights.")
    threshold: float = _spec(
        0.5, label="Decision threshold", group="Model", minimum=0.0, maximum=1.0,
        exclusive_minimum=True,
        help="A label is predicted when its confidence (sigmoid of the output) is at "
        "least this value. After training, each label gets its own threshold tuned on "
        "validation; this value stays for labels with too few validation images.")

    # --- Optimisation
    batch_size: int = _spec(
        16, label="Batch size", group="Optimisation", minimum=1, maximum=4096,
        help="Training batch size.")
    learning_rate: float = _spec(
        1e-4, label="Learning rate", group="Optimisation", minimum=0.0, maximum=10.0,
        exclusive_minimum=True, help="Initial learning rate of Adam.")
    optimizer: str = _spec(
        "adamw", label="Optimizer",
        choice_titles=("AdamW (decoupled weight decay)", "Adam (L2 in the gradient, the seed's)"),
        group="Optimisation", choices=OPTIMIZERS,
        help="adamw: Adam with weight decay applied to the weights before each update "
        "(decoupled; trains well at 0.3). adam: the seed script's reading, weight decay "
        "added to the gradients as an L2 term (0.3 is then very strong).")
    weight_decay: float = _spec(
        0.3, label="Weight decay", group="Optimisation", minimum=0.0, maximum=10.0,
        help="Weight decay strength; how it is applied depends on the optimizer.")

    pos_weight: bool = _spec(
        False, label="Weight rare labels", group="Optimisation",
        help="Weigh each label's positive images by negatives ÷ positives in the training "
        "split (between 1 and 100), so rare labels count as much as common ones.")
    loss: str = _spec(
        "bce", label="Loss",
        choice_titles=("Binary cross-entropy", "Asymmetric loss (ASL)", "Focal loss"),
        group="Optimisation", choices=LOSSES,
        help="bce: binary cross-entropy per label (the seed's). asl: asymmetric loss, which "
        "turns down easy negatives (suits many labels with few positives each). focal: "
        "focal loss, which turns down every easy label. Unknown labels never count.")
    asl_gamma_neg: float = _spec(
        4.0, label="ASL negative focusing",
        applies_when=(("loss", ("asl",)),), group="Optimisation", minimum=0.0, maximum=20.0,
        help="Asymmetric loss: how strongly easy negatives are turned down (gamma_neg).")
    asl_gamma_pos: float = _spec(
        0.0, label="ASL positive focusing",
        applies_when=(("loss", ("asl",)),), group="Optimisation", minimum=0.0, maximum=20.0,
        help="Asymmetric loss: how strongly easy positives are turned down (gamma_pos).")
    asl_clip: float = _spec(
        0.05, label="ASL probability margin",
        applies_when=(("loss", ("asl",)),), group="Optimisation", minimum=0.0, maximum=0.5,
        help="Asymmetric loss: negatives whose confidence is below this margin count no loss "
        "at all (clip), which also discounts mislabelled negatives.")
    focal_gamma: float = _spec(
        2.0, label="Focal loss gamma",
        applies_when=(("loss", ("focal",)),), group="Optimisation", minimum=0.0, maximum=20.0,
        help="Focal loss: how strongly labels the model already gets right are turned down.")
    backbone_lr_scale: float = _spec(
        1.0, label="Backbone learning-rate factor",
        applies_when=(("pretrained", (True,)),), group="Optimisation", minimum=0.0, maximum=10.0,
        exclusive_minimum=True,
        help="The pretrained layers learn at the learning rate times this factor, the new classifier "
        "layer at the full rate (discriminative rates: e.g. 0.1 keeps the pretrained features close to "
        "what they were). 1: every layer at the same rate (the seed's). Only with pretrained weights: "
        "from random weights every layer is new.")
    no_decay_bias_norm: bool = _spec(
        False, label="No decay on biases and norms", group="Optimisation",
        help="Apply weight decay only to weight matrices and convolution kernels, not to "
        "biases and normalisation layers (whose decay only hurts).")
    ema_decay: float = _spec(
        0.0, label="Weight EMA decay", group="Optimisation", minimum=0.0, maximum=0.99999,
        help="Keep an exponential moving average (EMA) of the weights with this decay "
        "(e.g. 0.999; it warms up, so short runs average over fewer steps). Validation scores "
        "both the raw and the EMA weights; the checkpoint and the final model keep the "
        "better. 0 turns it off.")

    # --- Schedule & early stop
    n_epochs: int = _spec(
        350, label="Epochs", essential=True, group="Schedule & early stop", minimum=1, maximum=100000,
        applies_when=(("time_budget_minutes", (0.0,)),),
        help="Number of training epochs.")
    time_budget_minutes: float = _spec(
        0.0, label="Time budget (minutes)", essential=True, group="Schedule & early stop", minimum=0.0,
        maximum=100000.0,
        help="Above 0: train for about this long instead of a number of epochs. A few timed steps "
        "before the first epoch plan the epochs that fit (so a cosine schedule ends with the time), "
        "re-planned after each epoch when the epochs take longer or shorter than planned, "
        "and the run stops at the budget with every output written, as with Stop. 0: train for "
        "'Epochs'.")
    early_stop_epoch_limit: int = _spec(
        350, label="Early stop after (epochs)",
        applies_when=(("early_stop_share", (0.0,)),), group="Schedule & early stop",
        minimum=1, maximum=100000,
        help="Stop training after this many epochs without improvement of the "
        "monitored validation score.")
    monitor: str = _spec(
        "val_loss", label="Improvement score",
        choice_titles=("Validation loss", "Validation mAP", "Validation exact-match accuracy"),
        group="Schedule & early stop",
        choices=MONITORS,
        help="Validation score that decides 'improved': the checkpoint is saved and the "
        "early-stop counter reset when it gets better (loss lower, mAP or exact-match "
        "accuracy higher).")
    lr_step: int = _spec(
        10, label="LR step (epochs)",
        applies_when=(("lr_schedule", ("step",)),), group="Schedule & early stop", minimum=1,
        maximum=100000,
        help="Number of epochs between each learning-rate decrease.")
    lr_decrease: float = _spec(
        0.1, label="LR decrease factor",
        applies_when=(("lr_schedule", ("step",)),), group="Schedule & early stop", minimum=0.0,
        maximum=1.0, exclusive_minimum=True,
        help="Learning-rate decrease after each step: new_lr = old_lr * lr_decrease.")
    lr_schedule: str = _spec(
        "step", label="LR schedule",
        choice_titles=("Step (the seed's)", "Cosine with warmup", "One cycle"),
        group="Schedule & early stop", choices=SCHEDULES,
        help="step: multiply the learning rate by the decrease factor every LR step epochs "
        "(the seed's). cosine: linear warmup, then a cosine decay to zero by the last epoch. "
        "onecycle: rise to the learning rate, then anneal to near zero (one cycle). cosine "
        "and onecycle change the rate after every batch.")
    warmup_epochs: float = _spec(
        0.0, label="Warmup (epochs)",
        applies_when=(("lr_schedule", ("cosine", "onecycle")),), group="Schedule & early stop", minimum=0.0,
        maximum=100000.0,
        help="cosine and onecycle: epochs over which the learning rate rises linearly at the "
        "start (fractions allowed; at most half the run). onecycle with 0 rises over its "
        "usual first 30%.")
    early_stop_share: float = _spec(
        0.0, label="Early stop after (share of epochs)", group="Schedule & early stop",
        minimum=0.0, maximum=1.0,
        help="Above 0: stop after this share of the run's epochs without improvement "
        "(0.25 of 40 epochs = 10), so the patience follows the run's length; replaces "
        "'Early stop after (epochs)'. 0: use that fixed number of epochs.")

    # --- Performance (each switch keeps results equivalent; off = the plain path)
    mixed_precision: str = _spec(
        "auto", label="Mixed precision",
        choice_titles=("Automatic", "Off (float32)", "bfloat16", "float16 with loss scaling"),
        group="Performance", choices=PRECISIONS,
        help="auto: bfloat16 autocast on CPUs with native bf16 and on GPUs that support it, "
        "float16 with loss scaling on other GPUs, off elsewhere. off: float32 throughout.")
    channels_last: bool = _spec(
        True, label="Channels-last memory", group="Performance",
        help="Lay images and weights out as NHWC, which the CPU and GPU convolution "
        "kernels run faster.")
    fast_decode: bool = _spec(
        True, label="Fast JPEG decoding", group="Performance",
        help="Decode large JPEGs directly at a reduced scale (never below the image size) "
        "instead of decoding every pixel and shrinking afterwards.")
    cache_images: bool = _spec(
        True, label="Cache decoded images", group="Performance",
        help="Keep each image decoded and resized in memory after the first epoch; "
        "augmentation is then applied to the cached pixels.")
    cache_budget_mb: int = _spec(
        0, label="Image cache budget (MB)",
        applies_when=(("cache_images", (True,)),), group="Performance", minimum=0, maximum=1_000_000,
        help="Most memory the image cache may use; 0 = automatic (a quarter of the free "
        "memory). Images past the budget are decoded every epoch.")
    cache_features: bool = _spec(
        True, label="Cache frozen features", applies_when=(("freeze_extractor", (True,)),), group="Performance",
        help="With a frozen extractor, compute each un-augmented image's features once and "
        "train the classifier on them (validation always; training when augmentation is off).")
    processes: int = _spec(
        1, label="Training processes", group="Performance", minimum=1, maximum=1024,
        help="Processes that train together with torch.distributed on this machine (one per "
        "GPU; on the CPU each takes a share of the cores). batch_size stays the global batch "
        "and must divide evenly by it. Under torchrun, the launcher's count is used instead.")
    sync_batchnorm: bool = _spec(
        True, label="Sync BatchNorm across processes", group="Performance",
        help="With several GPU processes, BatchNorm layers use statistics of the whole global "
        "batch (SyncBatchNorm). No effect with one process or on the CPU.")
    compile_model: bool = _spec(
        False, label="torch.compile", group="Performance",
        help="Compile the model (slow first epoch, faster later ones on some machines).")

    # --- Output
    save_model_folder: str = _spec(
        "mlcls_output", label="Output folder", essential=True, group="Output", path_kind="path_dir",
        help="Where to save all outputs: checkpoint, final model, log, metrics.")
    final_model_name: str = _spec(
        "final_model.pt", label="Final model file", group="Output",
        help="Name of the final model file inside the output folder.")
    checkpoint_name: str = _spec(
        "checkpoint.pt", label="Checkpoint file", group="Output",
        help="Name of the checkpoint file (best validation score so far).")
    log_name: str = _spec(
        "train.log", label="Log file", group="Output", help="Name of the log file.")
    tensorboard: bool = _spec(
        False, label="TensorBoard logs", group="Output",
        help="Write TensorBoard event files into <output folder>/tensorboard/<run id> (needs "
        "pip install mlcls-gui[tensorboard]).")
    device: str = _spec(
        "auto", label="Device", group="Output", pattern=_DEVICE_PATTERN.pattern,
        help="auto (a GPU when there is one), cpu, cuda:N (GPU number N) or mps (Apple).")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            validate_field(f.name, getattr(self, f.name))
        check_output_names([getattr(self, name) for name in OUTPUT_NAME_FIELDS],
                           [field_default(name) for name in OUTPUT_NAME_FIELDS])
        if self.batch_size % self.processes:
            fitting = self.batch_size - self.batch_size % self.processes or self.processes
            raise ConfigError(
                f"{field_ref('batch_size', self.batch_size)} does not divide evenly by "
                f"{field_ref('processes', self.processes)}: the batch size is the global batch, shared "
                f"out equally. Choose e.g. {field_ref('batch_size', fitting)}."
            )
        # Cross-field rule: the fractions must leave images to train on.
        if self.val_fraction + self.test_fraction >= 0.95:
            raise ConfigError(
                f"{field_ref('val_fraction')} + {field_ref('test_fraction')} must be below 0.95 so "
                f"images are left to train on (got {self.val_fraction:g} + {self.test_fraction:g})."
            )

    # ----------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "config") -> "TrainConfig":
        """Build a config from a mapping; unknown keys and bad values are refused."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a JSON object with config fields.")
        values = with_current_names(data)
        version = values.pop("format_version", CONFIG_FORMAT_VERSION)
        if not isinstance(version, int) or version > CONFIG_FORMAT_VERSION:
            raise ConfigError(
                f"{source}: format_version {version!r} is newer than this app understands "
                f"({CONFIG_FORMAT_VERSION}); update mlcls-gui."
            )
        known = field_names()
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(
                f"{source}: unknown field(s) {', '.join(unknown)}. "
                f"Known fields: {', '.join(known)}."
            )
        coerced = {name: coerce_field(name, value) for name, value in values.items()}
        try:
            return cls(**coerced)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}", field=exc.field) from None

    def save_json(self, path: str | os.PathLike[str]) -> None:
        payload = {"format_version": CONFIG_FORMAT_VERSION, **self.to_dict()}
        write_json_atomic(Path(path), payload)

    @classmethod
    def load_json(cls, path: str | os.PathLike[str]) -> "TrainConfig":
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"Config file {p} does not exist.") from None
        except OSError as exc:
            raise ConfigError(f"Cannot read config file {p} ({exc.strerror or exc}).") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"Cannot read config file {p}: {exc}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"Config file {p} is not valid JSON (line {exc.lineno}: {exc.msg})."
            ) from None
        except RecursionError:
            raise ConfigError(
                f"Config file {p} is nested too deeply to be a config: it must be one JSON "
                "object of field names and values."
            ) from None
        return cls.from_dict(data, source=str(p))

    def with_values(self, **changes: Any) -> "TrainConfig":
        """dataclasses.replace with type coercion, for form and CLI input."""
        coerced = {k: coerce_field(k, v) for k, v in changes.items()}
        return dataclasses.replace(self, **coerced)


# --------------------------------------------------------------------- helpers
def early_stop_limit(cfg: TrainConfig) -> int:
    """Epochs without improvement after which the run stops (the share, when set,
    is of this run's epochs, so short and long runs wait in proportion)."""
    if cfg.early_stop_share > 0:
        return max(1, math.ceil(cfg.early_stop_share * cfg.n_epochs))
    return cfg.early_stop_epoch_limit


def field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(TrainConfig)]


# Fields renamed since; the old names are still read from config files, checkpoints,
# model files and --set (their values were always file names, never folders).
RENAMED_FIELDS: dict[str, str] = {"save_model_dir": "final_model_name", "checkpoint_dir": "checkpoint_name"}


def current_field_name(name: str) -> str:
    """``name``, or the field's present name if it was renamed."""
    return RENAMED_FIELDS.get(name, name)


def with_current_names(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` (a stored config) with renamed fields under their present names;
    where both names are present the present one wins."""
    result = dict(values)
    for old, new in RENAMED_FIELDS.items():
        if old in result:
            value = result.pop(old)
            result.setdefault(new, value)
    return result


def field_spec(name: str) -> FieldSpec:
    return _FIELDS[name][1]


def field_type(name: str) -> type:
    return _FIELDS[name][0]


def field_default(name: str) -> Any:
    return _FIELDS[name][2]


def coerce_field(name: str, value: Any) -> Any:
    """Return ``value`` as the field's type, or raise naming the field
    (field_validation.coerce_value: ints pass for floats, nothing else is converted)."""
    kind, spec = _known_field(name)
    return coerce_value(name, kind, spec, value)


def parse_field_text(name: str, text: str) -> Any:
    """Parse ``text`` (from ``--set`` or a form) into the field's type."""
    kind, spec = _known_field(name)
    return parse_text(name, kind, spec, text)


def validate_field(name: str, value: Any) -> None:
    """Raise ConfigError if ``value`` is not allowed for ``name``."""
    kind, spec, default = _FIELDS[name]
    check_value(name, kind, spec, default, coerce_field(name, value))


def _known_field(name: str) -> tuple[type, FieldSpec]:
    if name not in _FIELDS:
        raise ConfigError(f"Unknown field {name!r}. Known fields: {', '.join(field_names())}.")
    return field_type(name), field_spec(name)


def _collect_fields() -> dict[str, tuple[type, FieldSpec, Any]]:
    types = {"str": str, "int": int, "float": float, "bool": bool}
    out: dict[str, tuple[type, FieldSpec, Any]] = {}
    for f in dataclasses.fields(TrainConfig):
        out[f.name] = (types[str(f.type)], f.metadata["spec"], f.default)
    return out


_FIELDS = _collect_fields()


def demo_config(images_root: str | os.PathLike[str], output_folder: str | os.PathLike[str]) -> TrainConfig:
    """Settings with which the built-in demo set trains in about a minute on 2 CPU cores."""
    return TrainConfig(
        images_root=str(images_root),
        save_model_folder=str(output_folder),
        image_size=64,
        pretrained=False,
        batch_size=16,
        learning_rate=1e-3,
        n_epochs=20,
        early_stop_epoch_limit=20,
        lr_step=15,
        device="cpu",
    )
