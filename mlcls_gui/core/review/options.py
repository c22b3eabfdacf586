"""What a label review is asked to do, and how long it took when measured.

Apart from ``label_review`` so that the CLI's parser and the Review tab read
them without importing numpy or torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlcls_gui.core.errors import MlclsError

# Measured once (core/review/label_review.py's docstring has the figures); the CLI's help
# and the Review tab both say it.
TIME_NOTE = ("With the defaults that took about 8 minutes for 450 images on a 2-core CPU "
             "shared with other jobs; less on an idle machine.")


class LabelReviewError(MlclsError):
    """The label review cannot run on this data or model."""


@dataclass(frozen=True)
class ReviewOptions:
    folds: int = 5
    device: str = "cpu"
    batch_size: int = 32
    threshold: float = 0.5  # a label is suggested when its out-of-sample probability reaches it
    seed: int = 0
    # Only without a model: what is trained for the review. ``cross_fit`` = 0: one
    # model on the training split, then k-fold heads on its features (the default:
    # it measured better, see above). K >= 2: K models, each trained on the images
    # of the other parts, score the part it never saw.
    train_arch: str = "resnet18"
    train_image_size: int = 64
    train_epochs: int = 10
    train_pretrained: bool = False
    cross_fit: int = 0
    train_batch_size: int = 16
    train_learning_rate: float = 1e-3

    def __post_init__(self) -> None:
        if self.cross_fit == 1 or self.cross_fit < 0:
            raise LabelReviewError(f"--cross-fit must be 0 (off) or at least 2 (got {self.cross_fit}).")
