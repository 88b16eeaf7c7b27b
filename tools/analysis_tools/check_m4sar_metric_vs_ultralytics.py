"""Developer check: M4SARMetric against the Ultralytics 8.3.8 OBB validator.

Not a test (Ultralytics is not a dependency of mmosar). Random rotated
ground truth and predictions are scored by ``M4SARMetric`` (in this
interpreter) and by the pieces of Ultralytics' ``OBBValidator`` that produce
the M4-SAR numbers (``_process_batch`` = ``batch_probiou`` +
``match_predictions``, the per-image statistics of ``update_metrics`` and
``OBBMetrics.process``), run in a second interpreter where ultralytics 8.3.8
is installed, for example::

    python3.11 -m venv /tmp/ultra
    /tmp/ultra/bin/pip install ultralytics==8.3.8 "numpy<2.4" torch torchvision
    python tools/analysis_tools/check_m4sar_metric_vs_ultralytics.py \
        --ultralytics-python /tmp/ultra/bin/python

Predictions are handed to Ultralytics sorted by score within each image, as
its NMS outputs them. The script prints the per-threshold class-mean AP of
both and their largest absolute difference, for several seeds, and the AP of
the hand-worked matching example of ``tests/test_evaluation/
test_m4sar_metric.py``.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

NUM_THRS = 10


def random_case(seed: int, num_images: int, num_classes: int) -> dict:
    """Random GT and jittered / random predictions, as flat numpy arrays."""
    rng = np.random.default_rng(seed)
    case = dict(num_classes=num_classes, images=[])
    for _ in range(num_images):
        num_gts = int(rng.integers(0, 9))
        gt_boxes = np.column_stack([
            rng.uniform(0, 512, (num_gts, 2)),
            rng.uniform(8, 60, (num_gts, 2)),
            rng.uniform(-np.pi / 2, np.pi / 2, num_gts)
        ])
        gt_labels = rng.integers(0, num_classes, num_gts)
        picks = rng.integers(0, max(num_gts, 1), int(rng.integers(0, 12)))
        if num_gts == 0:
            picks = picks[:0]
        near = gt_boxes[picks].copy()
        near[:, :2] += rng.normal(0, 4, (len(picks), 2))
        near[:, 2:4] *= 1 + rng.normal(0, 0.15, (len(picks), 2))
        near[:, 4] += rng.normal(0, 0.15, len(picks))
        near_labels = gt_labels[picks].copy()
        flip = rng.random(len(picks)) < 0.1  # some wrong classes
        near_labels[flip] = rng.integers(0, num_classes, flip.sum())
        num_far = int(rng.integers(0, 6))
        far = np.column_stack([
            rng.uniform(0, 512, (num_far, 2)),
            rng.uniform(8, 60, (num_far, 2)),
            rng.uniform(-np.pi / 2, np.pi / 2, num_far)
        ])
        pred_boxes = np.concatenate([near, far])
        pred_boxes[:, 2:4] = np.maximum(pred_boxes[:, 2:4], 1)
        pred_labels = np.concatenate(
            [near_labels, rng.integers(0, num_classes, num_far)])
        case['images'].append(
            dict(
                gt_boxes=gt_boxes.astype(np.float32),
                gt_labels=gt_labels,
                pred_boxes=pred_boxes.astype(np.float32),
                pred_scores=rng.random(len(pred_boxes)).astype(np.float32),
                pred_labels=pred_labels))
    return case


def hand_worked_case() -> dict:
    """The matching example of test_m4sar_metric.py (one class)."""
    square = [10., 10., 0.]
    gts = np.array([[100., 100., *square], [104., 100., *square]])
    preds = np.array([[97., 100., *square], [101., 100., *square]])
    return dict(
        num_classes=1,
        images=[
            dict(
                gt_boxes=gts.astype(np.float32),
                gt_labels=np.zeros(2, np.int64),
                pred_boxes=preds.astype(np.float32),
                pred_scores=np.array([0.9, 0.8], np.float32),
                pred_labels=np.zeros(2, np.int64))
        ])


def mmosar_per_threshold(case: dict) -> list:
    """Class-mean AP per threshold from M4SARMetric."""
    import torch

    from mmosar.evaluation.metrics import M4SARMetric
    metric = M4SARMetric()
    metric.dataset_meta = dict(
        classes=[f'c{i}' for i in range(case['num_classes'])])
    for img_id, img in enumerate(case['images']):
        metric.process({}, [
            dict(
                img_id=img_id,
                gt_instances=dict(
                    bboxes=torch.from_numpy(img['gt_boxes']),
                    labels=torch.from_numpy(img['gt_labels'])),
                pred_instances=dict(
                    bboxes=torch.from_numpy(img['pred_boxes']),
                    scores=torch.from_numpy(img['pred_scores']),
                    labels=torch.from_numpy(img['pred_labels'])))
        ])
    values = metric.compute_metrics(metric.results)
    return [values[metric._threshold_key(t)] for t in metric.iou_thrs]


def ultralytics_per_threshold(case: dict) -> list:
    """Class-mean AP per threshold from Ultralytics' OBB validator pieces."""
    import torch
    from ultralytics.models.yolo.obb.val import OBBValidator
    from ultralytics.utils.metrics import OBBMetrics

    validator = OBBValidator.__new__(OBBValidator)  # no model / data setup
    validator.iouv = torch.linspace(0.5, 0.95, NUM_THRS)
    stats = dict(tp=[], conf=[], pred_cls=[], target_cls=[])
    for img in case['images']:
        order = np.argsort(-img['pred_scores'], kind='stable')
        boxes = torch.from_numpy(img['pred_boxes'][order])
        # detections (x, y, w, h, conf, cls, angle) as after the OBB NMS
        detections = torch.cat([
            boxes[:, :4],
            torch.from_numpy(img['pred_scores'][order])[:, None],
            torch.from_numpy(img['pred_labels'][order]).float()[:, None],
            boxes[:, 4:]
        ], dim=1)
        gt_cls = torch.from_numpy(img['gt_labels']).float()
        # update_metrics: an image without predictions adds its labels only
        # when it has labels; tp stays False for an image without labels.
        if len(detections) == 0 and len(gt_cls) == 0:
            continue
        tp = torch.zeros(len(detections), NUM_THRS, dtype=torch.bool)
        if len(detections) and len(gt_cls):
            tp = validator._process_batch(
                detections, torch.from_numpy(img['gt_boxes']), gt_cls)
        stats['tp'].append(tp)
        stats['conf'].append(detections[:, 4])
        stats['pred_cls'].append(detections[:, 5])
        stats['target_cls'].append(gt_cls)
    stats = {k: torch.cat(v).numpy() for k, v in stats.items()}
    metrics = OBBMetrics(plot=False, names={
        i: f'c{i}'
        for i in range(case['num_classes'])
    })
    if stats['tp'].any():  # get_stats skips process() otherwise
        metrics.process(**stats)
    all_ap = metrics.box.all_ap
    return (all_ap.mean(0).tolist()
            if len(all_ap) else [0.] * NUM_THRS)


