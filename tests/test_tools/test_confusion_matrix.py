"""Rotated confusion matrix against a hand-worked case (IoUs from shapely)."""
import math
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from shapely.geometry import Polygon

from mmosar.evaluation.functional import rotated_confusion_matrix


def _polygon(cx, cy, w, h, t):
    c, s = math.cos(t), math.sin(t)
    return Polygon([(cx + c * dx - s * dy, cy + s * dx + c * dy)
                    for dx, dy in ((-w / 2, -h / 2), (w / 2, -h / 2),
                                   (w / 2, h / 2), (-w / 2, h / 2))])


def _iou(a, b):
    pa, pb = _polygon(*a), _polygon(*b)
    return pa.intersection(pb).area / pa.union(pb).area


A, B, BG = 0, 1, 2
GT0, GT1, GT2 = (50, 50, 20, 10, 0), (150, 50, 20, 10, 0.5), \
    (50, 150, 30, 10, 0)
# GT1 slid 12 px along its long side: polygon IoU 80 / 320 = 0.25
P3 = (150 + 12 * math.cos(0.5), 50 + 12 * math.sin(0.5), 20, 10, 0.5)
TWIN0, TWIN1 = (100, 100, 20, 10, 0), (101, 100, 20, 10, 0)
IGNORED = (300, 300, 10, 10, 0)

IMAGES = [
    dict(gt_bboxes=np.array([GT0, GT1, GT2]), gt_labels=np.array([A, B, A]),
         pred_bboxes=np.array([GT0, GT2, (300, 300, 20, 10, 0), P3, GT0]),
         pred_scores=np.array([0.9, 0.8, 0.7, 0.6, 0.2]),
         pred_labels=np.array([A, B, A, B, A])),
    dict(gt_bboxes=np.array([TWIN0, TWIN1]), gt_labels=np.array([A, A]),
         ignored_bboxes=np.array([IGNORED]),
         pred_bboxes=np.array([TWIN0, IGNORED]),
         pred_scores=np.array([0.9, 0.9]), pred_labels=np.array([A, B])),
]

# Hand-worked (rows: GT A, B, background; columns: predicted A, B, bg):
#   image 1: P0 hits GT0 (A->A); P1 lands on GT2 with the wrong class (A->B);
#   P2 reaches nothing (bg->A); P3 reaches GT1 only at IoU 0.25 (bg->B);
#   P4 is below the score threshold; GT1 and GT2 have no true positive
#   (B->bg, A->bg).
#   image 2: the prediction reaches both twins (IoU 1 and 0.905): two A->A;
#   the one on the ignored box is not counted.
EXPECTED = np.array([[3, 1, 1],
                     [0, 0, 1],
                     [1, 1, 0]])


def test_hand_worked_ious_hold():
    assert _iou(P3, GT1) == pytest.approx(0.25)
    assert _iou(TWIN0, TWIN1) == pytest.approx(190 / 210)
    assert _iou(GT2, GT0) == 0.0


def test_matrix_equals_the_hand_count():
    matrix = rotated_confusion_matrix(IMAGES, num_classes=2, score_thr=0.3,
                                      tp_iou_thr=0.5)
    np.testing.assert_array_equal(matrix, EXPECTED)


def test_thresholds_move_the_counts():
    # at IoU 0.2 P3 reaches GT1 (0.25): B->B, and GT1 is no longer missed
    matrix = rotated_confusion_matrix(IMAGES, 2, 0.3, tp_iou_thr=0.2)
    assert matrix[B, B] == 1 and matrix[BG, B] == 0 and matrix[B, BG] == 0
    # score 0.1 lets P4 in: a second hit on GT0
    matrix = rotated_confusion_matrix(IMAGES, 2, score_thr=0.1)
    assert matrix[A, A] == 4
    # NMS at 0.5 removes nothing here (different boxes or classes) ...
    np.testing.assert_array_equal(
        rotated_confusion_matrix(IMAGES, 2, 0.3, nms_iou_thr=0.5), EXPECTED)


def test_labels_outside_the_classes_are_an_error():
    with pytest.raises(ValueError, match=r'image 0: label 1 outside'):
        rotated_confusion_matrix(IMAGES, num_classes=1)


def test_tool_writes_csv_and_picture(shared_data, repo_root, tmp_path):
    samples = []
    for image in IMAGES:
        # RotatedBoxes / tensors as tools/test.py --out dumps them
        samples.append(dict(
            gt_instances=dict(bboxes=torch.tensor(image['gt_bboxes']),
                              labels=torch.tensor(image['gt_labels']) * 0),
            ignored_instances=dict(bboxes=torch.tensor(
                image.get('ignored_bboxes', np.zeros((0, 5))))),
            pred_instances=dict(
                bboxes=torch.tensor(image['pred_bboxes']),
                scores=torch.tensor(image['pred_scores']),
                labels=torch.tensor(image['pred_labels']) * 0)))
    pkl = tmp_path / 'results.pkl'
    pkl.write_bytes(pickle.dumps(samples))
    config = ('configs/rotated_retinanet/'
              'rotated-retinanet-rbox-le90_r18_fpn_toy_hrsid.py')
    subprocess.run(
        [sys.executable, 'tools/analysis_tools/confusion_matrix.py', config,
         str(pkl), str(tmp_path / 'out')], cwd=repo_root, check=True,
        capture_output=True, timeout=300)
    rows = (tmp_path / 'out' / 'confusion_matrix.csv').read_text()
    # HRSID has one class ('ship'), so every label above became 0: P1 now
    # hits GT2, P2 and P3 stay on background, GT1 is missed; image 2 as
    # before.
    assert rows.splitlines() == ['gt \\ pred,ship,background',
                                 'ship,4,1', 'background,2,0']
    assert (tmp_path / 'out' / 'confusion_matrix.png').stat().st_size > 0
