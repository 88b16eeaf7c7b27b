"""Rotated NMS with exact polygon IoU.

mmcv 2.1's compiled ``nms_rotated`` shares the IoU routine of
``box_iou_rotated``, which can be far off for boxes with (nearly) parallel
sides on a common line (see :func:`~.rotated_iou.rbbox_overlaps`); its CPU
kernel also ignores the ``labels`` argument and compares all N^2 pairs.
:func:`nms_rotated_exact` has mmcv's ``nms_rotated`` signature: it computes
the exact IoU of the pairs whose circumscribed circles meet, then makes one
greedy pass. :func:`batched_rnms` applies it per class.

mmdet's heads call ``mmcv.ops.batched_nms(boxes, scores, labels, cfg.nms)``;
with 5-value boxes and ``nms=dict(type='nms_rotated', iou_threshold=...)``
that offsets the centres per class and calls mmcv's kernel, unless
``mmcv.ops.nms.nms_rotated`` is replaced by :func:`nms_rotated_exact`.
"""
from typing import Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from .rotated_iou import overlap_candidates, rbbox_overlaps


def nms_rotated_exact(dets: Tensor,
                      scores: Tensor,
                      iou_threshold: float,
                      labels: Optional[Tensor] = None,
                      clockwise: bool = True) -> Tuple[Tensor, Tensor]:
    """Greedy rotated NMS with exact IoU; drop-in for mmcv's
    ``nms_rotated``.

    Boxes are visited by decreasing score (ties keep input order); a box is
    suppressed when its IoU with a kept box (of the same label, if
    ``labels`` is given) is ``>= iou_threshold``.

    Args:
        dets (Tensor): (N, 5) boxes ``(cx, cy, w, h, t)``.
        scores (Tensor): (N, ).
        iou_threshold (float): IoU threshold.
        labels (Tensor, optional): (N, ) class of each box; boxes of
            different classes never suppress each other.
        clockwise (bool): False if ``t`` is counter-clockwise (negated
            before computing IoU). Defaults to True.

    Returns:
        Tuple[Tensor, Tensor]: kept ``(cx, cy, w, h, t, score)`` (K, 6) by
        decreasing score, and their indices (K, ).
    """
    boxes = dets if clockwise else dets * dets.new_tensor([1, 1, 1, 1, -1])
    order = scores.detach().argsort(descending=True, stable=True)
    sorted_boxes = boxes.detach()[order]
    sorted_labels = labels[order].cpu().numpy() if labels is not None \
        else None
    # IoU of every pair that can overlap (circumscribed circles meet),
    # then one greedy pass over the suppression lists
    num = len(order)
    first, second = overlap_candidates(sorted_boxes, sorted_boxes)
    later = first < second
    first, second = first[later], second[later]
    if sorted_labels is not None:
        same = torch.from_numpy(sorted_labels[first.cpu().numpy()] ==
                                sorted_labels[second.cpu().numpy()])
        same = same.to(first.device)
        first, second = first[same], second[same]
    ious = rbbox_overlaps(
        sorted_boxes[first], sorted_boxes[second], is_aligned=True)
    hit = ious >= iou_threshold
    first, second = first[hit].cpu().numpy(), second[hit].cpu().numpy()
    # first is sorted: suppression list of box i is second[bounds[i]:...]
    bounds = np.searchsorted(first, np.arange(num + 1))
    alive = np.ones(num, bool)
    kept = []
    for i in range(num):
        if alive[i]:
            kept.append(i)
            alive[second[bounds[i]:bounds[i + 1]]] = False
    keep = order[torch.as_tensor(kept, dtype=torch.long, device=order.device)]
    return torch.cat([dets[keep], scores[keep, None].to(dets)], dim=1), keep


def batched_rnms(
        boxes: Union[Tensor, 'RotatedBoxes'],  # noqa: F821
        scores: Tensor,
        idxs: Tensor,
        iou_threshold: float,
        max_num: int = -1) -> Tuple[Tensor, Tensor]:
    """Rotated NMS done independently per class (``idxs``).

    A box is suppressed by a higher-scoring box of the same class whose
    exact polygon IoU with it is ``>= iou_threshold``.

    Args:
        boxes (Tensor | RotatedBoxes): shape (N, 5), ``(cx, cy, w, h, t)``.
        scores (Tensor): shape (N, ).
        idxs (Tensor): class index of each box, shape (N, ).
        iou_threshold (float): IoU threshold.
        max_num (int): Keep at most this many boxes (highest scores);
            -1 keeps all. Defaults to -1.

    Returns:
        Tuple[Tensor, Tensor]: kept ``(cx, cy, w, h, t, score)`` of shape
        (K, 6) sorted by decreasing score, and their indices into the input
        (K, ).
    """
    boxes = boxes.tensor if hasattr(boxes, 'tensor') else boxes
    if boxes.dim() != 2 or boxes.size(-1) != 5:
        raise ValueError('batched_rnms expects boxes of shape (N, 5), got '
                         f'{tuple(boxes.shape)}.')
    if not (scores.shape == idxs.shape == boxes.shape[:1]):
        raise ValueError('scores and idxs must have shape (N, ) matching '
                         f'boxes; got {tuple(scores.shape)}, '
                         f'{tuple(idxs.shape)} for {boxes.size(0)} boxes.')
    _, keep = nms_rotated_exact(boxes, scores, iou_threshold, labels=idxs)
    if max_num > 0:
        keep = keep[:max_num]
    dets = torch.cat([boxes[keep], scores[keep, None].to(boxes)], dim=-1)
    return dets, keep
