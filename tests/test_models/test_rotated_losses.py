"""Gaussian (GWD / KLD / Bhattacharyya) and ProbIoU losses against numpy
evaluations of the closed forms."""
import math

import numpy as np
import pytest
import torch
from scipy.linalg import sqrtm

from mmosar.models.losses import GDLoss, ProbIoULoss


def np_gaussian(box, var_divisor):
    cx, cy, w, h, t = box
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return np.array([cx, cy]), rot @ np.diag([w * w, h * h]) @ rot.T / \
        var_divisor


def np_wasserstein2(p, t):
    (m1, s1), (m2, s2) = np_gaussian(p, 4), np_gaussian(t, 4)
    root = sqrtm(s1)
    cross = np.real(sqrtm(root @ s2 @ root))
    return np.sum((m1 - m2)**2) + np.trace(s1 + s2 - 2 * cross)


def np_kl(p, t):
    (m1, s1), (m2, s2) = np_gaussian(p, 4), np_gaussian(t, 4)
    inv2 = np.linalg.inv(s2)
    d = m1 - m2
    return 0.5 * (d @ inv2 @ d + np.trace(inv2 @ s1) +
                  np.log(np.linalg.det(s2) / np.linalg.det(s1)) - 2)


def np_bhattacharyya(p, t, var_divisor):
    (m1, s1), (m2, s2) = np_gaussian(p, var_divisor), np_gaussian(
        t, var_divisor)
    s = (s1 + s2) / 2
    d = m1 - m2
    return d @ np.linalg.inv(s) @ d / 8 + 0.5 * np.log(
        np.linalg.det(s) / math.sqrt(np.linalg.det(s1) * np.linalg.det(s2)))


def box_pairs(seed=0, n=20):
    rng = np.random.default_rng(seed)
    pred = np.column_stack([
        rng.uniform(0, 50, (n, 2)),
        rng.uniform(2, 30, (n, 2)),
        rng.uniform(-math.pi, math.pi, n)
    ])
    target = pred + np.column_stack([
        rng.normal(0, 3, (n, 2)),
        rng.uniform(-1, 3, (n, 2)),
        rng.normal(0, 0.4, n)
    ])
    return pred, target


@pytest.mark.parametrize('loss_type,fun,tau', [('gwd', 'log1p', 1.0),
                                               ('gwd', 'sqrt', 2.0),
                                               ('kld', 'log1p', 1.0),
                                               ('kld', 'none', 0.0),
                                               ('bcd', 'sqrt', 1.0)])
def test_gd_loss_matches_numpy(loss_type, fun, tau):
    pred, target = box_pairs()
    reference = {
        'gwd': np_wasserstein2,
        'kld': np_kl,
        'bcd': lambda p, t: np_bhattacharyya(p, t, 4)
    }[loss_type]
    dist = np.array([reference(p, t) for p, t in zip(pred, target)])
    f = {'log1p': np.log1p, 'sqrt': np.sqrt, 'none': lambda x: x}[fun]
    expected = 1 - 1 / (tau + f(dist)) if tau > 0 else f(dist)

    loss = GDLoss(loss_type=loss_type, fun=fun, tau=tau, reduction='none')
    out = loss(
        torch.tensor(pred, dtype=torch.float64),
        torch.tensor(target, dtype=torch.float64))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-8)

    weight = torch.rand(len(pred), dtype=torch.float64)
    mean = GDLoss(loss_type=loss_type, fun=fun, tau=tau, loss_weight=2.0)(
        torch.tensor(pred), torch.tensor(target), weight=weight,
        avg_factor=7.0)
    np.testing.assert_allclose(
        mean.item(), 2.0 * (expected * weight.numpy()).sum() / 7.0,
        rtol=1e-5)


