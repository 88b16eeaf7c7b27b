"""Numpy post-processing of an exported detector's dense outputs.

The ONNX graph (:mod:`mmosar.deployment.onnx_export`) ends with the dense
decoded ``boxes (1, A, 5)`` and sigmoid ``scores (1, A, K)``. This module
turns them into the final rotated detections exactly as the PyTorch head's
``predict_by_feat`` does, driven by the ``test_cfg`` stored in the ONNX
metadata (``cfg`` below):

``YOLOOBBHead`` (``cfg['head'] == 'yolo_obb'``, E2E-OSDet family):
    1. candidates: every (prior, class) pair with ``score > score_thr``
       (row-major order);
    2. if more than ``nms_pre``: the ``nms_pre`` best by score;
    3. class-aware NMS: ``nms_rotated`` (greedy; a box is dropped when its
       polygon IoU with a kept higher-scoring box of its class is
       ``>= iou_threshold``, as mmcv's ``nms_rotated``) or ``probiou_nms``
       ("fast" NMS: dropped when the ProbIoU with *any* higher-scoring box
       of its class is ``>= iou_threshold``);
    4. the ``max_per_img`` best by score.

``RotatedRetinaHead`` (``cfg['head'] == 'retina'``, mmdet's
``_predict_by_feat_single`` + ``_bbox_post_process``):
    1. per pyramid level (``level_sizes`` priors each): pairs with
       ``score > score_thr``, the ``nms_pre`` best of the level;
    2. levels concatenated (and rescaled when asked); boxes with
       ``w <= min_bbox_size`` or ``h <= min_bbox_size`` dropped (when
       ``min_bbox_size >= 0``);
    3. class-aware greedy rotated NMS, then the ``max_per_img`` best.

The polygon IoU follows mmcv's ``box_iou_rotated`` (intersection polygon of
the two rectangles from edge crossings and contained corners, both centres
shifted by their midpoint first) in float64.
"""
import json
from typing import Dict, Optional, Tuple

import numpy as np

from .onnx_export import POSTPROCESS_KEY

Detections = Dict[str, np.ndarray]


def read_postprocess_config(onnx_path: str) -> dict:
    """The post-processing settings stored by the export in ``onnx_path``.

    Raises:
        KeyError: the file was not written by ``export_onnx``.
    """
    import onnx  # optional dependency

    model = onnx.load(onnx_path, load_external_data=False)
    for entry in model.metadata_props:
        if entry.key == POSTPROCESS_KEY:
            return json.loads(entry.value)
    raise KeyError(f'{onnx_path}: no {POSTPROCESS_KEY!r} metadata; export '
                   'the model with tools/deployment/export_onnx.py')


