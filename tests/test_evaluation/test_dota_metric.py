"""DOTAMetric: hand-worked VOC APs, patch merging and Task1 files.

All boxes of the hand-worked example are axis-aligned 10 x 10 squares, so the
polygon IoU of two of them shifted by ``dx`` along x is ``(10 - dx) / (10 +
dx)``: dx = 1 -> 9/11 = 0.818, dx = 2 -> 8/12 = 0.667, dx = 4 -> 6/14 =
0.429, far apart -> 0.
"""
import zipfile

import numpy as np
import pytest
import torch

from mmosar.evaluation.functional.rotated_det_ap import match_ranked_detections
from mmosar.evaluation.metrics import DOTAMetric
from mmosar.registry import METRICS
from mmosar.structures.bbox import RotatedBoxes

CLASSES = ('ship', 'plane', 'car')
SHIP, PLANE, CAR = range(3)


def squares(centres):
    """10 x 10 axis-aligned boxes at the given (cx, cy), shape (N, 5)."""
    boxes = torch.zeros(len(centres), 5)
    boxes[:, :2] = torch.tensor(centres, dtype=torch.float32).view(-1, 2)
    boxes[:, 2:4] = 10
    return boxes


def sample(img_id, gts=(), gt_labels=(), ignored=(), ignored_labels=(),
           preds=(), scores=(), labels=()):
    return dict(
        img_id=img_id,
        gt_instances=dict(
            bboxes=RotatedBoxes(squares(gts)),
            labels=torch.tensor(gt_labels, dtype=torch.long)),
        ignored_instances=dict(
            bboxes=squares(ignored),
            labels=torch.tensor(ignored_labels, dtype=torch.long)),
        pred_instances=dict(
            bboxes=squares(preds),
            scores=torch.tensor(scores, dtype=torch.float32),
            labels=torch.tensor(labels, dtype=torch.long)))


def hand_worked_samples():
    """Image A (ships, one ignored) and image B (planes, a GT-less car).

    ship, 2 GT (g1 at (50, 50), g2 at (100, 100)) + ignored gi at (200, 200):
      d1 0.9 on g1 (IoU 1)          -> TP
      d2 0.8 g1 shifted 1 (0.818)   -> FP, g1 already taken
      d3 0.7 on gi                  -> neither (ignored)
      d4 0.6 far away               -> FP
      d5 0.5 g2 shifted 2 (0.667)   -> TP at 0.5, FP at 0.75
    plane, 1 GT at (20, 20):
      0.95 shifted 4 (0.429)        -> FP ; 0.3 exact -> TP
    car: a detection (0.99) but no GT -> left out of the mean.
    The predictions are given out of score order on purpose.
    """
    image_a = sample(
        'A',
        gts=[(50, 50), (100, 100)],
        gt_labels=[SHIP, SHIP],
        ignored=[(200, 200)],
        ignored_labels=[SHIP],
        preds=[(300, 300), (51, 50), (102, 100), (50, 50), (200, 200)],
        scores=[0.6, 0.8, 0.5, 0.9, 0.7],
        labels=[SHIP] * 5)
    image_b = sample(
        'B',
        gts=[(20, 20)],
        gt_labels=[PLANE],
        preds=[(20, 20), (24, 20), (400, 400)],
        scores=[0.3, 0.95, 0.99],
        labels=[PLANE, PLANE, CAR])
    image_c = sample('C')  # no GT, no prediction
    return [image_a, image_b, image_c]


def evaluate(metric, samples):
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, samples)
    return metric.evaluate(len(samples))


