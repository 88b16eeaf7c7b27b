"""Conversions between horizontal, rotated and quadrilateral box tensors.

Layouts (last dimension):

* hbox: ``(x1, y1, x2, y2)``, 4 values.
* rbox: ``(cx, cy, w, h, t)``, 5 values; ``t`` in radians, clockwise in image
  coordinates (y down); the ``w`` side points along ``(cos t, sin t)``.
  See :mod:`mmosar.structures.bbox.angle_conventions`.
* qbox: ``(x1, y1, x2, y2, x3, y3, x4, y4)``, 8 values, the corners in order
  around the quadrilateral.

All functions are vectorised pure torch (any leading shape, CPU or CUDA) and
are registered as mmdet box converters in :mod:`.box_converters`.
``qbox2rbox`` fits the exact minimum-area enclosing rectangle of the four
points (one of its sides lies on an edge of their convex hull).
"""
import numpy as np
import torch
from torch import Tensor

from .angle_conventions import regularize_rboxes


def _check_last_dim(boxes: Tensor, dim: int, name: str) -> None:
    if boxes.size(-1) != dim:
        raise ValueError(f'{name} expects boxes of shape (..., {dim}), '
                         f'got {tuple(boxes.shape)}.')


def hbox2rbox(boxes: Tensor) -> Tensor:
    """Horizontal boxes (..., 4) to rotated boxes (..., 5) with ``t = 0``."""
    _check_last_dim(boxes, 4, 'hbox2rbox')
    xy1, xy2 = boxes.split((2, 2), dim=-1)
    return torch.cat([(xy1 + xy2) / 2, xy2 - xy1,
                      boxes.new_zeros(boxes.shape[:-1] + (1, ))],
                     dim=-1)


def hbox2qbox(boxes: Tensor) -> Tensor:
    """Horizontal boxes (..., 4) to quadrilaterals (..., 8).

    Corner order: top-left, top-right, bottom-right, bottom-left.
    """
    _check_last_dim(boxes, 4, 'hbox2qbox')
    x1, y1, x2, y2 = boxes.unbind(dim=-1)
    return torch.stack([x1, y1, x2, y1, x2, y2, x1, y2], dim=-1)


def rbox2corners(boxes: Tensor) -> Tensor:
    """Corners of rotated boxes.

    Args:
        boxes (Tensor): Rotated boxes, shape (..., 5).

    Returns:
        Tensor: Shape (..., 4, 2); with ``u = w/2 (cos t, sin t)`` and
        ``v = h/2 (-sin t, cos t)`` the corners are ``c - u - v``,
        ``c + u - v``, ``c + u + v``, ``c - u + v`` (for ``t = 0``: top-left,
        top-right, bottom-right, bottom-left).
    """
    _check_last_dim(boxes, 5, 'rbox2corners')
    ctr, w, h, t = boxes[..., :2], boxes[..., 2:3], boxes[..., 3:4], \
        boxes[..., 4:5]
    cos, sin = torch.cos(t), torch.sin(t)
    u = torch.cat([w / 2 * cos, w / 2 * sin], dim=-1)
    v = torch.cat([-h / 2 * sin, h / 2 * cos], dim=-1)
    return torch.stack([ctr - u - v, ctr + u - v, ctr + u + v, ctr - u + v],
                       dim=-2)


def rbox2qbox(boxes: Tensor) -> Tensor:
    """Rotated boxes (..., 5) to quadrilaterals (..., 8) (see
    :func:`rbox2corners` for the corner order)."""
    corners = rbox2corners(boxes)
    return corners.flatten(-2)


def rbox2hbox(boxes: Tensor) -> Tensor:
    """Rotated boxes (..., 5) to their enclosing horizontal boxes (..., 4)."""
    _check_last_dim(boxes, 5, 'rbox2hbox')
    ctr, w, h, t = boxes[..., :2], boxes[..., 2:3], boxes[..., 3:4], \
        boxes[..., 4:5]
    cos, sin = torch.cos(t).abs(), torch.sin(t).abs()
    half = torch.cat([w / 2 * cos + h / 2 * sin, w / 2 * sin + h / 2 * cos],
                     dim=-1)
    return torch.cat([ctr - half, ctr + half], dim=-1)


def qbox2hbox(boxes: Tensor) -> Tensor:
    """Quadrilaterals (..., 8) to their enclosing horizontal boxes (..., 4)."""
    _check_last_dim(boxes, 8, 'qbox2hbox')
    points = boxes.unflatten(-1, (4, 2))
    return torch.cat([points.amin(dim=-2), points.amax(dim=-2)], dim=-1)


