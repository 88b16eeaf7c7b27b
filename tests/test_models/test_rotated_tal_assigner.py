"""RotatedTaskAlignedAssigner against a direct numpy / shapely computation."""
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from shapely.geometry import Point

from mmosar.models.task_modules import RotatedTaskAlignedAssigner

sys.path.insert(0,
                str(Path(__file__).resolve().parents[1] / 'test_structures'))
from rbox_reference import rbox_polygon  # noqa: E402


def np_probiou(box1, box2) -> float:
    """ProbIoU = 1 - Hellinger distance of the boxes' Gaussians (numpy)."""

    def gaussian(box):
        cx, cy, w, h, t = box
        rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
        return np.array([cx,
                         cy]), rot @ np.diag([w**2 / 12, h**2 / 12]) @ rot.T

    mu1, s1 = gaussian(np.asarray(box1, float))
    mu2, s2 = gaussian(np.asarray(box2, float))
    s = (s1 + s2) / 2
    d = mu1 - mu2
    bhatta = d @ np.linalg.inv(s) @ d / 8 + 0.5 * np.log(
        np.linalg.det(s) / np.sqrt(np.linalg.det(s1) * np.linalg.det(s2)))
    return 1 - np.sqrt(1 - np.exp(-min(bhatta, 100.0)))


def reference_assign(scores, pred_boxes, points, gt_labels, gt_boxes, topk,
                     alpha, beta):
    """Sequential TAL for one image: (labels, gt_inds, fg, soft scores)."""
    num_anchors, num_classes = scores.shape
    num_gts = len(gt_boxes)
    inside = np.zeros((num_gts, num_anchors), bool)
    overlaps = np.zeros((num_gts, num_anchors))
    metric = np.zeros((num_gts, num_anchors))
    for g, box in enumerate(gt_boxes):
        poly = rbox_polygon(box)
        for a, (x, y) in enumerate(points):
            if poly.contains(Point(x, y)):
                inside[g, a] = True
                overlaps[g, a] = max(np_probiou(box, pred_boxes[a]), 0.0)
                metric[g, a] = scores[a, gt_labels[g]]**alpha * \
                    overlaps[g, a]**beta
    pos = np.zeros_like(inside)
    for g in range(num_gts):
        order = np.argsort(-metric[g], kind='stable')[:topk]
        pos[g, order] = True
    pos &= inside
    for a in range(num_anchors):
        if pos[:, a].sum() > 1:
            best = np.argmax(overlaps[:, a])
            pos[:, a] = False
            pos[best, a] = True
    fg = pos.any(axis=0)
    gt_inds = np.where(fg, pos.argmax(axis=0), 0)
    labels = np.where(fg, np.asarray(gt_labels)[gt_inds], num_classes)
    soft = np.zeros((num_anchors, num_classes))
    for g in range(num_gts):
        anchors = np.flatnonzero(pos[g])
        if len(anchors) == 0:
            continue
        best_metric = metric[g, anchors].max()
        best_overlap = overlaps[g, anchors].max()
        for a in anchors:
            soft[a, gt_labels[g]] = metric[g, a] * best_overlap / best_metric
    return labels, gt_inds, fg, soft


def make_case(seed: int = 0):
    """Two images on a 12 x 12 grid of stride-8 anchors: three overlapping
    rotated ground truths in the first, one in the second (padded)."""
    rng = np.random.default_rng(seed)
    xs = (np.arange(12) + 0.5) * 8
    points = np.stack(np.meshgrid(xs, xs), -1).reshape(-1, 2)
    gts = [
        [[40.0, 44.0, 50.0, 22.0, 0.5], [52.0, 50.0, 30.0, 30.0, -0.3],
         [70.0, 30.0, 36.0, 12.0, 1.2]],
        [[48.0, 60.0, 60.0, 30.0, 2.0]],
    ]
    labels = [[1, 3, 1], [0]]
    batch = len(gts)
    num_classes = 4
    scores = rng.uniform(0.05, 0.95, (batch, len(points), num_classes))
    pred = np.concatenate([
        points[None].repeat(batch, 0) + rng.normal(0, 2,
                                                   (batch, len(points), 2)),
        rng.uniform(16, 40, (batch, len(points), 2)),
        rng.uniform(-1, 2, (batch, len(points), 1))
    ], -1)
    # no anchor on a ground-truth border (inclusive/exclusive tests agree)
    for boxes in gts:
        for box in boxes:
            border = rbox_polygon(box).exterior
            assert min(border.distance(Point(p)) for p in points) > 1e-3
    return points, scores, pred, gts, labels, num_classes