# ship at IoU 0.5, ranked counted detections d1 d2 d4 d5:
#   TP F F T -> recall 1/2 1/2 1/2 1, precision 1 1/2 1/3 1/2
#   11 points: levels 0..0.5 (6) reach precision 1, 0.6..1 (5) reach 1/2
#              -> (6 + 2.5) / 11 = 8.5 / 11
#   area: envelope 1 on (0, 1/2], 1/2 on (1/2, 1] -> 0.5 + 0.25 = 0.75
# plane at 0.5 and 0.75: F T -> recall 0 1, precision 0 1/2
#   11 points: every level reaches precision 1/2 -> 0.5 ; area: 0.5
# ship at IoU 0.75: T F F F -> recall 1/2 x4, precision 1 1/2 1/3 1/4
#   11 points: 6 levels reach 1 -> 6 / 11 ; area: 0.5
SHIP_11PT_50, SHIP_AREA_50 = 8.5 / 11, 0.75
SHIP_11PT_75, SHIP_AREA_75 = 6 / 11, 0.5
PLANE_AP = 0.5


@pytest.mark.parametrize('eval_mode, ship_ap50', [('11points', SHIP_11PT_50),
                                                  ('area', SHIP_AREA_50)])
def test_hand_worked_ap50(eval_mode, ship_ap50):
    metric = DOTAMetric(eval_mode=eval_mode)
    results = evaluate(metric, hand_worked_samples())
    expected = (ship_ap50 + PLANE_AP) / 2  # car has no GT: not in the mean
    assert results['dota/AP50'] == pytest.approx(expected)
    assert results['dota/mAP'] == pytest.approx(expected)


@pytest.mark.parametrize('eval_mode, ship_aps', [
    ('11points', (SHIP_11PT_50, SHIP_11PT_75)),
    ('area', (SHIP_AREA_50, SHIP_AREA_75)),
])
def test_hand_worked_two_thresholds(eval_mode, ship_aps):
    metric = METRICS.build(
        dict(type='DOTAMetric', iou_thrs=[0.5, 0.75], eval_mode=eval_mode))
    results = evaluate(metric, hand_worked_samples())
    ap50, ap75 = [(ship + PLANE_AP) / 2 for ship in ship_aps]
    assert results['dota/AP50'] == pytest.approx(ap50)
    assert results['dota/AP75'] == pytest.approx(ap75)
    assert results['dota/mAP'] == pytest.approx((ap50 + ap75) / 2)


def test_class_without_detections_counts_zero():
    samples = hand_worked_samples()
    samples.append(sample('D', gts=[(60, 60)], gt_labels=[CAR]))
    results = evaluate(DOTAMetric(), samples)
    assert results['dota/AP50'] == pytest.approx(
        (SHIP_11PT_50 + PLANE_AP + 0) / 3)


def sequential_voc_match(ious, ignored, thr):
    """Reference: the VOC loop over score-ranked detections."""
    taken = np.zeros(ious.shape[1], bool)
    tp = np.zeros(len(ious), bool)
    counted = np.ones(len(ious), bool)
    for i, row in enumerate(ious):
        best = int(np.argmax(row))
        if row[best] < thr:
            continue
        if ignored[best]:
            counted[i] = False
        elif not taken[best]:
            taken[best] = tp[i] = True
    return tp, counted


def test_matching_equals_sequential_voc_loop():
    rng = np.random.default_rng(0)
    thrs = [0.3, 0.5, 0.7]
    for _ in range(200):
        num_dets, num_gts = rng.integers(0, 12), rng.integers(0, 6)
        ious = rng.random((num_dets, num_gts)) * (
            rng.random((num_dets, num_gts)) < 0.6)
        ignored = rng.random(num_gts) < 0.3
        is_tp, is_counted = match_ranked_detections(ious, ignored, thrs)
        for t, thr in enumerate(thrs):
            if num_gts == 0:
                ref_tp = np.zeros(num_dets, bool)
                ref_counted = np.ones(num_dets, bool)
            else:
                ref_tp, ref_counted = sequential_voc_match(ious, ignored, thr)
            np.testing.assert_array_equal(is_tp[:, t], ref_tp)
            np.testing.assert_array_equal(is_counted[:, t], ref_counted)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match='format_only'):
        DOTAMetric(merge_patches=True)
    with pytest.raises(ValueError, match='outfile_prefix'):
        DOTAMetric(format_only=True)
    with pytest.raises(ValueError, match='eval_mode'):
        DOTAMetric(eval_mode='07')
    metric = DOTAMetric()
    bad = sample('P9', preds=[(1, 1)], scores=[0.5], labels=[0])
    bad['pred_instances']['bboxes'] = torch.zeros(1, 8)
    with pytest.raises(ValueError, match="'P9'.*pred_instances"):
        metric.process({}, [bad])
    merging = DOTAMetric(
        format_only=True, merge_patches=True, outfile_prefix='unused')
    with pytest.raises(ValueError, match='P0001_1024_0_0'):
        merging.merge_patch_predictions([
            dict(
                img_id='P0001_1024_0_0',
                pred_bboxes=np.zeros((0, 5), np.float32),
                pred_scores=np.zeros(0),
                pred_labels=np.zeros(0, np.int64))
        ])


