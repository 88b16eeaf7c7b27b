"""Rotated box coders, anchor generators and IoU calculators against
independent numpy / hand-worked references."""
import math

import numpy as np
import pytest
import torch
from mmdet.models.task_modules.prior_generators import AnchorGenerator

from mmosar.models.task_modules import (
    DeltaXYWHTRBBoxCoder,
    DistanceAnglePointCoder,
    FakeRBboxOverlaps2D,
    FakeRotatedAnchorGenerator,
    RBboxOverlaps2D,
    RotatedAnchorGenerator,
)
from mmosar.structures.bbox import RotatedBoxes


def random_rboxes(rng, n, min_ratio=1.3):
    """le90 boxes with w >= min_ratio * h (no near-square ambiguity)."""
    h = rng.uniform(4, 40, n)
    w = h * rng.uniform(min_ratio, 4, n)
    t = rng.uniform(-math.pi / 2 + 0.05, math.pi / 2 - 0.05, n)
    xy = rng.uniform(0, 200, (n, 2))
    return np.column_stack([xy, w, h, t])


def wrap_half_pi(a):
    """Wrap into [-pi/2, pi/2)."""
    return (a + np.pi / 2) % np.pi - np.pi / 2


def numpy_deltas(priors, gts, proj_xy, edge_swap):
    """Deltas written directly from the definition, one box at a time
    (targets first written in le90, as mmrotate 1.x does)."""
    out = []
    for (px, py, pw, ph, pt), (gx, gy, gw, gh, gt) in zip(priors, gts):
        if gh >= gw:
            gw, gh, gt = gh, gw, gt + np.pi / 2
        gt = wrap_half_pi(gt)
        axis_u = np.array([math.cos(pt), math.sin(pt)])
        axis_v = np.array([-math.sin(pt), math.cos(pt)])
        offset = np.array([gx - px, gy - py])
        if proj_xy:
            ox, oy = offset @ axis_u, offset @ axis_v
        else:
            ox, oy = offset
        # the same rectangle written two ways; keep the one whose angle is
        # closer to the prior's
        candidates = [(gw, gh, wrap_half_pi(gt - pt))]
        if edge_swap:
            candidates.append((gh, gw, wrap_half_pi(gt + np.pi / 2 - pt)))
        w, h, dt = min(candidates, key=lambda c: abs(c[2]))
        out.append([ox / pw, oy / ph, math.log(w / pw), math.log(h / ph), dt])
    return np.array(out)


@pytest.mark.parametrize('proj_xy,edge_swap', [(True, True), (False, False),
                                               (True, False)])
def test_delta_coder_encode_matches_numpy(proj_xy, edge_swap):
    rng = np.random.default_rng(0)
    priors = random_rboxes(rng, 64)
    gts = priors + np.column_stack([
        rng.normal(0, 5, (64, 2)),
        np.zeros((64, 2)),
        rng.uniform(-1.2, 1.2, 64)
    ])
    gts[:, 2:4] = priors[:, 2:4] * rng.uniform(0.5, 2, (64, 2))
    means = (0.1, -0.1, 0.0, 0.2, 0.0)
    stds = (0.5, 0.5, 1.0, 2.0, 0.25)
    coder = DeltaXYWHTRBBoxCoder(
        target_means=means,
        target_stds=stds,
        angle_version='le90',
        proj_xy=proj_xy,
        edge_swap=edge_swap)
    deltas = coder.encode(
        torch.tensor(priors, dtype=torch.float64),
        RotatedBoxes(torch.tensor(gts, dtype=torch.float64)))
    expected = (numpy_deltas(priors, gts, proj_xy, edge_swap) -
                np.array(means)) / np.array(stds)
    np.testing.assert_allclose(deltas.numpy(), expected, atol=1e-9)


@pytest.mark.parametrize('proj_xy,edge_swap,norm_factor',
                         [(True, True, None), (False, False, None),
                          (True, True, 2.0)])
