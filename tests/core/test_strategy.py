"""How a global batch is shared out among processes (no process group needed)."""

import torch

from mlcls_gui.core.training.engine.strategy import home_shares


def test_every_image_goes_to_exactly_one_process_mostly_its_home():
    generator = torch.Generator().manual_seed(0)
    for world in (2, 3, 4):
        for size in range(2 * world, 40):
            chunk = torch.randperm(100, generator=generator)[:size]
            shares = home_shares(chunk, world)
            assert sorted(torch.cat(shares).tolist()) == sorted(chunk.tolist())
            assert min(s.numel() for s in shares) >= 2, (world, size, shares)


def test_balanced_batches_keep_images_at_home():
    chunk = torch.arange(16)
    shares = home_shares(chunk, 2)
    assert torch.equal(shares[0], torch.arange(0, 16, 2)) and torch.equal(shares[1], torch.arange(1, 16, 2))


def test_a_batch_where_one_home_has_no_image_is_rebalanced():
    shares = home_shares(torch.tensor([0, 2, 4, 6, 8, 10]), 2)  # all at home on process 0
    assert [s.numel() for s in shares] == [4, 2]