def to_jsonable(case: dict) -> dict:
    return dict(
        num_classes=case['num_classes'],
        images=[{k: v.tolist()
                 for k, v in img.items()} for img in case['images']])


def from_jsonable(case: dict) -> dict:
    dtypes = dict(
        gt_boxes=np.float32,
        gt_labels=np.int64,
        pred_boxes=np.float32,
        pred_scores=np.float32,
        pred_labels=np.int64)
    images = []
    for img in case['images']:
        arrays = {k: np.asarray(v, dtypes[k]) for k, v in img.items()}
        arrays['gt_boxes'] = arrays['gt_boxes'].reshape(-1, 5)
        arrays['pred_boxes'] = arrays['pred_boxes'].reshape(-1, 5)
        images.append(arrays)
    return dict(num_classes=case['num_classes'], images=images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--ultralytics-python', default=sys.executable,
        help='interpreter with ultralytics==8.3.8 installed')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3])
    parser.add_argument('--num-images', type=int, default=60)
    parser.add_argument('--num-classes', type=int, default=6)
    parser.add_argument(
        '--ultralytics-side', metavar='JSON', help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.ultralytics_side:  # run inside the Ultralytics interpreter
        with open(args.ultralytics_side) as f:
            cases = json.load(f)
        print(json.dumps([
            ultralytics_per_threshold(from_jsonable(case)) for case in cases
        ]))
        return

    names = [f'seed {s}' for s in args.seeds] + ['hand-worked example']
    cases = [
        random_case(s, args.num_images, args.num_classes) for s in args.seeds
    ] + [hand_worked_case()]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'cases.json')
        with open(path, 'w') as f:
            json.dump([to_jsonable(c) for c in cases], f)
        out = subprocess.run([
            args.ultralytics_python, os.path.abspath(__file__),
            '--ultralytics-side', path
        ],
                             check=True,
                             capture_output=True,
                             text=True)
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    from mmengine.logging import MMLogger
    MMLogger.get_instance('m4sar_check', log_level='WARNING')  # no tables
    worst = 0.
    for name, case, their_aps in zip(names, cases, theirs):
        ours = np.array(mmosar_per_threshold(case))
        their_aps = np.array(their_aps)
        diff = np.abs(ours - their_aps).max()
        worst = max(worst, diff)
        num_preds = sum(len(img['pred_labels']) for img in case['images'])
        num_gts = sum(len(img['gt_labels']) for img in case['images'])
        print(f'{name}: {len(case["images"])} images, {num_gts} GT, '
              f'{num_preds} predictions')
        for label, aps in (('mmosar', ours), ('ultralytics', their_aps)):
            print(f'  {label:12s} AP50 {aps[0]:.6f}  AP75 {aps[5]:.6f}  '
                  f'mAP50:95 {aps.mean():.6f}')
        print(f'  max |difference| over the 10 thresholds: {diff:.3g}')
    print(f'largest difference over all cases: {worst:.3g}')


if __name__ == '__main__':
    main()