@pytest.mark.parametrize('loss', [
    GDLoss(loss_type='gwd'),
    GDLoss(loss_type='kld'),
    GDLoss(loss_type='bcd'),
    GDLoss(loss_type='kld', fun='sqrt'),
    ProbIoULoss(mode='l1'),
    ProbIoULoss(mode='l2')
])
def test_losses_zero_for_identical_boxes(loss):
    boxes = torch.tensor([[10., 20., 30., 8., 0.4], [0., 0., 5., 5., -1.2],
                          [100., 3., 60., 2., 1.5]])
    out = loss(boxes, boxes.clone(), reduction_override='none')
    # ProbIoU keeps an eps inside its square root: 1 - ProbIoU ~ sqrt(2e-7)
    assert out.abs().max().item() < 1e-3
    # and the same rectangle written as (h, w, t + pi/2) or (w, h, t + pi)
    alias = boxes[:, [0, 1, 3, 2, 4]].clone()
    alias[:, 4] += math.pi / 2
    flipped = boxes.clone()
    flipped[:, 4] += math.pi
    for other in (alias, flipped):
        out = loss(boxes, other, reduction_override='none')
        assert out.abs().max().item() < 1e-3


@pytest.mark.parametrize('mode', ['l1', 'l2'])
def test_probiou_loss_matches_numpy(mode):
    pred, target = box_pairs(seed=3)
    bd = np.array(
        [np_bhattacharyya(p, t, 12) for p, t in zip(pred, target)])
    hellinger = np.sqrt(1 - np.exp(-bd))
    expected = hellinger if mode == 'l1' else bd
    out = ProbIoULoss(mode=mode, reduction='none')(
        torch.tensor(pred, dtype=torch.float64),
        torch.tensor(target, dtype=torch.float64))
    np.testing.assert_allclose(out.numpy(), expected, atol=2e-4, rtol=1e-3)


@pytest.mark.parametrize('loss', [
    GDLoss(loss_type='gwd'),
    GDLoss(loss_type='kld'),
    GDLoss(loss_type='bcd'),
    GDLoss(loss_type='gwd', fun='sqrt'),
    ProbIoULoss(mode='l1'),
    ProbIoULoss(mode='l2')
])
def test_losses_finite_gradients_degenerate(loss):
    pred = torch.tensor([[10., 10., 0., 5., 0.3], [10., 10., 0., 0., 0.],
                         [5., 5., 4., 1e-9, 1.0], [3., 3., 6., 2., 0.]],
                        requires_grad=True)
    target = torch.tensor([[10., 10., 0., 5., 0.3], [12., 10., 3., 0., 0.],
                           [5., 5., 4., 1e-9, 1.0], [3., 3., 0., 0., 0.]])
    out = loss(pred, target)
    out.backward()
    assert torch.isfinite(out)
    assert torch.isfinite(pred.grad).all()


def test_zero_weight_rows_are_skipped():
    # anchor heads pass all-zero targets (and weights) for negatives
    pred = torch.tensor([[10., 10., 8., 4., 0.3], [1., 2., 3., 4., 0.]],
                        requires_grad=True)
    target = torch.tensor([[11., 10., 8., 5., 0.1], [0., 0., 0., 0., 0.]])
    weight = torch.tensor([[1.] * 5, [0.] * 5])
    for loss in (GDLoss(loss_type='kld'), ProbIoULoss()):
        out = loss(pred, target, weight=weight, avg_factor=1.0)
        single = loss(pred[:1], target[:1], avg_factor=1.0)
        torch.testing.assert_close(out, single)
        out.backward()
        assert torch.isfinite(pred.grad).all()
        pred.grad = None


def test_loss_bad_input():
    with pytest.raises(ValueError, match='loss_type'):
        GDLoss(loss_type='iou')
    with pytest.raises(ValueError, match='mode'):
        ProbIoULoss(mode='l3')
    with pytest.raises(ValueError, match=r'\(N, 5\)'):
        GDLoss()(torch.zeros(2, 4), torch.zeros(2, 4))