def rbox_rows(rows):
    return np.asarray(rows, dtype=np.float32).reshape(-1, 5)


def patch(img_id, boxes, scores, labels):
    return dict(
        img_id=img_id,
        pred_instances=dict(
            bboxes=torch.from_numpy(rbox_rows(boxes)),
            scores=torch.tensor(scores),
            labels=torch.tensor(labels)))


def test_merge_patches_restores_original_boxes():
    # Boxes of original image P0007 (cx, cy, w, h, t), score, label.
    b1 = ([100., 100., 40., 20., 0.3], 0.9, 0)  # patch x=0 only
    b2 = ([900., 150., 30., 30., -0.5], 0.8, 1)  # in both patches
    b3 = ([1500., 600., 50., 25., 1.0], 0.6, 0)  # patch x=824 only
    b4 = ([900., 150., 30., 30., -0.5], 0.5, 0)  # b2's place, other class

    def shifted(box, dx, dy):
        return [box[0] - dx, box[1] - dy] + box[2:]

    patches = [
        patch('P0007__1024__0___0', [b1[0], b2[0]], [0.9, 0.8], [0, 1]),
        patch('P0007__1024__824___0',
              [shifted(b2[0], 824, 0),
               shifted(b3[0], 824, 0),
               shifted(b4[0], 824, 0)], [0.7, 0.6, 0.5], [1, 0, 0]),
        patch('P0008__1024__0___200', [[10., 20., 8., 8., 0.]], [0.4], [1]),
    ]
    metric = DOTAMetric(
        format_only=True, merge_patches=True, outfile_prefix='unused')
    metric.process({}, patches)
    merged = metric.merge_patch_predictions(metric.results)
    assert [m['img_id'] for m in merged] == ['P0007', 'P0008']
    p7 = merged[0]
    expected = [b1, b2, b3, b4]  # the duplicate of b2 (0.7) is suppressed
    np.testing.assert_allclose(p7['pred_bboxes'],
                               rbox_rows([b[0] for b in expected]),
                               atol=1e-4)
    np.testing.assert_allclose(p7['pred_scores'], [b[1] for b in expected])
    np.testing.assert_array_equal(p7['pred_labels'], [b[2] for b in expected])
    np.testing.assert_allclose(merged[1]['pred_bboxes'],
                               rbox_rows([10., 220., 8., 8., 0.]))


def read_task1(zip_path):
    with zipfile.ZipFile(zip_path) as archive:
        return {
            name: archive.read(name).decode().splitlines()
            for name in archive.namelist()
        }


def corner_set(values):
    pts = np.asarray(values, float).reshape(4, 2)
    return sorted(map(tuple, np.round(pts, 2)))


