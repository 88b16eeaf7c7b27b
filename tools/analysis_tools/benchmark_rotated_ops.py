"""Time and check mmosar's rotated IoU / NMS against mmcv's raw kernels.

Reports, for random boxes spread over an image, the wall time of
``rbbox_overlaps`` vs ``mmcv.ops.box_iou_rotated`` and of ``batched_rnms``
vs ``mmcv.ops.nms_rotated``, and the largest IoU error of mmcv's kernel on
boxes sliding along their own sides (shared edge lines) against shapely.

Example::

    python tools/analysis_tools/benchmark_rotated_ops.py --num 2000
"""
import argparse
import time

import numpy as np
import torch
from mmcv.ops import box_iou_rotated, nms_rotated
from shapely.geometry import Polygon

from mmosar.structures.bbox import batched_rnms, rbbox_overlaps, rbox2corners


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num', type=int, default=2000, help='boxes per set')
    parser.add_argument(
        '--image-size', type=float, default=1024, help='image side (px)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def random_boxes(num: int, size: float, gen: torch.Generator) -> torch.Tensor:
    scale = torch.tensor([size, size, 60, 60, 2 * np.pi])
    boxes = torch.rand(num, 5, generator=gen) * scale
    boxes[:, 2:4] += 4
    return boxes


def timed(fn, device: str):
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def shapely_iou(box1: torch.Tensor, box2: torch.Tensor) -> float:
    p1 = Polygon(rbox2corners(box1.double()).numpy())
    p2 = Polygon(rbox2corners(box2.double()).numpy())
    inter = p1.intersection(p2).area
    return inter / (p1.area + p2.area - inter)


def main() -> None:
    args = parse_args()
    gen = torch.Generator().manual_seed(args.seed)
    boxes1 = random_boxes(args.num, args.image_size, gen).to(args.device)
    boxes2 = random_boxes(args.num, args.image_size, gen).to(args.device)

    ours, t_ours = timed(lambda: rbbox_overlaps(boxes1, boxes2), args.device)
    raw, t_raw = timed(lambda: box_iou_rotated(boxes1, boxes2), args.device)
    print(f'IoU {args.num}x{args.num}: rbbox_overlaps {t_ours:.3f} s, '
          f'mmcv box_iou_rotated {t_raw:.3f} s, '
          f'max |diff| {float((ours - raw).abs().max()):.2e}')

    # duplicates of each object, as a detector outputs before NMS
    objects = boxes1[:args.num // 3]
    dets = objects.repeat(3, 1)
    dets[:, :2] += torch.randn(len(dets), 2, generator=gen).to(dets) * 2
    dets[:, 4] += torch.randn(len(dets), generator=gen).to(dets) * 0.05
    scores = torch.rand(len(dets), generator=gen).to(dets)
    labels = torch.zeros(len(dets), dtype=torch.long, device=dets.device)
    (_, keep), t_ours = timed(lambda: batched_rnms(dets, scores, labels, 0.1),
                              args.device)
    (_, keep_raw), t_raw = timed(lambda: nms_rotated(dets, scores, 0.1),
                                 args.device)
    same = set(keep.tolist()) == set(keep_raw.tolist())
    print(f'NMS of {len(dets)} boxes: batched_rnms {t_ours:.3f} s '
          f'({len(keep)} kept), mmcv nms_rotated {t_raw:.3f} s '
          f'({len(keep_raw)} kept), same boxes kept: {same}')

    # boxes sliding along their own w side
    base = boxes1[:300].cpu()
    shift = torch.rand(300, generator=gen) * base[:, 2]
    sliding = base.clone()
    sliding[:, 0] += shift * torch.cos(base[:, 4])
    sliding[:, 1] += shift * torch.sin(base[:, 4])
    reference = torch.tensor(
        [shapely_iou(a, b) for a, b in zip(base, sliding)])
    raw = box_iou_rotated(base, sliding, aligned=True)
    ours = rbbox_overlaps(base, sliding, is_aligned=True)
    print('boxes sliding along their sides (300 pairs), max |IoU error| vs '
          f'shapely: mmcv {float((raw - reference).abs().max()):.3f}, '
          f'rbbox_overlaps {float((ours - reference).abs().max()):.2e}')


if __name__ == '__main__':
    main()
