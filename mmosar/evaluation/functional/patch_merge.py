"""Merging detections on image patches back into the original images.

Patches written by ``tools/data/dota/split.py`` are named
``{ori}__{size}__{x}___{y}``: the original image id, the window size and the
window's top-left corner in the original image. Merging translates every
patch's boxes by ``(x, y)`` and runs rotated NMS per class over all the boxes
of one original image.
"""
import re
from typing import List, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from mmosar.structures.bbox import batched_rnms, hbox2rbox, qbox2rbox

ArrayLike = Union[Tensor, np.ndarray]

_PATCH_NAME = re.compile(
    r'^(?P<ori>.+?)__(?P<size>\d+(?:\.\d+)?)__(?P<x>\d+)___(?P<y>\d+)$')


def format_patch_name(ori_id: str, size: int, x: int, y: int) -> str:
    """Patch id ``{ori_id}__{size}__{x}___{y}``."""
    return f'{ori_id}__{int(size)}__{int(x)}___{int(y)}'


def parse_patch_name(name: str) -> Tuple[str, Union[int, float], int, int]:
    """Split a patch id into ``(ori_id, size, x, y)``.

    Args:
        name: ``{ori}__{size}__{x}___{y}``, optionally with a file extension.

    Returns:
        The original image id, the window size (int; float for the
        DOTA-devkit style rate such as ``0.5``) and the window's top-left
        corner.

    Raises:
        ValueError: If the name does not have that form.
    """
    stem = re.sub(r'\.[A-Za-z]+$', '', str(name))
    match = _PATCH_NAME.match(stem)
    if match is None:
        raise ValueError(
            f'{name!r} is not a patch name of the form '
            '"{ori}__{size}__{x}___{y}" (e.g. "P0001__1024__824___0"); '
            'only images produced by the split tool can be merged')
    size = match['size']
    size = float(size) if '.' in size else int(size)
    return match['ori'], size, int(match['x']), int(match['y'])


def translate_boxes(boxes: Tensor, x: float, y: float) -> Tensor:
    """Shift horizontal ``(N, 4)``, rotated ``(N, 5)`` or quadrilateral
    ``(N, 8)`` boxes by ``(x, y)``."""
    shifted = boxes.clone()
    if boxes.size(-1) == 5:
        shifted[:, 0] += x
        shifted[:, 1] += y
    elif boxes.size(-1) in (4, 8):
        shifted[:, 0::2] += x
        shifted[:, 1::2] += y
    else:
        raise ValueError('boxes must be horizontal (N, 4), rotated (N, 5) '
                         f'or quadrilateral (N, 8), got {tuple(boxes.shape)}')
    return shifted


def _boxes_for_nms(boxes: Tensor) -> Tensor:
    """Rotated boxes on which to compute the NMS overlaps."""
    if boxes.size(-1) == 4:
        return hbox2rbox(boxes)
    if boxes.size(-1) == 8:
        return qbox2rbox(boxes)
    return boxes


def merge_boxes_by_nms(boxes: Sequence[ArrayLike],
                       scores: Sequence[ArrayLike],
                       labels: Sequence[ArrayLike],
                       offsets: Sequence[Tuple[float, float]],
                       iou_thr: float = 0.1) -> Tuple[Tensor, Tensor, Tensor]:
    """Merge the detections of several patches of one image.

    Args:
        boxes: Per patch, ``(N_i, 5)`` rboxes, ``(N_i, 8)`` qboxes or
            ``(N_i, 4)`` hboxes in patch coordinates.
        scores: Per patch, ``(N_i,)`` scores.
        labels: Per patch, ``(N_i,)`` class indices.
        offsets: Per patch, the ``(x, y)`` of its top-left corner in the
            image.
        iou_thr: Rotated-NMS IoU threshold, applied per class. Quadrilaterals
            are compared through their minimum-area rectangles, horizontal
            boxes as rotated boxes of angle 0.

    Returns:
        ``(boxes (K, 4|5|8), scores (K,), labels (K,))`` in image coordinates,
        sorted by decreasing score.
    """
    if not (len(boxes) == len(scores) == len(labels) == len(offsets)):
        raise ValueError('boxes, scores, labels and offsets must have one '
                         'entry per patch')
    box_dims = {int(b.shape[-1]) for b in boxes if len(b)}
    if len(box_dims) > 1:
        raise ValueError(f'patches mix box dimensions {sorted(box_dims)}')
    box_dim = box_dims.pop() if box_dims else 5
    if not boxes or not any(len(b) for b in boxes):
        return (torch.zeros((0, box_dim)), torch.zeros(
            (0, )), torch.zeros((0, ), dtype=torch.long))
    all_boxes = torch.cat([
        translate_boxes(
            torch.as_tensor(b, dtype=torch.float32).reshape(-1, box_dim),
            float(x), float(y)) for b, (x, y) in zip(boxes, offsets)
    ])
    all_scores = torch.cat(
        [torch.as_tensor(s, dtype=torch.float32).reshape(-1) for s in scores])
    all_labels = torch.cat(
        [torch.as_tensor(lb, dtype=torch.long).reshape(-1) for lb in labels])
    _, keep = batched_rnms(
        _boxes_for_nms(all_boxes), all_scores, all_labels, iou_thr)
    return all_boxes[keep], all_scores[keep], all_labels[keep]


def merge_patch_results(results: Sequence[dict],
                        iou_thr: float = 0.1) -> List[dict]:
    """Merge per-patch results into per-original-image results.

    Args:
        results: One dict per patch with ``img_id`` (a patch name, see
            :func:`parse_patch_name`), ``bboxes`` (``(N, 5)`` rbox or
            ``(N, 8)`` qbox, patch coordinates), ``scores`` ``(N,)`` and
            ``labels`` ``(N,)`` (tensors or arrays).
        iou_thr: Per-class rotated-NMS IoU threshold (DOTA: 0.1).

    Returns:
        One dict per original image, sorted by id: ``img_id`` (original id),
        ``bboxes``, ``scores``, ``labels`` in original-image coordinates,
        numpy arrays if the inputs' ``bboxes`` were numpy, else tensors.
    """
    grouped = {}
    for result in results:
        ori_id, _, x, y = parse_patch_name(result['img_id'])
        grouped.setdefault(ori_id, []).append((result, (x, y)))
    as_numpy = bool(results) and isinstance(results[0]['bboxes'], np.ndarray)
    merged = []
    for ori_id in sorted(grouped):
        patches = grouped[ori_id]
        boxes, scores, labels = merge_boxes_by_nms(
            [p['bboxes']
             for p, _ in patches], [p['scores'] for p, _ in patches],
            [p['labels'] for p, _ in patches], [off for _, off in patches],
            iou_thr=iou_thr)
        if as_numpy:
            boxes, scores, labels = boxes.numpy(), scores.numpy(), \
                labels.numpy()
        merged.append(
            dict(img_id=ori_id, bboxes=boxes, scores=scores, labels=labels))
    return merged
