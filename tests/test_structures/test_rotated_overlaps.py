"""rbbox_overlaps vs shapely, rbbox_probiou vs a numpy Bhattacharyya formula,
and batched_rnms vs a greedy numpy/shapely NMS."""
import math

import numpy as np
import pytest
import torch
from rbox_reference import shapely_overlap

from mmosar.structures.bbox import (
    RotatedBoxes,
    batched_rnms,
    nms_rotated_exact,
    rbbox_overlaps,
    rbbox_probiou,
    rbox2gaussian,
)


def random_rboxes(num, rng, size=(2, 60)):
    return np.stack([
        rng.uniform(0, 100, num),
        rng.uniform(0, 100, num),
        rng.uniform(*size, num),
        rng.uniform(*size, num),
        rng.uniform(-math.pi, math.pi, num)
    ], 1)


def special_pairs(rng):
    """Identical, nested, touching and near-degenerate box pairs."""
    base = random_rboxes(200, rng)
    nested = base.copy()
    nested[:, 2:4] *= rng.uniform(0.2, 0.9, (200, 1))
    touching = base.copy()  # shifted by exactly w along the w axis
    touching[:, 0] += base[:, 2] * np.cos(base[:, 4])
    touching[:, 1] += base[:, 2] * np.sin(base[:, 4])
    thin = base.copy()
    thin[:, 2] = rng.uniform(1e-4, 1e-3, 200)
    near = base.copy()
    near[:, :2] += rng.normal(0, 2, (200, 2))
    near[:, 4] += rng.normal(0, 0.05, 200)
    # shifted along the w side: shared edge lines (mmcv's kernel fails here)
    sliding = base.copy()
    shift = rng.uniform(0, 1, 200) * base[:, 2]
    sliding[:, 0] += shift * np.cos(base[:, 4])
    sliding[:, 1] += shift * np.sin(base[:, 4])
    # the same sides encoded a quarter turn away (w and h swapped), with
    # float noise on the angle
    sliding[100:, 4] += rng.normal(0, 1e-5,
                                   100) + np.pi / 2 * rng.choice([-1, 1], 100)
    sliding[100:, 2:4] = sliding[100:, 3:1:-1]
    first = np.concatenate([base, base, base, thin, thin, base, base])
    second = np.concatenate(
        [base, nested, touching, thin, base, near, sliding])
    return first, second


@pytest.mark.parametrize('mode', ['iou', 'iof'])
def test_aligned_overlaps_match_shapely(mode):
    rng = np.random.default_rng(0)
    first, second = special_pairs(rng)
    rand1, rand2 = random_rboxes(2000, rng), random_rboxes(2000, rng)
    rand2[:, :2] = rand1[:, :2] + rng.normal(0, 20, (2000, 2))
    first, second = np.concatenate([first,
                                    rand1]), np.concatenate([second, rand2])
    ours = rbbox_overlaps(
        torch.from_numpy(first).float(),
        torch.from_numpy(second).float(),
        mode=mode,
        is_aligned=True).numpy()
    ref = np.array(
        [shapely_overlap(a, b, mode) for a, b in zip(first, second)])
    assert np.isfinite(ours).all()
    thin = (np.minimum(first[:, 2:4].min(1), second[:, 2:4].min(1)) < 1e-2)
    # exact up to float32 for ordinary boxes
    np.testing.assert_allclose(ours[~thin], ref[~thin], atol=2e-4)
    # thin boxes are widened to 0.01 px: identical thin boxes overlap fully,
    # a thin box against a normal one stays close to the exact value
    np.testing.assert_allclose(ours[thin], ref[thin], atol=2e-2)
    np.testing.assert_allclose(ours[:200], 1.0, atol=1e-4)  # identical
    np.testing.assert_allclose(ours[600:800], 1.0, atol=1e-4)  # thin twins
    assert (ours[400:600] < 1e-4).all()  # touching


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_pairwise_overlaps_match_shapely(dtype):
    rng = np.random.default_rng(1)
    boxes1, boxes2 = random_rboxes(30, rng), random_rboxes(40, rng)
    boxes2[:10] = boxes1[:10]
    for mode in ('iou', 'iof'):
        ours = rbbox_overlaps(
            torch.from_numpy(boxes1).to(dtype),
            RotatedBoxes(torch.from_numpy(boxes2).to(dtype)),
            mode=mode)
        assert ours.shape == (30, 40) and ours.dtype == dtype
        ref = np.array([[shapely_overlap(a, b, mode) for b in boxes2]
                        for a in boxes1])
        np.testing.assert_allclose(ours.numpy(), ref, atol=2e-4)