def rbox_corners(boxes: np.ndarray) -> np.ndarray:
    """Corners ``(N, 4, 2)`` of ``(N, 5)`` boxes ``(cx, cy, w, h, t)``, in
    order around the box."""
    cos, sin = np.cos(boxes[:, 4]), np.sin(boxes[:, 4])
    half_w, half_h = boxes[:, 2] / 2, boxes[:, 3] / 2
    signs = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
    local_x = signs[None, :, 0] * half_w[:, None]
    local_y = signs[None, :, 1] * half_h[:, None]
    x = boxes[:, None, 0] + cos[:, None] * local_x - sin[:, None] * local_y
    y = boxes[:, None, 1] + sin[:, None] * local_x + cos[:, None] * local_y
    return np.stack([x, y], axis=-1)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _inside(points: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """``points (N, P, 2)`` inside the rectangles ``corners (N, 4, 2)``
    (projection test on two sides, with mmcv's 1e-6 slack)."""
    origin = corners[:, None, 0]
    side_ab = corners[:, None, 1] - origin
    side_ad = corners[:, None, 3] - origin
    rel = points - origin
    along_ab = (rel * side_ab).sum(-1)
    along_ad = (rel * side_ad).sum(-1)
    return ((along_ab > -1e-6) & (along_ad > -1e-6)
            & (along_ab < (side_ab * side_ab).sum(-1) + 1e-6)
            & (along_ad < (side_ad * side_ad).sum(-1) + 1e-6))


def rotated_iou_one_to_many(box: np.ndarray,
                            boxes: np.ndarray) -> np.ndarray:
    """Polygon IoU of one rotated box ``(5,)`` with ``(N, 5)`` boxes.

    The intersection polygon's vertices are the crossings of the two
    rectangles' edges and the corners of each rectangle inside the other;
    they are ordered by angle around their centroid and the area is the
    shoelace sum (unused slots repeat the first vertex and add nothing).

    Returns:
        np.ndarray: ``(N,)`` IoU; 0 when a box has area below 1e-14.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    one = np.broadcast_to(np.asarray(box, dtype=np.float64), boxes.shape)
    shift = (one[:, :2] + boxes[:, :2]) / 2
    one = np.concatenate([one[:, :2] - shift, one[:, 2:]], axis=1)
    other = np.concatenate([boxes[:, :2] - shift, boxes[:, 2:]], axis=1)
    corners1, corners2 = rbox_corners(one), rbox_corners(other)
    # edge crossings: edge i of box 1 with edge j of box 2, (N, 4, 4)
    start1 = corners1[:, :, None]
    dir1 = np.roll(corners1, -1, axis=1)[:, :, None] - start1
    start2 = corners2[:, None]
    dir2 = np.roll(corners2, -1, axis=1)[:, None] - start2
    det = _cross(dir1, dir2)
    safe = np.where(np.abs(det) > 1e-14, det, 1.0)
    offset = start2 - start1
    along1 = _cross(offset, dir2) / safe
    along2 = _cross(offset, dir1) / safe
    crossing_ok = ((np.abs(det) > 1e-14) & (along1 >= 0) & (along1 <= 1)
                   & (along2 >= 0) & (along2 <= 1))
    crossings = start1 + along1[..., None] * dir1
    n = len(boxes)
    points = np.concatenate(
        [corners1, corners2, crossings.reshape(n, 16, 2)], axis=1)
    valid = np.concatenate([
        _inside(corners1, corners2),
        _inside(corners2, corners1),
        crossing_ok.reshape(n, 16)
    ],
                           axis=1)
    count = valid.sum(1)
    centre = (points * valid[..., None]).sum(1) / np.maximum(count, 1)[:,
                                                                         None]
    rel = points - centre[:, None]
    angle = np.where(valid, np.arctan2(rel[..., 1], rel[..., 0]), np.inf)
    order = np.argsort(angle, axis=1, kind='stable')
    ordered = np.take_along_axis(points, order[..., None], axis=1)
    ordered_valid = np.take_along_axis(valid, order, axis=1)
    ordered = np.where(ordered_valid[..., None], ordered, ordered[:, :1])
    area = 0.5 * np.abs(
        _cross(ordered, np.roll(ordered, -1, axis=1)).sum(1))
    inter = np.where(count >= 3, area, 0.0)
    area1, area2 = one[:, 2] * one[:, 3], other[:, 2] * other[:, 3]
    union = area1 + area2 - inter
    ok = (area1 >= 1e-14) & (area2 >= 1e-14)
    return np.where(ok, inter / np.where(ok, union, 1.0), 0.0)


def probiou_matrix(boxes1: np.ndarray,
                   boxes2: np.ndarray,
                   eps: float = 1e-7) -> np.ndarray:
    """ProbIoU ``(N, M)``: ``1 - sqrt(1 - exp(-B) + eps)`` with ``B`` the
    Bhattacharyya distance of the boxes' Gaussians (mean the centre,
    covariance ``R diag(w^2, h^2) R^T / 12``) clamped to ``[eps, 100]``."""

    def gaussian(boxes):
        w2, h2 = boxes[:, 2]**2 / 12, boxes[:, 3]**2 / 12
        cos, sin = np.cos(boxes[:, 4]), np.sin(boxes[:, 4])
        return (boxes[:, :2], w2 * cos**2 + h2 * sin**2,
                w2 * sin**2 + h2 * cos**2, (w2 - h2) * cos * sin, w2 * h2)

    mu1, a1, b1, c1, det1 = gaussian(np.asarray(boxes1, np.float64))
    mu2, a2, b2, c2, det2 = gaussian(np.asarray(boxes2, np.float64))
    a = a1[:, None] + a2[None]
    b = b1[:, None] + b2[None]
    c = c1[:, None] + c2[None]
    det_sum = a * b - c * c
    dx = mu1[:, None, 0] - mu2[None, :, 0]
    dy = mu1[:, None, 1] - mu2[None, :, 1]
    mahalanobis = (b * dx * dx - 2 * c * dx * dy + a * dy * dy) / (
        det_sum + eps) / 4
    log_term = np.log(det_sum /
                      (4 * np.sqrt(det1[:, None] * det2[None]) + eps) +
                      eps) / 2
    distance = np.clip(mahalanobis + log_term, eps, 100.0)
    return 1 - np.sqrt(1 - np.exp(-distance) + eps)


def _by_score(scores: np.ndarray) -> np.ndarray:
    return np.argsort(-scores, kind='stable')


def nms_rotated(boxes: np.ndarray, scores: np.ndarray,
                iou_threshold: float) -> np.ndarray:
    """Greedy rotated NMS (mmcv's ``nms_rotated`` rule: suppress when
    ``IoU >= iou_threshold``); kept indices by decreasing score."""
    order = _by_score(scores)
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for rank, index in enumerate(order):
        if suppressed[rank]:
            continue
        keep.append(index)
        rest = rank + 1 + np.flatnonzero(~suppressed[rank + 1:])
        if len(rest):
            ious = rotated_iou_one_to_many(boxes[index], boxes[order[rest]])
            suppressed[rest[ious >= iou_threshold]] = True
    return np.asarray(keep, dtype=np.int64)


def probiou_nms(boxes: np.ndarray, scores: np.ndarray,
                iou_threshold: float) -> np.ndarray:
    """"Fast" ProbIoU NMS (YOLO-OBB): a box is dropped when its ProbIoU with
    any higher-scoring box is ``>= iou_threshold``; kept indices by
    decreasing score."""
    order = _by_score(scores)
    ious = np.triu(probiou_matrix(boxes[order], boxes[order]), k=1)
    return order[(ious >= iou_threshold).sum(0) == 0]


def batched_nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                nms_cfg: dict) -> np.ndarray:
    """Class-aware NMS; kept indices by decreasing score."""
    nms = dict(nms_rotated=nms_rotated, probiou_nms=probiou_nms)
    if nms_cfg['type'] not in nms:
        raise ValueError(f"nms type must be one of {sorted(nms)}, got "
                         f"{nms_cfg['type']!r}")
    keep = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        kept = nms[nms_cfg['type']](boxes[members], scores[members],
                                    nms_cfg['iou_threshold'])
        keep.append(members[kept])
    keep = np.concatenate(keep) if keep else np.zeros(0, np.int64)
    return keep[_by_score(scores[keep])]


def _threshold_topk(scores: np.ndarray, score_thr: float,
                    topk: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(prior, class) pairs with ``score > score_thr``, the ``topk`` best
    (all when ``topk <= 0``): prior indices, labels, scores."""
    priors, labels = np.nonzero(scores > score_thr)
    values = scores[priors, labels]
    if 0 < topk < len(values):
        best = _by_score(values)[:topk]
        priors, labels, values = priors[best], labels[best], values[best]
    return priors, labels, values