def test_task1_zip_content(tmp_path):
    prefix = tmp_path / 'submission'
    metric = DOTAMetric(format_only=True, outfile_prefix=str(prefix))
    metric.dataset_meta = dict(classes=('ship', 'plane'))
    ship = torch.tensor([[50., 60., 20., 10., 0.]])
    plane = torch.tensor([[100., 100., 20., 10., np.pi / 2]])
    metric.process({}, [
        dict(
            img_id='P0001',
            gt_instances=dict(bboxes=torch.zeros(0, 5), labels=[]),
            pred_instances=dict(
                bboxes=torch.cat([ship, plane]),
                scores=torch.tensor([0.9, 0.5]),
                labels=torch.tensor([0, 1])))
    ])
    assert metric.evaluate(1) == {}
    files = read_task1(prefix / 'submission.zip')
    assert sorted(files) == ['Task1_plane.txt', 'Task1_ship.txt']
    (ship_line, ), (plane_line, ) = files['Task1_ship.txt'], files[
        'Task1_plane.txt']
    ship_fields, plane_fields = ship_line.split(), plane_line.split()
    assert ship_fields[:2] == ['P0001', '0.9000']
    assert plane_fields[:2] == ['P0001', '0.5000']
    # 20 x 10 box at (50, 60): x 40..60, y 55..65
    assert corner_set(ship_fields[2:]) == corner_set(
        [40, 55, 60, 55, 60, 65, 40, 65])
    # the same box turned by 90 degrees at (100, 100): x 95..105, y 90..110
    assert corner_set(plane_fields[2:]) == corner_set(
        [95, 90, 105, 90, 105, 110, 95, 110])


def test_merge_patches_writes_whole_image_ids(tmp_path):
    prefix = tmp_path / 'merged'
    metric = DOTAMetric(
        format_only=True, merge_patches=True, outfile_prefix=str(prefix))
    metric.dataset_meta = dict(classes=('ship', ))
    for x, score in ((0, 0.9), (824, 0.7)):
        box = torch.tensor([[900. - x, 150., 30., 30., 0.]])
        metric.process({}, [
            dict(
                img_id=f'P0003__1024__{x}___0',
                pred_instances=dict(
                    bboxes=box,
                    scores=torch.tensor([score]),
                    labels=torch.tensor([0])))
        ])
    metric.evaluate(2)
    (line, ) = read_task1(prefix / 'merged.zip')['Task1_ship.txt']
    fields = line.split()
    assert fields[:2] == ['P0003', '0.9000']
    assert corner_set(fields[2:]) == corner_set(
        [885, 135, 915, 135, 915, 165, 885, 165])


def test_same_class_ious_equal_shapely():
    """The per-image IoU (circle pre-filter + one aligned call) against
    shapely polygons, 0 across classes."""
    from shapely.geometry import Polygon

    def polygon(box):
        cx, cy, w, h, t = box
        axes = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
        signs = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) / 2
        return Polygon([cx, cy] + (signs * [w, h]) @ axes)

    rng = np.random.default_rng(3)

    def boxes(num):
        return np.column_stack([
            rng.uniform(0, 60, (num, 2)),
            rng.uniform(4, 30, (num, 2)),
            rng.uniform(-np.pi, np.pi, num)
        ]).astype(np.float32)

    preds, gts = boxes(40), boxes(12)
    pred_labels, gt_labels = rng.integers(0, 2, 40), rng.integers(0, 2, 12)
    ious = DOTAMetric()._same_class_ious(preds, pred_labels, gts, gt_labels)
    for i, j in np.ndindex(ious.shape):
        if pred_labels[i] != gt_labels[j]:
            assert ious[i, j] == 0
            continue
        a, b = polygon(preds[i]), polygon(gts[j])
        expected = a.intersection(b).area / a.union(b).area
        assert ious[i, j] == pytest.approx(expected, abs=1e-4)


def test_det_data_sample_input():
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    samples = []
    for raw in hand_worked_samples():
        data_sample = DetDataSample(metainfo=dict(img_id=raw['img_id']))
        for key in ('gt_instances', 'ignored_instances', 'pred_instances'):
            setattr(data_sample, key, InstanceData(**raw[key]))
        samples.append(data_sample)
    results = evaluate(DOTAMetric(), samples)
    assert results['dota/AP50'] == pytest.approx((SHIP_11PT_50 + PLANE_AP) / 2)
