"""Time DOTAMetric and M4SARMetric on a large synthetic test set.

Default: 500 images x 15 classes x 200 detections per class per image
(1.5 M detections) with 1-10 ground-truth boxes per class per image, fixed
seed. A third of the detections are jittered copies of ground-truth boxes,
the rest are random. Prints the time of ``process`` (tensor -> numpy
bookkeeping) and of ``compute_metrics`` (IoU, matching, AP) for each metric.

Targets (2 CPU cores): DOTAMetric < 30 s, M4SARMetric < 60 s in total.

Example::

    python tools/analysis_tools/benchmark_metric.py
"""
import argparse
import time
from typing import List

import numpy as np
import torch
from mmengine.logging import MMLogger
from mmengine.utils import ProgressBar

from mmosar.evaluation.metrics import DOTAMetric, M4SARMetric


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--num-images', type=int, default=500)
    parser.add_argument('--num-classes', type=int, default=15)
    parser.add_argument(
        '--dets-per-class', type=int, default=200,
        help='detections per class per image')
    parser.add_argument(
        '--max-gts-per-class', type=int, default=10,
        help='each class gets 1..this many GT boxes per image')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--threads',
        type=int,
        default=1,
        help='torch intra-op threads (the IoU batches of one image are small: '
        'extra threads mostly spin, see configs/rotated_retinanet/README.md)')
    parser.add_argument(
        '--metrics', nargs='+', default=['DOTAMetric', 'M4SARMetric'],
        choices=['DOTAMetric', 'M4SARMetric'])
    return parser.parse_args()


def random_rboxes(num: int, gen: torch.Generator,
                  img_size: float = 1024.) -> torch.Tensor:
    """Random (cx, cy, w, h, t) boxes inside an image, shape (num, 5)."""
    centres = torch.rand(num, 2, generator=gen) * img_size
    sizes = 8 + torch.rand(num, 2, generator=gen) * 72
    angles = (torch.rand(num, 1, generator=gen) - 0.5) * torch.pi
    return torch.cat([centres, sizes, angles], dim=1)


def make_samples(args: argparse.Namespace) -> List[dict]:
    """Synthetic data samples (dicts as the mmengine Evaluator passes)."""
    gen = torch.Generator().manual_seed(args.seed)
    samples = []
    for img in range(args.num_images):
        gt_counts = torch.randint(
            1, args.max_gts_per_class + 1, (args.num_classes, ),
            generator=gen)
        gt_labels = torch.repeat_interleave(
            torch.arange(args.num_classes), gt_counts)
        gt_bboxes = random_rboxes(len(gt_labels), gen)
        pred_boxes, pred_labels = [], []
        for cls in range(args.num_classes):
            cls_gts = gt_bboxes[gt_labels == cls]
            num_near = args.dets_per_class // 3
            picks = torch.randint(
                0, len(cls_gts), (num_near, ), generator=gen)
            near = cls_gts[picks].clone()
            near[:, :2] += torch.randn(num_near, 2, generator=gen) * 4
            near[:, 2:4] *= 1 + torch.randn(num_near, 2, generator=gen) * 0.1
            near[:, 4] += torch.randn(num_near, generator=gen) * 0.1
            far = random_rboxes(args.dets_per_class - num_near, gen)
            pred_boxes.append(torch.cat([near, far]))
            pred_labels.append(
                torch.full((args.dets_per_class, ), cls, dtype=torch.long))
        pred_bboxes = torch.cat(pred_boxes)
        pred_bboxes[:, 2:4] = pred_bboxes[:, 2:4].clamp(min=1)
        samples.append(
            dict(
                img_id=f'img_{img:04d}',
                gt_instances=dict(bboxes=gt_bboxes, labels=gt_labels),
                ignored_instances=dict(
                    bboxes=torch.zeros(0, 5),
                    labels=torch.zeros(0, dtype=torch.long)),
                pred_instances=dict(
                    bboxes=pred_bboxes,
                    scores=torch.rand(len(pred_bboxes), generator=gen),
                    labels=torch.cat(pred_labels))))
    return samples


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    logger = MMLogger.get_instance('benchmark_metric')
    logger.info(f'building {args.num_images} images x {args.num_classes} '
                f'classes x {args.dets_per_class} detections per class')
    samples = make_samples(args)
    classes = [f'class_{i}' for i in range(args.num_classes)]
    figures = {}
    for name in args.metrics:
        metric = dict(DOTAMetric=DOTAMetric, M4SARMetric=M4SARMetric)[name]()
        metric.dataset_meta = dict(classes=classes)
        logger.info(f'{name}: process')
        clocks = [(time.perf_counter(), time.process_time())]
        progress = ProgressBar(len(samples))
        for sample in samples:
            metric.process({}, [sample])
            progress.update()
        clocks.append((time.perf_counter(), time.process_time()))
        values = metric.compute_metrics(metric.results)
        clocks.append((time.perf_counter(), time.process_time()))
        wall, cpu = np.diff(np.array(clocks), axis=0).T
        figures[name] = (wall, cpu, values)
    print()
    print(f'{args.num_images} images, {args.num_classes} classes, '
          f'{args.dets_per_class} detections per class per image, '
          f'{torch.get_num_threads()} torch threads')
    print('(wall time; CPU time of this process in brackets: on a shared '
          'machine the wall time also counts waiting for a core)')
    for name, (wall, cpu, values) in figures.items():
        shown = {k: round(v, 4) for k, v in values.items()
                 if k in ('AP50', 'AP75', 'mAP')}
        print(f'{name}: process {wall[0]:.1f} s [{cpu[0]:.1f}] + '
              f'compute_metrics {wall[1]:.1f} s [{cpu[1]:.1f}] = '
              f'{wall.sum():.1f} s [{cpu.sum():.1f}]  {shown}')


if __name__ == '__main__':
    main()
