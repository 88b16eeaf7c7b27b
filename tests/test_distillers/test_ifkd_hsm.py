"""HSM (hyperbolic similarity mask) against a direct numpy evaluation of the
Mobius-addition / Poincare-distance formulas."""
import numpy as np
import pytest
import torch

from mmosar.models.distillers import (
    HyperbolicSimilarityMask,
    map_to_ball,
    mobius_add,
    poincare_distance,
)


def np_mobius_add(x, y, c):
    xy, x2, y2 = x @ y, x @ x, y @ y
    return ((1 + 2 * c * xy + c * y2) * x +
            (1 - c * x2) * y) / (1 + 2 * c * xy + c**2 * x2 * y2)


def np_distance(x, y, c):
    diff = np_mobius_add(-x, y, c)
    return 2 / np.sqrt(c) * np.arctanh(np.sqrt(c) * np.linalg.norm(diff))


CASES = [
    (np.array([0.1, 0.2, -0.3]), np.array([0.4, -0.1, 0.05]), 1.0),
    (np.array([0.5, 0.0, 0.0]), np.array([-0.5, 0.0, 0.0]), 1.0),
    (np.array([0.3, 0.3, 0.1]), np.array([0.2, -0.4, 0.3]), 0.5),
    (np.array([0.05, 0.6, -0.2]), np.array([0.1, 0.1, 0.1]), 2.0),
]


@pytest.mark.parametrize('x,y,c', CASES)
def test_mobius_add_and_distance_match_numpy(x, y, c):
    tx, ty = torch.tensor(x), torch.tensor(y)
    np.testing.assert_allclose(
        mobius_add(tx, ty, c).numpy(), np_mobius_add(x, y, c), rtol=1e-10)
    np.testing.assert_allclose(
        float(poincare_distance(tx, ty, c)), np_distance(x, y, c), rtol=1e-8)


def test_hand_worked_distance_on_a_diameter():
    # x = 0.5 e1, y = -0.5 e1, c = 1: (-x) (+) y = -0.8 e1, so
    # d = 2 artanh(0.8) = 2 * 0.5 * ln(1.8 / 0.2) = ln 9.
    d = poincare_distance(torch.tensor([0.5, 0.0]), torch.tensor([-0.5, 0.0]))
    assert float(d) == pytest.approx(np.log(9.0), rel=1e-6)
    # from the origin the distance is 2 artanh(|y|)
    d0 = poincare_distance(torch.zeros(2), torch.tensor([0.6, 0.0]))
    assert float(d0) == pytest.approx(2 * np.arctanh(0.6), rel=1e-6)


def test_limiting_cases():
    x = torch.tensor([[0.3, -0.2, 0.1], [0.0, 0.0, 0.0]], dtype=torch.float64)
    assert torch.allclose(poincare_distance(x, x), torch.zeros(2).double())
    y = torch.tensor([[0.1, 0.4, -0.3], [0.2, 0.1, 0.0]], dtype=torch.float64)
    # symmetry
    assert torch.allclose(poincare_distance(x, y), poincare_distance(y, x))
    # small c -> Euclidean distance times 2 (the ball's metric at 0 is 2x)
    near = poincare_distance(x * 1e-3, y * 1e-3, c=1.0) / 1e-3
    assert torch.allclose(near, 2 * (x - y).norm(dim=-1), rtol=1e-5)


@pytest.mark.parametrize('mode', ['expmap', 'scale', 'clip'])
def test_map_to_ball_lands_inside(mode):
    x = torch.randn(2, 16, 5, 6) * 30
    for c in (1.0, 0.25):
        y = map_to_ball(x, c, mode)
        assert (y.norm(dim=1) * c**0.5 < 1).all()


def test_expmap_matches_formula():
    v = np.array([0.3, -1.2, 2.0])
    n = np.linalg.norm(v)
    expected = np.tanh(n) * v / n
    got = map_to_ball(torch.tensor(v)[None, :, None, None], 1.0, 'expmap')
    np.testing.assert_allclose(got[0, :, 0, 0].numpy(), expected, rtol=1e-10)


def test_hsm_mask_per_location_matches_numpy():
    torch.manual_seed(0)
    # float64; the second sample 5x larger, so that a batch-wide instead of
    # the per-sample scale would show
    scale = torch.tensor([1.0, 5.0], dtype=torch.float64)[:, None, None,
                                                          None]
    t = torch.randn(2, 8, 3, 4, dtype=torch.float64) * scale
    s = (torch.randn(2, 8, 3, 4, dtype=torch.float64) *
         scale).requires_grad_(True)
    hsm = HyperbolicSimilarityMask(curvature=1.0, ball_map='scale')
    mask = hsm(t, s)
    assert mask.shape == (2, 3, 4) and not mask.requires_grad
    # reference: common per-sample scale, then the numpy distance per pixel
    tn, sn = t.numpy(), s.detach().numpy()
    for b in range(2):
        largest = max(
            np.linalg.norm(tn[b], axis=0).max(),
            np.linalg.norm(sn[b], axis=0).max())
        scale = 0.9 / largest  # default scale_radius
        for i in range(3):
            for j in range(4):
                ref = np_distance(tn[b, :, i, j] * scale,
                                  sn[b, :, i, j] * scale, 1.0)
                assert float(mask[b, i, j]) == pytest.approx(ref, rel=1e-10)
    # identical features -> zero mask
    assert torch.allclose(hsm(t, t), torch.zeros(2, 3, 4).double(),
                          atol=1e-12)
