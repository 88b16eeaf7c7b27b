"""Confusion matrix of rotated detections (polygon IoU matching)."""
from typing import Iterable, Mapping, Optional

import numpy as np
import torch

from mmosar.structures.bbox import batched_rnms, rbbox_overlaps


def rotated_confusion_matrix(results: Iterable[Mapping[str, np.ndarray]],
                             num_classes: int,
                             score_thr: float = 0.3,
                             tp_iou_thr: float = 0.5,
                             nms_iou_thr: Optional[float] = None
                             ) -> np.ndarray:
    """Count detections against ground truth, mmdet's confusion-matrix rules
    with exact polygon IoU.

    Rows are ground-truth classes, columns predicted classes; index
    ``num_classes`` is the background. Per image, for every prediction with
    ``score >= score_thr`` (after an optional per-class rotated NMS at
    ``nms_iou_thr``):

    * every ground-truth box ``j`` with ``IoU >= tp_iou_thr`` adds one to
      ``M[gt_label_j, pred_label]`` (a correct class is a true positive of
      ``j``; another class a confusion);
    * a prediction that reaches no ground truth adds one to
      ``M[background, pred_label]`` (a false positive on background).

    Finally every ground-truth box without a true positive adds one to
    ``M[gt_label, background]`` (a miss). Ignored ground truth (difficult
    objects, optional ``ignored_bboxes``) is not counted, and a prediction
    that reaches only ignored boxes is not a background false positive.

    Args:
        results: Per image, ``gt_bboxes`` (G, 5), ``gt_labels`` (G, ),
            ``pred_bboxes`` (P, 5) ``(cx, cy, w, h, t)``, ``pred_scores``
            (P, ) and ``pred_labels`` (P, ); optionally ``ignored_bboxes``
            (I, 5).
        num_classes: Number of object classes.
        score_thr: Predictions below it are ignored.
        tp_iou_thr: Polygon IoU at which a prediction reaches a GT box.
        nms_iou_thr: Per-class rotated NMS threshold applied first, or None.

    Returns:
        np.ndarray: ``(num_classes + 1, num_classes + 1)`` int64 counts.
    """
    bg = num_classes
    matrix = np.zeros((num_classes + 1, num_classes + 1), dtype=np.int64)
    for index, result in enumerate(results):
        for key in ('gt_labels', 'pred_labels'):
            bad = [v for v in np.asarray(result[key]).tolist()
                   if not 0 <= v < num_classes]
            if bad:
                raise ValueError(f'image {index}: label {bad[0]} outside '
                                 f'[0, {num_classes}) in {key}')
        gt_boxes = torch.as_tensor(np.asarray(result['gt_bboxes']),
                                   dtype=torch.float64).reshape(-1, 5)
        gt_labels = np.asarray(result['gt_labels'], dtype=np.int64)
        boxes = torch.as_tensor(np.asarray(result['pred_bboxes']),
                                dtype=torch.float64).reshape(-1, 5)
        scores = torch.as_tensor(np.asarray(result['pred_scores']),
                                 dtype=torch.float64)
        labels = torch.as_tensor(np.asarray(result['pred_labels']),
                                 dtype=torch.int64)
        keep = scores >= score_thr
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        if nms_iou_thr is not None and len(boxes):
            _, kept = batched_rnms(boxes, scores, labels, nms_iou_thr)
            boxes, labels = boxes[kept], labels[kept]
        ignored = torch.as_tensor(
            np.asarray(result.get('ignored_bboxes', np.zeros((0, 5)))),
            dtype=torch.float64).reshape(-1, 5)
        true_positives = np.zeros(len(gt_labels), dtype=np.int64)
        ious = _overlaps(boxes, gt_boxes)
        on_ignored = (_overlaps(boxes, ignored) >= tp_iou_thr).any(axis=1)
        for pred_label, pred_ious, skip in zip(labels.tolist(), ious,
                                               on_ignored):
            reached = np.nonzero(pred_ious >= tp_iou_thr)[0]
            for j in reached:
                if gt_labels[j] == pred_label:
                    true_positives[j] += 1
                matrix[gt_labels[j], pred_label] += 1
            if not len(reached) and not skip:
                matrix[bg, pred_label] += 1
        for gt_label, tp in zip(gt_labels, true_positives):
            if tp == 0:
                matrix[gt_label, bg] += 1
    return matrix


def _overlaps(boxes: torch.Tensor, others: torch.Tensor) -> np.ndarray:
    """Polygon IoU (N, M) as numpy, zeros when either side is empty."""
    if len(boxes) and len(others):
        return rbbox_overlaps(boxes, others).numpy()
    return np.zeros((len(boxes), len(others)))