def test_overlaps_far_from_origin_and_degenerate():
    rng = np.random.default_rng(2)
    boxes1, boxes2 = random_rboxes(50, rng), random_rboxes(50, rng)
    boxes2[:, :2] = boxes1[:, :2] + rng.normal(0, 5, (50, 2))
    ref = np.array([shapely_overlap(a, b) for a, b in zip(boxes1, boxes2)])
    for offset in (1e6, 1e9):
        far1, far2 = boxes1.copy(), boxes2.copy()
        far1[:, :2] += offset
        far2[:, :2] += offset
        ours = rbbox_overlaps(
            torch.from_numpy(far1), torch.from_numpy(far2), is_aligned=True)
        np.testing.assert_allclose(ours.numpy(), ref, atol=2e-4)
    degenerate = torch.tensor([[0., 0., 0., 0., 0.], [1e30, -1e30, 0, 5, 1],
                               [5., 5., 1e-9, 1e-9, 0.3]])
    ours = rbbox_overlaps(degenerate, degenerate)
    assert torch.isfinite(ours).all()
    assert ((ours >= 0) & (ours <= 1)).all()


def test_overlaps_empty_inputs_and_errors():
    boxes = torch.rand(3, 5)
    empty = torch.zeros(0, 5)
    assert rbbox_overlaps(boxes, empty).shape == (3, 0)
    assert rbbox_overlaps(empty, boxes).shape == (0, 3)
    assert rbbox_overlaps(empty, empty, is_aligned=True).shape == (0, )
    with pytest.raises(ValueError, match='mode'):
        rbbox_overlaps(boxes, boxes, mode='giou')
    with pytest.raises(ValueError, match=r'\(N, 5\)'):
        rbbox_overlaps(torch.rand(3, 4), boxes)


def np_probiou(box1, box2, eps=1e-7):
    """ProbIoU from the Bhattacharyya / Hellinger formulas with numpy."""

    def gaussian(box):
        cx, cy, w, h, t = box
        rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
        return np.array([cx,
                         cy]), rot @ np.diag([w**2 / 12, h**2 / 12]) @ rot.T

    mu1, s1 = gaussian(box1)
    mu2, s2 = gaussian(box2)
    s = (s1 + s2) / 2
    d = mu1 - mu2
    b_dist = d @ np.linalg.inv(s) @ d / 8 + 0.5 * np.log(
        np.linalg.det(s) / np.sqrt(np.linalg.det(s1) * np.linalg.det(s2)))
    b_dist = np.clip(b_dist, eps, 100)
    return 1 - np.sqrt(1 - np.exp(-b_dist) + eps)


