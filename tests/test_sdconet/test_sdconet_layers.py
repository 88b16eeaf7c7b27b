"""SDCoNet building blocks against hand-worked values and direct formulas."""
import math

import numpy as np
import pytest
import torch

from mmosar.models.layers.sdconet_salience import (
    SalienceFocalLoss,
    salience_targets,
    select_salient_tokens,
)
from mmosar.models.layers.sdconet_sr import (
    SwinSRDecoder,
    SwinTransformerSR,
    scale_gradient,
)


def test_select_salient_tokens_matches_direct_sort():
    torch.manual_seed(0)
    shapes = torch.tensor([[4, 4], [2, 3]])
    scores = torch.randn(2, 22)
    valid = torch.ones(2, 22, dtype=torch.bool)
    valid[1, [3, 7, 11, 15, 20]] = False  # padding of image 1
    ratios = (0.5, 0.67)
    index = select_salient_tokens(scores, valid, shapes, ratios)

    levels = [(0, 16), (16, 22)]
    for b in range(2):
        expected = set()
        for (start, end), ratio in zip(levels, ratios):
            num_valid = max(int(valid[i, start:end].sum()) for i in range(2))
            k = math.ceil(ratio * num_valid)
            level = [(float(scores[b, i]) if valid[b, i] else -np.inf, i)
                     for i in range(start, end)]
            expected |= {i for _, i in sorted(level, reverse=True)[:k]}
        got = index[b].tolist()
        assert set(got) == expected
        # best first
        got_scores = [
            float(scores[b, i]) if valid[b, i] else -np.inf for i in got
        ]
        assert got_scores == sorted(got_scores, reverse=True)


def test_select_salient_tokens_keep_all_is_a_full_argsort():
    scores = torch.tensor([[0.1, 0.9, -0.3, 0.5, 0.2]])
    valid = torch.ones(1, 5, dtype=torch.bool)
    index = select_salient_tokens(scores, valid, torch.tensor([[1, 5]]), (1, ))
    assert index.tolist() == [[1, 3, 4, 0, 2]]


def test_select_salient_tokens_rejects_bad_ratio():
    with pytest.raises(ValueError, match='level_keep_ratio'):
        select_salient_tokens(
            torch.zeros(1, 4), torch.ones(1, 4, dtype=torch.bool),
            torch.tensor([[2, 2]]), (0, ))


def test_salience_targets_hand_worked():
    # 64 x 64 image, levels 4x4 (stride 16) and 2x2 (stride 32); a token is
    # on level 0 when its largest border distance is <= 41, else level 1.
    shapes = torch.tensor([[4, 4], [2, 2]])
    ranges = ((-1, 41), (41, 1e8))
    boxes = [
        torch.tensor([[0., 0., 48., 32.]]),
        torch.tensor([[0., 0., 64., 64.]])
    ]
    t = salience_targets(boxes, shapes, (64, 64), ranges)
    a = 1 - 0.5 * math.sqrt((2 / 3)**2 + 0.25)  # (dx, dy) = (2/3, 1/2)
    expected0 = np.zeros((4, 4))
    expected0[0] = [a, 0.75, a, 0]
    expected0[1] = [a, 0.75, a, 0]
    np.testing.assert_allclose(
        t[0, :16].view(4, 4).numpy(), expected0, atol=1e-6)
    # centre (16, 16) of level 1 is 32 px from the far borders: level 0 range
    np.testing.assert_allclose(t[0, 16:].numpy(), 0, atol=1e-6)
    # image 1: the whole-image box; the four central level-0 tokens are 40 px
    # from the far borders (dx = dy = 1/4), level-1 tokens 48 px (1/2).
    c = 1 - 0.5 * math.sqrt(2 * 0.25**2)
    expected1 = np.zeros((4, 4))
    expected1[1:3, 1:3] = c
    np.testing.assert_allclose(
        t[1, :16].view(4, 4).numpy(), expected1, atol=1e-6)
    np.testing.assert_allclose(
        t[1, 16:].numpy(), 1 - 0.5 * math.sqrt(0.5), atol=1e-6)


def test_salience_targets_without_boxes():
    t = salience_targets([torch.zeros(0, 4)], torch.tensor([[2, 2]]), (8, 8),
                         ((-1, 1e8), ))
    assert t.shape == (1, 4) and not t.any()


def test_salience_focal_loss_formula():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0]])
    targets = torch.tensor([[1.0, 0.0, 0.3, 0.8]])
    valid = torch.tensor([[True, True, True, False]])
    loss = SalienceFocalLoss(
        alpha=0.25, gamma=2.0, loss_weight=2.0)(logits, targets, valid)
    x, t = logits.numpy()[0, :3].astype(np.float64), targets.numpy()[0, :3]
    p = 1 / (1 + np.exp(-x))
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    p_t = p * t + (1 - p) * (1 - t)
    alpha_t = 0.25 * t + 0.75 * (1 - t)
    expected = 2.0 * (alpha_t * (1 - p_t)**2 * bce).sum() / 2  # 2 positives
    assert float(loss) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize('scale', [0.0, 0.5, 1.0])
def test_scale_gradient(scale):
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    y = scale_gradient(x, scale)
    assert torch.equal(y.detach(), x.detach())
    if scale == 0:
        assert not y.requires_grad
        return
    (3 * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * scale)


def test_swin_sr_skips_and_decoder_shapes():
    backbone = SwinTransformerSR(
        embed_dims=16,
        depths=[1, 1, 1, 1],
        num_heads=[1, 1, 2, 2],
        window_size=4,
        out_indices=(1, 2, 3))
    backbone.eval()
    x = torch.randn(1, 3, 64, 48)
    outs, skips = backbone.forward_with_skips(x)
    plain = backbone(x)
    assert len(outs) == 3
    for a, b in zip(outs, plain):
        assert torch.equal(a, b)
    assert [tuple(s.shape[1:]) for s in skips] == [(16, 16, 12), (16, 16, 12),
                                                   (32, 8, 6), (64, 4, 3),
                                                   (128, 2, 2)]
    # the detection maps are the normalised stage outputs
    for out, skip in zip(outs, skips[2:]):
        assert torch.equal(out, skip)
    decoder = SwinSRDecoder(
        in_channels=(16, 16, 32, 64, 128),
        depths=(1, 1, 1, 1),
        num_heads=(2, 2, 1, 1),
        window_size=4,
        recon_channels=8,
        bottleneck_norm_cfg=dict(type='GN', num_groups=8))
    sr = decoder(skips, (128, 96))
    assert sr.shape == (1, 3, 128, 96)


def test_swin_sr_decoder_rejects_mismatched_stages():
    with pytest.raises(ValueError, match='depths'):
        SwinSRDecoder(
            in_channels=(16, 16, 32), depths=(1, 1, 1), num_heads=(1, 1, 1))