def test_delta_coder_round_trip(proj_xy, edge_swap, norm_factor):
    rng = np.random.default_rng(1)
    priors = torch.tensor(random_rboxes(rng, 50), dtype=torch.float64)
    gts_np = random_rboxes(rng, 50)
    gts_np[:, :2] = priors[:, :2].numpy() + rng.normal(0, 4, (50, 2))
    gts = torch.tensor(gts_np, dtype=torch.float64)
    coder = DeltaXYWHTRBBoxCoder(
        angle_version='le90',
        proj_xy=proj_xy,
        edge_swap=edge_swap,
        norm_factor=norm_factor,
        target_stds=(0.1, 0.1, 0.2, 0.2, 0.1))
    decoded = coder.decode(priors, coder.encode(priors, gts),
                           wh_ratio_clip=1e-6)
    assert isinstance(decoded, RotatedBoxes)
    out = decoded.tensor.numpy()
    np.testing.assert_allclose(out[:, :4], gts_np[:, :4], atol=1e-6)
    np.testing.assert_allclose(
        wrap_half_pi(out[:, 4] - gts_np[:, 4]), 0, atol=1e-6)
    # decoded boxes are in le90: w >= h, t in [-pi/2, pi/2)
    assert (out[:, 2] >= out[:, 3]).all()
    assert (out[:, 4] >= -math.pi / 2).all() and (out[:, 4] < math.pi /
                                                   2).all()


def test_delta_coder_decode_clamps_and_tensor_output():
    coder = DeltaXYWHTRBBoxCoder(
        angle_version=None, add_ctr_clamp=True, ctr_clamp=5,
        use_box_type=False)
    prior = torch.tensor([[0., 0., 10., 10., 0.]])
    out = coder.decode(prior, torch.tensor([[3., -3., 20., 0., 0.2]]))
    assert isinstance(out, torch.Tensor)
    # centre shift clamped to 5 px, log-size clamped to |log(16/1000)|
    expected_w = 10 * math.exp(abs(math.log(16 / 1000)))
    np.testing.assert_allclose(out.numpy(),
                               [[5., -5., expected_w, 10., 0.2]], rtol=1e-6)


def test_delta_coder_bad_input():
    coder = DeltaXYWHTRBBoxCoder()
    with pytest.raises(ValueError, match='last dim 5'):
        coder.encode(torch.zeros(3, 4), torch.zeros(3, 5))
    with pytest.raises(ValueError, match='5 values'):
        DeltaXYWHTRBBoxCoder(target_means=(0, 0, 0, 0))


def test_distance_angle_coder_hand_example():
    # box centred at (10, 20), w = 8 along +y (t = pi/2), h = 4 along -x.
    # Point (11, 22): offset (1, 2) -> along w: 2, along h: -1, so
    # left = 4 + 2, top = 2 - 1, right = 4 - 2, bottom = 2 + 1.
    coder = DistanceAnglePointCoder(angle_version=None)
    box = torch.tensor([[10., 20., 8., 4., math.pi / 2]])
    point = torch.tensor([[11., 22.]])
    code = coder.encode(point, box)
    np.testing.assert_allclose(code.numpy(), [[6, 1, 2, 3, math.pi / 2]],
                               atol=1e-6)
    decoded = coder.decode(point, code)
    assert isinstance(decoded, RotatedBoxes)
    np.testing.assert_allclose(decoded.tensor.numpy(), box.numpy(), atol=1e-5)

    # in le90 the same box is (10, 20, 8, 4, -pi/2): the axes flip sign
    coder_le90 = DistanceAnglePointCoder(angle_version='le90')
    np.testing.assert_allclose(
        coder_le90.encode(point, box).numpy(), [[2, 3, 6, 1, -math.pi / 2]],
        atol=1e-6)

    # angle 0 reduces to FCOS distances (x - x1, y - y1, x2 - x, y2 - y)
    hbox = torch.tensor([[50., 40., 20., 10., 0.]])  # x 40..60, y 35..45
    np.testing.assert_allclose(
        coder.encode(torch.tensor([[45., 37.]]), hbox).numpy(),
        [[5, 2, 15, 8, 0]], atol=1e-6)


def test_distance_angle_coder_clamp():
    coder = DistanceAnglePointCoder(angle_version=None)
    code = coder.encode(
        torch.tensor([[0., 0.]]),
        torch.tensor([[0., 0., 100., 2., 0.]]),
        max_dis=10,
        eps=0.5)
    np.testing.assert_allclose(code.numpy(), [[9.5, 1, 9.5, 1, 0]])


