"""The seed's image transforms: augmentation for training, none for evaluation."""

from __future__ import annotations

from torchvision import transforms as T

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


def train_transform(
    image_size: int,
    rotation_degrees: float,
    horizontal_flip: bool,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
) -> T.Compose:
    """RandomRotation(±deg), RandomHorizontalFlip, Resize, ToTensor, Normalize."""
    steps: list = []
    if rotation_degrees > 0:
        steps.append(T.RandomRotation(rotation_degrees))
    if horizontal_flip:
        steps.append(T.RandomHorizontalFlip())
    steps += [T.Resize((image_size, image_size)), T.ToTensor(), T.Normalize(mean, std)]
    return T.Compose(steps)


def eval_transform(
    image_size: int,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
) -> T.Compose:
    """Resize, ToTensor, Normalize: what every model input needs, nothing random."""
    return T.Compose([T.Resize((image_size, image_size)), T.ToTensor(), T.Normalize(mean, std)])