def test_probiou_matches_numpy_formula():
    rng = np.random.default_rng(3)
    boxes1, boxes2 = random_rboxes(6, rng), random_rboxes(5, rng)
    boxes2[0] = boxes1[0]
    boxes2[1] = boxes1[1] + np.array([3, -2, 5, -1, 0.4])
    ours = rbbox_probiou(torch.from_numpy(boxes1), torch.from_numpy(boxes2))
    ref = np.array([[np_probiou(a, b) for b in boxes2] for a in boxes1])
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-5, atol=1e-6)
    aligned = rbbox_probiou(
        torch.from_numpy(boxes1[:5]).float(),
        torch.from_numpy(boxes2).float(),
        is_aligned=True)
    np.testing.assert_allclose(aligned.numpy(), np.diag(ref), atol=1e-4)
    # identical boxes: 1 - sqrt(2 eps); far apart: about 0
    assert math.isclose(ours[0, 0].item(), 1 - math.sqrt(2e-7), rel_tol=1e-6)
    far = torch.tensor([[0., 0., 4., 2., 0.], [1e4, 0., 4., 2., 0.]])
    assert rbbox_probiou(far[:1], far[1:]).item() < 1e-3


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_probiou_of_half_precision_boxes(dtype):
    # Mixed-precision training hands the head's boxes over in 16 bits;
    # (w h)^2 of a 100 x 40 box overflows float16. The result must be the
    # float formula on the rounded boxes, computed in float32.
    boxes1 = np.array([[256., 200., 100., 40., 0.3], [50., 60., 300., 120.,
                                                      -1.0]])
    boxes2 = np.array([[250., 205., 90., 44., 0.2], [52., 58., 310., 110.,
                                                     -0.9]])
    half1 = torch.from_numpy(boxes1).to(dtype)
    half2 = torch.from_numpy(boxes2).to(dtype)
    ours = rbbox_probiou(half1, half2)
    assert ours.dtype == torch.float32
    ref = np.array([[np_probiou(a, b) for b in half2.double().numpy()]
                    for a in half1.double().numpy()])
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-4, atol=1e-5)


def test_probiou_is_differentiable_and_angle_symmetric():
    boxes = torch.tensor([[10., 10., 8., 3., 0.3]], requires_grad=True)
    other = torch.tensor([[11., 9., 7., 4., 0.5]])
    rbbox_probiou(boxes, other, is_aligned=True).sum().backward()
    assert torch.isfinite(boxes.grad).all() and boxes.grad.abs().sum() > 0
    # t and t + pi, (w, h, t) and (h, w, t + pi/2) are the same Gaussian
    same = torch.tensor([[10., 10., 8., 3., 0.3 + math.pi],
                         [10., 10., 3., 8., 0.3 + math.pi / 2]])
    mu, sigma = rbox2gaussian(same)
    _, sigma0 = rbox2gaussian(boxes.detach())
    assert torch.allclose(sigma, sigma0.expand(2, 2, 2), atol=1e-5)
    assert torch.allclose(mu, torch.tensor([[10., 10.]]).expand(2, 2))


def greedy_nms(boxes, scores, labels, thr):
    """Plain per-class greedy NMS with shapely IoU."""
    keep = []
    for cls in np.unique(labels):
        order = [
            i for i in np.argsort(-scores, kind='stable') if labels[i] == cls
        ]
        while order:
            best, order = order[0], order[1:]
            keep.append(best)
            order = [
                i for i in order
                if shapely_overlap(boxes[best], boxes[i]) < thr
            ]
    return sorted(keep, key=lambda i: -scores[i])


@pytest.mark.parametrize('thr', [0.1, 0.5])
def test_batched_rnms_matches_greedy_reference(thr):
    rng = np.random.default_rng(4)
    centers = rng.uniform(0, 200, (6, 2))
    boxes = random_rboxes(120, rng, size=(10, 40))
    boxes[:, :2] = centers[rng.integers(0, 6, 120)] + rng.normal(
        0, 6, (120, 2))
    scores = rng.permutation(120) / 120 + 0.001
    labels = rng.integers(0, 3, 120)
    dets, keep = batched_rnms(
        torch.from_numpy(boxes).float(),
        torch.from_numpy(scores).float(), torch.from_numpy(labels), thr)
    ref = greedy_nms(boxes, scores, labels, thr)
    assert keep.tolist() == ref
    assert dets.shape == (len(ref), 6)
    np.testing.assert_allclose(dets[:, 5].numpy(), scores[ref], rtol=1e-6)
    dets, keep = batched_rnms(
        torch.from_numpy(boxes).float(),
        torch.from_numpy(scores).float(),
        torch.from_numpy(labels),
        thr,
        max_num=5)
    assert keep.tolist() == ref[:5]