@pytest.mark.parametrize('topk', [3, 10])
def test_assignment_matches_reference(topk):
    points, scores, pred, gts, labels, num_classes = make_case()
    max_gts = max(len(g) for g in gts)
    gt_boxes = torch.zeros(len(gts), max_gts, 5)
    gt_labels = torch.zeros(len(gts), max_gts, dtype=torch.long)
    flags = torch.zeros(len(gts), max_gts)
    for i, (boxes, labs) in enumerate(zip(gts, labels)):
        gt_boxes[i, :len(boxes)] = torch.tensor(boxes)
        gt_labels[i, :len(labs)] = torch.tensor(labs)
        flags[i, :len(boxes)] = 1
    assigner = RotatedTaskAlignedAssigner(
        num_classes, topk=topk, alpha=0.5, beta=6.0)
    out = assigner.assign(
        torch.tensor(scores, dtype=torch.float32),
        torch.tensor(pred, dtype=torch.float32),
        torch.tensor(points, dtype=torch.float32), gt_labels, gt_boxes, flags)

    for i in range(len(gts)):
        ref_labels, ref_inds, ref_fg, ref_soft = reference_assign(
            scores[i], pred[i], points, labels[i], gts[i], topk, 0.5, 6.0)
        assert ref_fg.sum() > 0
        np.testing.assert_array_equal(out['fg_mask'][i].numpy(), ref_fg)
        np.testing.assert_array_equal(out['labels'][i].numpy(), ref_labels)
        np.testing.assert_array_equal(out['gt_inds'][i][ref_fg].numpy(),
                                      ref_inds[ref_fg])
        np.testing.assert_allclose(
            out['scores'][i].numpy(), ref_soft, rtol=1e-3, atol=1e-6)
        assigned = out['bboxes'][i][ref_fg].numpy()
        np.testing.assert_allclose(
            assigned, np.asarray(gts[i])[ref_inds[ref_fg]], atol=1e-5)
    if topk == 3:
        # every real ground truth gets at most topk anchors
        per_gt = torch.stack([(out['gt_inds'][0] == g) & out['fg_mask'][0]
                              for g in range(3)]).sum(1)
        assert (per_gt <= 3).all() and (per_gt > 0).all()


def test_no_ground_truth_gives_background():
    assigner = RotatedTaskAlignedAssigner(3)
    out = assigner.assign(
        torch.rand(2, 5, 3),
        torch.rand(2, 5, 5) + 1, torch.rand(5, 2),
        torch.zeros(2, 0, dtype=torch.long), torch.zeros(2, 0, 5),
        torch.zeros(2, 0))
    assert not out['fg_mask'].any()
    assert (out['labels'] == 3).all()
    assert out['scores'].abs().sum() == 0


def test_padded_ground_truth_is_ignored():
    """A padded (flag 0) box covering every anchor must not be assigned."""
    points = torch.tensor([[4.0, 4.0], [12.0, 4.0]])
    gt_boxes = torch.tensor([[[8.0, 4.0, 100.0, 100.0, 0.0]]])
    out = RotatedTaskAlignedAssigner(2).assign(
        torch.full((1, 2, 2), 0.5),
        torch.tensor([[[4.0, 4, 8, 8, 0], [12, 4, 8, 8, 0]]]), points,
        torch.zeros(1, 1, dtype=torch.long), gt_boxes, torch.zeros(1, 1))
    assert not out['fg_mask'].any()


def test_wrong_class_count_is_an_error():
    with pytest.raises(ValueError, match='classes'):
        RotatedTaskAlignedAssigner(5).assign(
            torch.rand(1, 4, 3), torch.rand(1, 4, 5), torch.rand(4, 2),
            torch.zeros(1, 1, dtype=torch.long), torch.rand(1, 1, 5),
            torch.ones(1, 1))
