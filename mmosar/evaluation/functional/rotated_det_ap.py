"""Matching and average-precision primitives of the rotated-detection metrics.

Both rotated-detection protocols of mmosar (:class:`DOTAMetric`, mmrotate /
PASCAL VOC style, and :class:`M4SARMetric`, the Ultralytics 8.3.8 OBB
validator used by the M4-SAR benchmark) share one matching rule and differ in
how the precision/recall curve is integrated:

- :func:`match_ranked_detections`: label score-ranked detections of one
  image and one class as true positive / false positive / not counted at
  several IoU thresholds.
- :func:`voc_average_precision`: VOC07 11-point or VOC12 area AP (DOTA).
- :func:`interp101_average_precision`: COCO-style 101-point AP of the
  precision envelope with Ultralytics' sentinels (M4-SAR).
"""
from typing import Sequence, Tuple

import numpy as np


def match_ranked_detections(
        ious: np.ndarray, gt_ignored: np.ndarray,
        iou_thrs: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
    """Match detections of one image and one class to its ground truth.

    Each detection is assigned to the ground-truth box it overlaps most (over
    the kept and the ignored boxes). At a threshold ``t`` a detection whose
    best IoU is ``>= t`` claims that box; when several detections claim the
    same box, the first one in the given (descending score) order gets it and
    the others are false positives; there is no fall-back to a detection's
    second-best box. A detection that claims an ignored box is neither a true
    nor a false positive, and a detection with best IoU ``< t`` is a false
    positive.

    This is the rule of mmrotate's ``tpfp_default`` (score order, VOC). It is
    also what Ultralytics 8.3.8 ``match_predictions`` computes on its
    score-sorted NMS output: it keeps each prediction's highest-IoU label
    among the pairs ``>= t`` and then, per label, the lowest prediction index
    (its re-sort by IoU before the second ``np.unique`` is commented out), so
    both protocols share this function.

    Args:
        ious (np.ndarray): IoU between detections and ground-truth boxes,
            shape (P, G), rows in descending score order.
        gt_ignored (np.ndarray): Bool flags of the ignored ground-truth
            boxes, shape (G, ).
        iou_thrs (Sequence[float]): IoU thresholds, length T.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``is_tp`` and ``is_counted``, bool
        arrays of shape (P, T). A counted detection that is not a true
        positive is a false positive.
    """
    thrs = np.asarray(iou_thrs, dtype=np.float64)
    num_dets, num_gts = ious.shape
    if gt_ignored.shape != (num_gts, ):
        raise ValueError(f'gt_ignored has shape {gt_ignored.shape}, expected '
                         f'({num_gts},) to match ious {ious.shape}')
    is_tp = np.zeros((num_dets, len(thrs)), dtype=bool)
    if num_dets == 0 or num_gts == 0:
        return is_tp, np.ones_like(is_tp)
    best_gt = ious.argmax(axis=1)
    best_iou = ious[np.arange(num_dets), best_gt]
    claims = best_iou[:, None] >= thrs[None, :]
    is_counted = ~(claims & gt_ignored[best_gt][:, None])
    for t in range(len(thrs)):
        claimants = np.flatnonzero(claims[:, t])
        # np.unique's return_index gives the first claimant of each box.
        _, first = np.unique(best_gt[claimants], return_index=True)
        is_tp[claimants[first], t] = True
    is_tp &= is_counted
    return is_tp, is_counted


def precision_recall(is_tp: np.ndarray,
                     num_gts: int) -> Tuple[np.ndarray, np.ndarray]:
    """Cumulative precision and recall of score-ranked counted detections.

    Args:
        is_tp (np.ndarray): Bool true-positive flags in descending score
            order, shape (P, ); not-counted detections already removed.
        num_gts (int): Number of counted ground-truth boxes (> 0).

    Returns:
        tuple[np.ndarray, np.ndarray]: ``(recall, precision)``, each (P, ).
    """
    tp_cum = np.cumsum(is_tp, dtype=np.float64)
    ranks = np.arange(1, len(is_tp) + 1, dtype=np.float64)
    return tp_cum / num_gts, tp_cum / ranks


def voc_average_precision(recall: np.ndarray,
                          precision: np.ndarray,
                          mode: str = '11points') -> float:
    """PASCAL VOC average precision (the DOTA protocol).

    ``'11points'`` (VOC07, mmrotate's default): mean over the recall levels
    0, 0.1, ..., 1 of the highest precision reached at a recall ``>=`` that
    level (0 when the level is never reached). The levels are exactly
    ``k / 10``; mmdet builds them with ``np.arange(0, 1.001, 0.1)``, whose
    0.3, 0.6 and 0.7 are one ulp high, so the two differ only when a recall
    equals 0.3, 0.6 or 0.7 exactly.

    ``'area'`` (VOC12): area under the monotone precision envelope,
    integrated over the recall steps, with precision 0 at recall 0 and 1.

    Args:
        recall (np.ndarray): Recall of the ranked detections, shape (P, ).
        precision (np.ndarray): Precision of the ranked detections, (P, ).
        mode (str): ``'11points'`` or ``'area'``.

    Returns:
        float: The average precision.
    """
    if mode == '11points':
        total = 0.
        for level in np.arange(11) / 10:
            reached = precision[recall >= level]
            total += reached.max() if reached.size else 0.
        return float(total / 11)
    if mode == 'area':
        rec = np.concatenate(([0.], recall, [1.]))
        envelope = np.concatenate(([0.], precision, [0.]))
        envelope = np.maximum.accumulate(envelope[::-1])[::-1]
        steps = np.flatnonzero(rec[1:] != rec[:-1])
        return float(np.sum((rec[steps + 1] - rec[steps]) *
                            envelope[steps + 1]))
    raise ValueError(f"mode must be '11points' or 'area', got {mode!r}")


def interp101_average_precision(recall: np.ndarray,
                                precision: np.ndarray) -> float:
    """COCO-style 101-point AP as the M4-SAR benchmark computes it.

    The curve gets the sentinels (recall 0, precision 1) in front and
    (recall 1, precision 0) at the end, the precision is replaced by its
    monotone envelope (running maximum from the right), sampled by linear
    interpolation (``np.interp``) at recall 0, 0.01, ..., 1, and integrated
    with the trapezoid rule. Without any detection (P = 0) the AP is 0, as
    the validator skips such a class (the sentinels alone would give 0.5).

    Args:
        recall (np.ndarray): Recall of the ranked detections, shape (P, ).
        precision (np.ndarray): Precision of the ranked detections, (P, ).

    Returns:
        float: The average precision.
    """
    if recall.size == 0:
        return 0.
    rec = np.concatenate(([0.], recall, [1.]))
    envelope = np.concatenate(([1.], precision, [0.]))
    envelope = np.maximum.accumulate(envelope[::-1])[::-1]
    grid = np.linspace(0, 1, 101)
    sampled = np.interp(grid, rec, envelope)
    # Trapezoid rule (np.trapz is gone in numpy >= 2.4).
    return float((np.diff(grid) * (sampled[1:] + sampled[:-1]) / 2.).sum())