def postprocess_detections(boxes: np.ndarray,
                           scores: np.ndarray,
                           cfg: dict,
                           scale_factor: Optional[Tuple[float,
                                                        float]] = None
                           ) -> Detections:
    """Final detections of one image from the graph's dense outputs.

    Args:
        boxes (np.ndarray): ``(A, 5)`` (or ``(1, A, 5)``) decoded boxes.
        scores (np.ndarray): ``(A, K)`` (or ``(1, A, K)``) class scores.
        cfg (dict): :func:`read_postprocess_config` of the model.
        scale_factor (tuple, optional): ``(sx, sy)`` of the resize that
            produced the input; boxes are mapped back to the original image
            (as the head's ``rescale=True``).

    Returns:
        dict: ``bboxes (N, 5)``, ``scores (N,)``, ``labels (N,)`` by
        decreasing score.
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 5)
    scores = np.asarray(scores, np.float32)
    scores = scores.reshape(-1, scores.shape[-1])
    if len(boxes) != len(scores):
        raise ValueError(f'boxes {boxes.shape} and scores {scores.shape} '
                         'must have one row per prior')
    if cfg['head'] == 'yolo_obb':
        priors, labels, values = _threshold_topk(scores, cfg['score_thr'],
                                                 cfg['nms_pre'])
    elif cfg['head'] == 'retina':
        if sum(cfg['level_sizes']) != len(scores):
            raise ValueError(f"level_sizes {cfg['level_sizes']} do not add "
                             f'up to the {len(scores)} priors')
        parts, start = [], 0
        for size in cfg['level_sizes']:
            prior, label, value = _threshold_topk(
                scores[start:start + size], cfg['score_thr'], cfg['nms_pre'])
            parts.append((prior + start, label, value))
            start += size
        priors, labels, values = (np.concatenate(p) for p in zip(*parts))
    else:
        raise ValueError(f"unknown head {cfg['head']!r} in the metadata")
    det_boxes = boxes[priors]
    # mmdet's _bbox_post_process rescales before NMS, YOLOOBBHead after
    rescale_first = cfg['head'] == 'retina' and scale_factor is not None
    if rescale_first:
        det_boxes = rescale_rboxes(det_boxes, scale_factor)
    if cfg.get('min_bbox_size', -1) >= 0:
        big = ((det_boxes[:, 2] > cfg['min_bbox_size'])
               & (det_boxes[:, 3] > cfg['min_bbox_size']))
        det_boxes, labels, values = det_boxes[big], labels[big], values[big]
    keep = batched_nms(det_boxes.astype(np.float64), values, labels,
                       cfg['nms'])[:cfg['max_per_img']]
    det_boxes = det_boxes[keep]
    if scale_factor is not None and not rescale_first:
        det_boxes = rescale_rboxes(det_boxes, scale_factor)
    return dict(bboxes=det_boxes, scores=values[keep], labels=labels[keep])


def rescale_rboxes(boxes: np.ndarray,
                   scale_factor: Tuple[float, float]) -> np.ndarray:
    """Undo a resize by ``(sx, sy)`` (``RotatedBoxes.rescale_`` with
    ``(1 / sx, 1 / sy)``, as the head's ``rescale=True``)."""
    import torch

    from mmosar.structures.bbox import RotatedBoxes

    rboxes = RotatedBoxes(torch.from_numpy(np.array(boxes, np.float32)))
    rboxes.rescale_((1 / scale_factor[0], 1 / scale_factor[1]))
    return rboxes.tensor.numpy()
