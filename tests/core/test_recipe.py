"""The recipe's parts on their own: losses with unknown labels, multi-hot
mixing, schedules, no-decay groups, augmentation and presets."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mlcls_gui.core.config import TrainConfig, early_stop_limit, field_default
from mlcls_gui.core.data.batch_transforms import BatchTransform
from mlcls_gui.core.errors import ConfigError
from mlcls_gui.core.presets import (
    PRESET_NAMES,
    PRESET_TITLES,
    apply_preset,
    changed_from_seed,
    matching_preset,
    preset_values,
)
from mlcls_gui.core.training.recipe.losses import make_criterion
from mlcls_gui.core.training.recipe.mixing import BatchMixer
from mlcls_gui.core.training.recipe.param_groups import parameter_groups
from mlcls_gui.core.training.recipe.schedules import make_scheduler, seek

LOSSES = ("bce", "asl", "focal")


def _logits_targets(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(6, 4, generator=g) * 3
    targets = (torch.rand(6, 4, generator=g) > 0.5).float()
    return logits, targets


# ------------------------------------------------------------------- losses
def test_bce_without_unknowns_is_the_seeds_loss_exactly():
    logits, targets = _logits_targets()
    weight = torch.tensor([1.0, 2.0, 3.0, 4.0])
    ours = make_criterion(TrainConfig(), weight)(logits, targets)
    assert torch.equal(ours, nn.BCEWithLogitsLoss(pos_weight=weight)(logits, targets))


@pytest.mark.parametrize("loss", LOSSES)
def test_unknown_targets_are_left_out_of_the_mean(loss):
    criterion = make_criterion(TrainConfig(loss=loss))
    logits, targets = _logits_targets()
    masked = targets.clone()
    masked[0, 1] = masked[3, 2] = math.nan
    known = ~torch.isnan(masked)
    # The masked loss is the mean over the known entries only ...
    per_entry = torch.stack([criterion(logits[i:i + 1, j:j + 1], targets[i:i + 1, j:j + 1])
                             for i, j in known.nonzero().tolist()])
    assert criterion(logits, masked) == pytest.approx(per_entry.mean().item(), rel=1e-5)
    # ... and whatever the logit of an unknown entry, it gets no gradient.
    logits.requires_grad_(True)
    criterion(logits, masked).backward()
    assert logits.grad[0, 1] == 0 and logits.grad[3, 2] == 0
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


@pytest.mark.parametrize("loss", LOSSES)
def test_a_batch_with_no_known_label_gives_zero_with_a_gradient(loss):
    logits = torch.randn(3, 2, requires_grad=True)
    value = make_criterion(TrainConfig(loss=loss))(logits, torch.full((3, 2), math.nan))
    assert value.item() == 0.0 and value.requires_grad
    value.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_asl_turns_down_easy_negatives_and_clips_them():
    asl = make_criterion(TrainConfig(loss="asl", asl_gamma_neg=4, asl_gamma_pos=0, asl_clip=0.05))
    bce = make_criterion(TrainConfig())
    easy_negative = (torch.tensor([[-3.0]]), torch.tensor([[0.0]]))
    assert asl(*easy_negative) == 0  # confidence 0.047 is below the 0.05 margin
    hard_negative = (torch.tensor([[2.0]]), torch.tensor([[0.0]]))
    assert 0 < asl(*hard_negative) < bce(*hard_negative)
    positive = (torch.tensor([[0.5]]), torch.tensor([[1.0]]))
    assert asl(*positive) == pytest.approx(bce(*positive).item(), rel=1e-5)  # gamma_pos 0: plain log loss


def test_saturated_confidences_keep_gradients_finite():
    logits = torch.tensor([[40.0, -40.0]], requires_grad=True)
    for loss in LOSSES:
        cfg = TrainConfig(loss=loss, asl_gamma_neg=0.5, asl_gamma_pos=0.5, focal_gamma=0.5)
        make_criterion(cfg)(logits, torch.tensor([[1.0, 0.0]])).backward()
        assert torch.isfinite(logits.grad).all(), loss
        logits.grad = None


# ------------------------------------------------------------------- mixing
@pytest.mark.parametrize("mixup, cutmix", [(0.4, 0.0), (0.0, 1.0), (0.4, 1.0)])
def test_mixing_mixes_images_and_label_vectors_alike(mixup, cutmix):
    images = torch.stack([torch.full((3, 8, 8), float(i)) for i in range(4)])
    targets = torch.eye(4)
    targets[1, 2] = math.nan
    mixer = BatchMixer(mixup, cutmix, torch.Generator().manual_seed(3))
    mixed, mixed_targets = mixer(images, targets)
    for i in range(4):
        j = 3 - i  # the partner: the batch reversed
        # Each image is lam * itself + (1 - lam) * its partner, pixel-wise or by area:
        share_own = ((mixed[i] - j) / (i - j)).mean().item()
        expected = torch.eye(4)[i] * share_own + torch.eye(4)[j] * (1 - share_own)
        known = ~torch.isnan(mixed_targets[i])
        assert torch.allclose(mixed_targets[i][known], expected[known], atol=1e-5)
    # The unknown entry stays unknown in both images it is mixed into, and only there.
    assert torch.isnan(mixed_targets[1, 2]) and torch.isnan(mixed_targets[2, 2])
    assert int(torch.isnan(mixed_targets).sum()) == 2


def test_mixing_repeats_from_the_seed():
    images, targets = torch.rand(4, 3, 8, 8), torch.eye(4)
    first = BatchMixer(0.4, 1.0, torch.Generator().manual_seed(7))(images, targets)
    second = BatchMixer(0.4, 1.0, torch.Generator().manual_seed(7))(images, targets)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert BatchMixer.from_config(TrainConfig(), torch.Generator()) is None


# ------------------------------------------------------------------- augmentation
def test_recipe_augmentation_is_per_image_and_repeats_from_the_seed():
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    images[:] = images[0]  # the same picture six times

    def run(seed: int) -> torch.Tensor:
        transform = BatchTransform(torch.device("cpu"), generator=torch.Generator().manual_seed(seed),
                                   crop_scale_min=0.3, auto_augment="trivialaugment", random_erasing=0.5)
        assert transform.augments
        return transform(images, augment=True)

    out = run(1)
    assert out.shape == (6, 3, 32, 32) and out.dtype == torch.float32
    assert torch.equal(out, run(1))
    assert len({out[i].sum().item() for i in range(6)}) > 1  # each image its own crop and operation
    assert not torch.equal(out, run(2))
    plain = BatchTransform(torch.device("cpu"), crop_scale_min=0.3, auto_augment="randaugment")
    assert torch.equal(plain(images, augment=False), BatchTransform(torch.device("cpu"))(images, augment=False))


# ------------------------------------------------------------------- schedules
def _optimizer(lr: float = 1.0) -> torch.optim.Optimizer:
    return torch.optim.AdamW([nn.Parameter(torch.zeros(1))], lr=lr)


def _rates(cfg: TrainConfig, steps_per_epoch: int, start: int = 0) -> list[float]:
    optimizer = _optimizer(cfg.learning_rate)
    scheduler = make_scheduler(cfg, optimizer, steps_per_epoch)
    seek(scheduler, start)
    rates = []
    for _ in range(start, cfg.n_epochs * steps_per_epoch):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_cosine_warms_up_linearly_then_decays_to_zero():
    rates = _rates(TrainConfig(lr_schedule="cosine", warmup_epochs=1, n_epochs=5, learning_rate=1.0), 4)
    assert rates[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert all(a >= b for a, b in zip(rates[3:], rates[4:]))
    assert rates[-1] < 0.02


@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
def test_per_batch_schedule_can_be_put_at_any_step(schedule):
    cfg = TrainConfig(lr_schedule=schedule, warmup_epochs=1, n_epochs=4, learning_rate=0.1)
    straight = _rates(cfg, 5)
    assert _rates(cfg, 5, start=7) == pytest.approx(straight[7:], rel=1e-9)
    assert max(straight) == pytest.approx(0.1, rel=1e-3) and len(set(straight)) > 10


def test_a_warmup_longer_than_half_the_run_is_shortened():
    rates = _rates(TrainConfig(lr_schedule="cosine", warmup_epochs=10, n_epochs=2, learning_rate=1.0), 3)
    assert max(rates) == 1.0 and rates.index(1.0) == 2


# ------------------------------------------------------------------- groups
def test_no_decay_groups_hold_biases_and_norms():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    model[0].weight.requires_grad_(False)  # a frozen parameter is never handed to the optimiser
    seed_groups = parameter_groups(TrainConfig(), model)
    assert len(seed_groups) == 1 and "weight_decay" not in seed_groups[0]
    groups = parameter_groups(TrainConfig(no_decay_bias_norm=True, weight_decay=0.05), model)
    by_decay = {g["weight_decay"]: {id(p) for p in g["params"]} for g in groups}
    assert by_decay[0.05] == {id(model[3].weight)}
    assert by_decay[0.0] == {id(p) for p in (model[0].bias, model[1].weight, model[1].bias, model[3].bias)}


# ------------------------------------------------------------------- presets
def test_seed_preset_is_todays_defaults_and_recommended_changes_the_recipe():
    assert PRESET_NAMES == ("seed", "recommended") and set(PRESET_TITLES) == set(PRESET_NAMES)
    assert apply_preset(TrainConfig(), "seed") == TrainConfig()
    assert all(v == field_default(k) for k, v in preset_values("seed").items())
    custom = TrainConfig(n_epochs=40, image_size=64, learning_rate=0.5)
    recommended = apply_preset(custom, "recommended")
    assert recommended.learning_rate == 1e-3 and recommended.lr_schedule == "cosine" and recommended.loss == "bce"
    assert recommended.n_epochs == 40 and recommended.image_size == 64  # fields it does not set stay
    assert early_stop_limit(recommended) == 10  # a quarter of the run's 40 epochs
    assert apply_preset(recommended, "seed") == custom.with_values(learning_rate=field_default("learning_rate"))
    assert apply_preset(TrainConfig(loss="asl", ema_decay=0.99), "recommended").loss == "bce"  # it sets what it names
    assert matching_preset(recommended) == "recommended" and matching_preset(TrainConfig()) == "seed"
    assert matching_preset(recommended.with_values(loss="focal")) is None
    assert set(changed_from_seed("recommended")) <= set(preset_values("recommended"))
    assert changed_from_seed("seed") == {}


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(ConfigError, match="Unknown preset 'fast'.*seed, recommended"):
        apply_preset(TrainConfig(), "fast")