def test_fake_rotated_anchor_generator_le90():
    gen = FakeRotatedAnchorGenerator(
        angle_version='le90',
        strides=[8],
        ratios=[0.5, 1.0, 2.0],
        scales=[4],
        use_box_type=True)
    anchors = gen.grid_priors([(2, 3)], device='cpu')[0]
    assert isinstance(anchors, RotatedBoxes)
    t = anchors.tensor
    assert t.shape == (2 * 3 * 3, 5)
    # le90: long side first, tall anchors rotated to -pi/2
    assert (t[:, 2] >= t[:, 3]).all()
    is_zero = np.isclose(t[:, 4].numpy(), 0.0)
    is_tall = np.isclose(t[:, 4].numpy(), -math.pi / 2)
    assert (is_zero | is_tall).all() and is_zero.any() and is_tall.any()
    # the horizontal reference: same centres and areas as mmdet's anchors
    ref = AnchorGenerator(strides=[8], ratios=[0.5, 1.0, 2.0], scales=[4])
    hbox = ref.grid_priors([(2, 3)], device='cpu')[0]
    np.testing.assert_allclose(t[:, :2].numpy(),
                               ((hbox[:, :2] + hbox[:, 2:]) / 2).numpy())
    np.testing.assert_allclose((t[:, 2] * t[:, 3]).numpy(),
                               ((hbox[:, 2] - hbox[:, 0]) *
                                (hbox[:, 3] - hbox[:, 1])).numpy(),
                               rtol=1e-5)


def test_rotated_anchor_generator_angles():
    angles = (0.0, math.pi / 4)
    gen = RotatedAnchorGenerator(
        angles=angles, angle_version=None, strides=[16], ratios=[1.0],
        scales=[2], use_box_type=False)
    assert gen.num_base_priors == [2]
    anchors = gen.grid_priors([(2, 2)], device='cpu')[0]
    assert anchors.shape == (2 * 2 * 2, 5)
    np.testing.assert_allclose(anchors[:, 4].numpy(), [0, math.pi / 4] * 4,
                               atol=1e-6)
    flags = gen.valid_flags([(2, 2)], (32, 32), device='cpu')[0]
    assert flags.shape == (8, )


def test_iou_calculators():
    shapely = pytest.importorskip('shapely.geometry')
    from shapely import affinity
    boxes1 = torch.tensor([[10., 10., 8., 4., 0.3], [0., 0., 6., 6., 0.]])
    boxes2 = torch.tensor([[11., 10., 8., 4., -0.2], [1., 1., 6., 6., 0.5],
                           [40., 40., 2., 2., 0.]])

    def poly(b):
        cx, cy, w, h, t = b.tolist()
        rect = shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        return affinity.rotate(rect, t, origin=(cx, cy), use_radians=True)

    expected = np.array([[
        poly(a).intersection(poly(b)).area / poly(a).union(poly(b)).area
        for b in boxes2
    ] for a in boxes1])
    iou = RBboxOverlaps2D()(RotatedBoxes(boxes1), boxes2)
    np.testing.assert_allclose(iou.numpy(), expected, atol=1e-4)
    # with a score column
    scored = torch.cat([boxes2, torch.ones(3, 1)], dim=1)
    np.testing.assert_allclose(
        RBboxOverlaps2D()(boxes1, scored).numpy(), expected, atol=1e-4)

    # fake: IoU of the circumscribed axis-aligned boxes
    def hull(b):
        return shapely.box(*poly(b).bounds)

    expected_fake = np.array([[
        hull(a).intersection(hull(b)).area / hull(a).union(hull(b)).area
        for b in boxes2
    ] for a in boxes1])
    np.testing.assert_allclose(
        FakeRBboxOverlaps2D()(boxes1, boxes2).numpy(), expected_fake,
        atol=1e-4)
    with pytest.raises(ValueError, match='rotated boxes'):
        RBboxOverlaps2D()(torch.zeros(2, 4), boxes2)