def test_batched_rnms_empty_and_mmcv_batched_nms_config():
    from mmcv.ops import batched_nms
    dets, keep = batched_rnms(
        torch.zeros(0, 5), torch.zeros(0), torch.zeros(0, dtype=torch.long),
        0.1)
    assert dets.shape == (0, 6) and keep.shape == (0, )
    # mmdet heads call mmcv's batched_nms with a test_cfg nms dict
    rng = np.random.default_rng(5)
    boxes = random_rboxes(80, rng, size=(10, 40))
    scores = rng.uniform(0.05, 1, 80)
    labels = rng.integers(0, 4, 80)
    expected = greedy_nms(boxes, scores, labels, 0.1)
    for nms_type in ('nms_rotated', nms_rotated_exact):
        _, keep = batched_nms(
            torch.from_numpy(boxes).float(),
            torch.from_numpy(scores).float(), torch.from_numpy(labels),
            dict(type=nms_type, iou_threshold=0.1))
        assert keep.tolist() == expected
    # labels argument and counter-clockwise angles
    counter_clockwise = boxes * [1, 1, 1, 1, -1]  # same boxes
    _, keep = nms_rotated_exact(
        torch.from_numpy(counter_clockwise).float(),
        torch.from_numpy(scores).float(),
        0.1,
        labels=torch.from_numpy(labels),
        clockwise=False)
    assert keep.tolist() == expected


def test_quadri_overlaps_of_convex_quads_match_shapely():
    from shapely.geometry import Polygon

    from mmosar.structures.bbox import QuadriBoxes
    rng = np.random.default_rng(6)
    # convex quads: four sorted angles on a jittered ellipse
    angles = np.sort(rng.uniform(0, 2 * np.pi, (40, 4)), axis=1)
    radii = rng.uniform(5, 30, (40, 1))
    centers = rng.uniform(20, 60, (40, 2))
    quads = np.stack([np.cos(angles), np.sin(angles)], -1) * radii[..., None]
    quads = quads + centers[:, None]
    boxes1, boxes2 = quads[:20], quads[20:]
    boxes2[:5] = boxes1[:5]  # identical
    boxes2[5:10] = boxes1[5:10] + [3.0, 0.0]
    for mode in ('iou', 'iof'):
        ours = QuadriBoxes.overlaps(
            QuadriBoxes(boxes1.reshape(20, 8)),
            QuadriBoxes(boxes2.reshape(20, 8)),
            mode=mode)
        ref = np.zeros((20, 20))
        for i, a in enumerate(boxes1):
            for j, b in enumerate(boxes2):
                pa, pb = Polygon(a), Polygon(b)
                inter = pa.intersection(pb).area
                ref[i, j] = inter / (
                    pa.area + pb.area - inter if mode == 'iou' else pa.area)
        np.testing.assert_allclose(ours.numpy(), ref, atol=1e-9)


def test_nms_on_boxes_sliding_along_their_sides():
    """Parallel boxes on a common line, where mmcv's kernel is unreliable."""
    rng = np.random.default_rng(7)
    base = random_rboxes(40, rng, size=(10, 40))
    shifted = base.copy()
    shift = rng.uniform(0.3, 1.0, 40) * base[:, 2]
    shifted[:, 0] += shift * np.cos(base[:, 4])
    shifted[:, 1] += shift * np.sin(base[:, 4])
    boxes = np.concatenate([base, shifted])
    scores = np.concatenate([np.full(40, 0.9), np.full(40, 0.5)])
    labels = np.tile(np.arange(40), 2)  # each pair is its own class
    _, keep = batched_rnms(
        torch.from_numpy(boxes).float(),
        torch.from_numpy(scores).float(), torch.from_numpy(labels), 0.3)
    assert sorted(keep.tolist()) == sorted(
        greedy_nms(boxes, scores, labels, 0.3))