def points2rbox(points: Tensor, ordered_hull: bool = False) -> Tensor:
    """Exact minimum-area rectangle enclosing each set of points.

    The minimum-area enclosing rectangle has a side on an edge of the
    points' convex hull. By default every direction through two of the
    points is tried (each hull edge joins two points, so the smallest
    candidate is exact; cost grows with ``K**2``, meant for small ``K``).
    With ``ordered_hull=True`` the points must be a convex hull in order
    (e.g. from ``cv2.convexHull``) and only its ``K`` edges are tried.

    Args:
        points (Tensor): Shape (..., K, 2), K >= 1.
        ordered_hull (bool): See above. Defaults to False.

    Returns:
        Tensor: Rotated boxes (..., 5) in the ``'le90'`` convention.
    """
    if points.dim() < 2 or points.size(-1) != 2 or points.size(-2) < 1:
        raise ValueError('points2rbox expects points of shape (..., K, 2), '
                         f'got {tuple(points.shape)}.')
    num = points.size(-2)
    if num == 1:
        points = points.expand(*points.shape[:-2], 2, 2)
        num = 2
    # work relative to the mean point: keeps float32 precise far from 0
    origin = points.mean(dim=-2)
    points = points - origin[..., None, :]
    if ordered_hull:
        idx_a = torch.arange(num, device=points.device)
        idx_b = (idx_a + 1) % num
    else:
        idx_a, idx_b = torch.triu_indices(
            num, num, offset=1, device=points.device)
    edges = points[..., idx_b, :] - points[..., idx_a, :]  # (..., P, 2)
    angles = torch.atan2(edges[..., 1], edges[..., 0])  # (..., P)
    cos, sin = torch.cos(angles), torch.sin(angles)
    # coordinates of all points in each candidate frame: (..., P, K)
    along = points[..., None, :, 0] * cos[..., None] + \
        points[..., None, :, 1] * sin[..., None]
    across = -points[..., None, :, 0] * sin[..., None] + \
        points[..., None, :, 1] * cos[..., None]
    a_min, a_max = along.amin(dim=-1), along.amax(dim=-1)
    c_min, c_max = across.amin(dim=-1), across.amax(dim=-1)
    widths, heights = a_max - a_min, c_max - c_min
    best = (widths * heights).argmin(dim=-1, keepdim=True)  # (..., 1)

    def pick(values: Tensor) -> Tensor:
        return values.gather(-1, best).squeeze(-1)

    cos_b, sin_b = pick(cos), pick(sin)
    mid_a = (pick(a_min) + pick(a_max)) / 2
    mid_c = (pick(c_min) + pick(c_max)) / 2
    cx = mid_a * cos_b - mid_c * sin_b + origin[..., 0]
    cy = mid_a * sin_b + mid_c * cos_b + origin[..., 1]
    rboxes = torch.stack(
        [cx, cy, pick(widths),
         pick(heights), pick(angles)], dim=-1)
    return regularize_rboxes(rboxes, 'le90')


def clip_convex_polygon(points: np.ndarray, width: float,
                        height: float) -> np.ndarray:
    """Intersection of a convex polygon with the image ``[0, W] x [0, H]``.

    Sutherland-Hodgman clipping against the four half-planes ``x >= 0``,
    ``x <= W``, ``y >= 0``, ``y <= H``; for a convex polygon the result is
    the exact intersection polygon.

    Args:
        points (np.ndarray): Vertices in order around the polygon, (K, 2).
        width (float): Image width ``W``.
        height (float): Image height ``H``.

    Returns:
        np.ndarray: Vertices of the intersection, (M, 2) float64; M = 0 when
        the polygon and the image do not overlap.
    """
    poly = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    # (axis, bound, keep_greater): x >= 0, x <= W, y >= 0, y <= H
    for axis, bound, greater in ((0, 0.0, True), (0, float(width), False),
                                 (1, 0.0, True), (1, float(height), False)):
        if len(poly) == 0:
            break
        dist = poly[:, axis] - bound if greater else bound - poly[:, axis]
        inside = dist >= 0
        kept = []
        for k in range(len(poly)):
            nxt = (k + 1) % len(poly)
            if inside[k]:
                kept.append(poly[k])
            if inside[k] != inside[nxt]:
                frac = dist[k] / (dist[k] - dist[nxt])
                kept.append(poly[k] + frac * (poly[nxt] - poly[k]))
        poly = np.asarray(kept, dtype=np.float64).reshape(-1, 2)
    return poly


def qbox2rbox(boxes: Tensor) -> Tensor:
    """Quadrilaterals (..., 8) to their minimum-area enclosing rotated boxes.

    Returns:
        Tensor: Shape (..., 5), in the ``'le90'`` convention (``w >= h``,
        ``t`` in ``[-pi/2, pi/2)``); regularize to another convention with
        :func:`~mmosar.structures.bbox.regularize_rboxes`.
    """
    _check_last_dim(boxes, 8, 'qbox2rbox')
    return points2rbox(boxes.unflatten(-1, (4, 2)))


__all__ = [
    'hbox2rbox', 'hbox2qbox', 'rbox2hbox', 'rbox2qbox', 'rbox2corners',
    'qbox2hbox', 'qbox2rbox', 'points2rbox', 'clip_convex_polygon'
]
