"""M4SARMetric: hand-worked example of the Ultralytics 8.3.8 matching rule.

Boxes are axis-aligned 10 x 10 squares on a line. For two such squares
shifted by ``dx`` the ProbIoU is ``1 - sqrt(1 - exp(-B))`` with the
Bhattacharyya distance ``B = 1/8 dx^2 / (w^2 / 12) = 1.5 (dx / w)^2``
(equal covariances, so the log term vanishes); the polygon IoU is
``(10 - dx) / (10 + dx)``.

    dx    ProbIoU   polygon IoU
    1     0.878     0.818
    3     0.645     0.538
    7     0.279     0.176
"""
import numpy as np
import pytest
import torch

from mmosar.evaluation.functional.rotated_det_ap import (
    interp101_average_precision,
)
from mmosar.evaluation.metrics import M4SARMetric
from mmosar.registry import METRICS


def line_squares(xs, y=100.):
    boxes = torch.zeros(len(xs), 5)
    boxes[:, 0] = torch.tensor(xs, dtype=torch.float32)
    boxes[:, 1] = y
    boxes[:, 2:4] = 10
    return boxes


def sample(img_id, gt_xs, gt_labels, pred_xs, scores, labels):
    return dict(
        img_id=img_id,
        gt_instances=dict(
            bboxes=line_squares(gt_xs),
            labels=torch.tensor(gt_labels, dtype=torch.long)),
        pred_instances=dict(
            bboxes=line_squares(pred_xs),
            scores=torch.tensor(scores, dtype=torch.float32),
            labels=torch.tensor(labels, dtype=torch.long)))


def run(metric, samples, classes=('ship', )):
    metric.dataset_meta = dict(classes=classes)
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def test_probiou_closed_form_of_the_table():
    from mmosar.structures.bbox import rbbox_probiou
    ious = rbbox_probiou(line_squares([0.]), line_squares([1., 3., 7.]))
    closed = 1 - np.sqrt(1 - np.exp(-1.5 * (np.array([1, 3, 7]) / 10)**2))
    np.testing.assert_allclose(ious[0].numpy(), closed, atol=1e-4)


# GT A at x=100, GT B at x=104 (same class). Predictions:
#   p1 score 0.9 at x=97 : A dx=3 (0.645 / 0.538), B dx=7 (0.279 / 0.176)
#   p2 score 0.8 at x=101: A dx=1 (0.878 / 0.818), B dx=3 (0.645 / 0.538)
# At IoU 0.5 three rules disagree:
# * Ultralytics 8.3.8 (the M4-SAR protocol): each prediction keeps its
#   highest-IoU GT (p1 -> A, p2 -> A); a GT claimed twice goes to the first
#   prediction in score order: p1 TP, p2 FP. Ranked: recall 1/2 1/2,
#   precision 1 1/2. With the sentinels and the envelope the curve is
#   (0, 1) (1/2, 1) (1/2, 1/2) (1, 0); np.interp takes the last of the
#   duplicated recall 1/2, so the 101 samples are 1 for r < 0.5, 0.5 at
#   r = 0.5 and 1 - r above: trapezoid = 0.49 + 0.0075 + 0.125 = 0.6225.
# * one-to-one matching in descending IoU order over all pairs: (p2, A)
#   0.878 first, then (p1, A) is blocked and (p2, B) is used up: p1 FP,
#   p2 TP -> curve (0, 1) (0, 1/2) (1/2, 1/2) (1, 0) -> 0.5 * 0.5 + 0.125
#   = 0.375.
# * score order with fall-back to the next-best free GT (COCO): p1 -> A,
#   p2 -> B: both TP -> 1 up to r = 0.99, 0 at r = 1 -> 0.995.
ULTRALYTICS_AP, IOU_ORDER_AP, SCORE_FALLBACK_AP = 0.6225, 0.375, 0.995
HAND_WORKED = dict(
    img_id=0, gt_xs=[100, 104], gt_labels=[0, 0], pred_xs=[101, 97],
    scores=[0.8, 0.9], labels=[0, 0])  # given out of score order


@pytest.mark.parametrize('iou_calculator', ['probiou', 'polygon'])
def test_matching_rule_hand_worked(iou_calculator):
    metric = M4SARMetric(iou_thrs=0.5, iou_calculator=iou_calculator)
    results = run(metric, [sample(**HAND_WORKED)])
    assert results['m4sar/AP50'] == pytest.approx(ULTRALYTICS_AP)
    assert results['m4sar/AP50'] != pytest.approx(IOU_ORDER_AP)
    assert results['m4sar/AP50'] != pytest.approx(SCORE_FALLBACK_AP)


def test_hand_worked_over_default_thresholds():
    # ProbIoU: p1-A 0.645 passes 0.50 0.55 0.60 (-> 0.6225 as above); at
    # 0.65 .. 0.85 only p2-A (0.878) passes: p1 FP, p2 TP -> 0.375; at 0.90
    # and 0.95 nothing passes -> 0.
    metric = METRICS.build(dict(type='M4SARMetric'))
    results = run(metric, [sample(**HAND_WORKED)])
    per_thr = [ULTRALYTICS_AP] * 3 + [IOU_ORDER_AP] * 5 + [0.] * 2
    assert results['m4sar/AP50'] == pytest.approx(ULTRALYTICS_AP)
    assert results['m4sar/AP75'] == pytest.approx(IOU_ORDER_AP)
    assert results['m4sar/AP90'] == 0
    assert results['m4sar/mAP'] == pytest.approx(np.mean(per_thr))


def test_class_handling_and_perfect_predictions():
    # ship: predicted exactly -> every threshold: recall 1, precision 1 ->
    #   101 samples 1 except 0 at r = 1 -> 0.995.
    # plane: GT but no prediction -> 0, counted in the mean.
    # car: predictions but no GT -> left out.
    samples = [
        sample(0, [50, 200], [0, 1], [50, 300], [0.9, 0.8], [0, 2]),
        sample(1, [80], [0], [80], [0.7], [0]),
    ]
    results = run(M4SARMetric(), samples, classes=('ship', 'plane', 'car'))
    for key in ('AP50', 'AP75', 'mAP'):
        assert results[f'm4sar/{key}'] == pytest.approx(0.995 / 2)


def test_interp101_average_precision():
    assert interp101_average_precision(
        np.array([0.5, 0.5]), np.array([1., 0.5])) == pytest.approx(0.6225)
    # recall 1/4 .. 1 at precision 1/2. Curve with sentinels: (0, 1)
    # (1/4, 1/2) ... (1, 1/2) (1, 0): linear 1 -> 1/2 on [0, 1/4] (area
    # 0.1875), 1/2 on [1/4, 0.99] (0.37), the sample at r = 1 is the last
    # duplicate, 0 -> last interval 0.01 * (0.5 + 0) / 2 = 0.0025.
    recall = np.array([0.25, 0.5, 0.75, 1.])
    precision = np.full(4, 0.5)
    assert interp101_average_precision(recall, precision) == pytest.approx(
        0.1875 + 0.37 + 0.0025)
    assert interp101_average_precision(np.zeros(0), np.zeros(0)) == 0
