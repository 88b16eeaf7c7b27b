"""Overlaps of rotated boxes: exact polygon IoU and ProbIoU.

* :func:`rbbox_overlaps`: exact IoU / IoF of rotated rectangles through mmcv's
  compiled ``box_iou_rotated`` (CPU and CUDA), made robust to degenerate input.
* :func:`rbbox_probiou`: ProbIoU (Llerena et al., 2021), the overlap used by
  the M4-SAR benchmark: each box is a 2-D Gaussian with the box centre as mean
  and the covariance of a uniform distribution over the box,
  ``R(t) diag(w^2/12, h^2/12) R(t)^T``; the similarity is ``1 - H`` with ``H``
  the Hellinger distance derived from the Bhattacharyya distance ``B``:
  ``B = 1/8 d^T S^-1 d + 1/2 ln(det S / sqrt(det S1 det S2))``,
  ``S = (S1 + S2) / 2``, ``d = mu1 - mu2``, ``B`` clamped to ``[eps, 100]``,
  ``H = sqrt(1 - exp(-B) + eps)``.
* :func:`rbox2gaussian`: the Gaussian of each box, for losses.
"""
import math
from typing import Tuple, Union

import torch
from mmcv.ops import box_iou_rotated
from torch import Tensor

from .box_geometry import rbox2corners

#: smallest w / h used for overlaps: zero-area boxes would give 0 / 0, and
#: mmcv's float32 kernel is wrong for very thin boxes (0.33 instead of 1 for
#: two identical 1e-4 x 20 px boxes).
MIN_RBOX_SIZE = 1e-2


def _as_tensor(boxes) -> Tensor:
    """Accept ``RotatedBoxes`` (or any mmdet box type) and plain tensors."""
    return boxes.tensor if hasattr(boxes, 'tensor') else boxes


def _check_rboxes(boxes: Tensor, name: str) -> None:
    if boxes.dim() != 2 or boxes.size(-1) != 5:
        raise ValueError(f'{name} must have shape (N, 5), '
                         f'got {tuple(boxes.shape)}.')


def convex_quad_intersection_areas(quads1: Tensor, quads2: Tensor) -> Tensor:
    """Exact intersection areas of pairs of convex quadrilaterals.

    The intersection polygon's vertices are the corners of each quad that
    lie in the other one plus the crossings of their edges; they are sorted
    by angle around their mean and the area is a triangle fan. Inside tests
    use a small tolerance relative to the box size, so shared (collinear)
    edges, touching boxes and duplicated points give the right area; no
    intersection point of (nearly) parallel edges is used.

    Args:
        quads1 (Tensor): (P, 4, 2) corners in order (either orientation).
        quads2 (Tensor): (P, 4, 2).

    Returns:
        Tensor: (P, ) areas, dtype of the input (use float64).
    """

    def cross(a: Tensor, b: Tensor) -> Tensor:
        return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]

    def inside(points: Tensor, quads: Tensor, tol: Tensor) -> Tensor:
        # points (P, K, 2) in quads (P, 4, 2), orientation-independent
        edges = quads.roll(-1, dims=1) - quads
        orient = torch.sign(cross(edges[:, 0], edges[:, 1]))[:, None, None]
        rel = points[:, :, None] - quads[:, None]  # (P, K, 4, 2)
        side = cross(edges[:, None], rel) * orient
        return (side >= -tol[:, None, None]).all(dim=-1)

    scale = torch.cat([quads1, quads2], dim=1)
    scale = (scale.amax(dim=1) - scale.amin(dim=1)).amax(dim=-1)
    tol = 1e-9 * scale * scale + 1e-30
    edges1 = quads1.roll(-1, dims=1) - quads1  # (P, 4, 2)
    edges2 = quads2.roll(-1, dims=1) - quads2
    # crossing of edge i of quad 1 with edge j of quad 2: (P, 4, 4)
    e1, e2 = edges1[:, :, None], edges2[:, None]
    offset = quads2[:, None] - quads1[:, :, None]
    det = cross(e1, e2)
    usable = det.abs() > 1e-6 * (e1.norm(dim=-1) * e2.norm(dim=-1))
    safe_det = torch.where(usable, det, torch.ones_like(det))
    along1 = cross(offset, e2) / safe_det
    along2 = cross(offset, e1) / safe_det
    crossings = quads1[:, :, None] + along1[..., None] * e1
    eps = 1e-9
    within1 = (along1 >= -eps) & (along1 <= 1 + eps)
    within2 = (along2 >= -eps) & (along2 <= 1 + eps)
    on_both = usable & within1 & within2
    crossings = crossings.flatten(1, 2)  # (P, 16, 2)
    points = torch.cat([quads1, quads2, crossings], dim=1)  # (P, 24, 2)
    valid = torch.cat([
        inside(quads1, quads2, tol),
        inside(quads2, quads1, tol),
        on_both.flatten(1) & inside(crossings, quads1, tol)
        & inside(crossings, quads2, tol)
    ],
                      dim=1)
    count = valid.sum(dim=1, keepdim=True).clamp(min=1)
    center = (points * valid[..., None]).sum(dim=1) / count
    rel = points - center[:, None]
    angle = torch.atan2(rel[..., 1], rel[..., 0])
    angle = torch.where(valid, angle, torch.full_like(angle, 10.0))
    order = angle.argsort(dim=1)
    rel = rel.gather(1, order[..., None].expand(-1, -1, 2))
    valid = valid.gather(1, order)
    # invalid points (sorted last) repeat the first point: zero-area slivers
    rel = torch.where(valid[..., None], rel, rel[:, :1].expand_as(rel))
    fan = cross(rel, rel.roll(-1, dims=1)).sum(dim=1) / 2
    return fan.abs()


def exact_quad_overlaps(quads1: Tensor,
                        quads2: Tensor,
                        mode: str = 'iou',
                        chunk: int = 65536) -> Tensor:
    """IoU / IoF of aligned pairs of convex quadrilaterals, exactly.

    Args:
        quads1 (Tensor): (P, 4, 2) corners in order.
        quads2 (Tensor): (P, 4, 2).
        mode (str): ``'iou'`` or ``'iof'`` (over the area of ``quads1``).
        chunk (int): Pairs computed at once (bounds memory).

    Returns:
        Tensor: (P, ) float64.
    """

    def area(quads: Tensor) -> Tensor:
        x, y = quads.unbind(dim=-1)
        return (x * y.roll(-1, -1) - x.roll(-1, -1) * y).sum(-1).abs() / 2

    results = []
    for start in range(0, len(quads1), chunk):
        q1 = quads1[start:start + chunk].double()
        q2 = quads2[start:start + chunk].double()
        inter = convex_quad_intersection_areas(q1, q2)
        area1 = area(q1)
        denom = area1 + area(q2) - inter if mode == 'iou' else area1
        results.append(inter / denom.clamp(min=1e-30))
    if not results:
        return quads1.new_zeros((0, ), dtype=torch.float64)
    return torch.cat(results)


#: pairs whose angles differ (mod 90 degrees) by less than this (radians)
#: are recomputed exactly; mmcv's kernel is unreliable for them
PARALLEL_TOL = 0.02


def rbbox_overlaps(
        bboxes1: Union[Tensor, 'RotatedBoxes'],  # noqa: F821
        bboxes2: Union[Tensor, 'RotatedBoxes'],  # noqa: F821
        mode: str = 'iou',
        is_aligned: bool = False) -> Tensor:
    """Exact IoU or IoF of rotated boxes (polygon intersection).

    Pairs are computed by mmcv's compiled ``box_iou_rotated`` (float32, CPU
    or CUDA), except pairs with (nearly) parallel sides that may overlap:
    mmcv 2.1's kernel can be far off for them (shared edge lines, e.g. a box
    and its copy shifted along its long side: errors up to 0.97 IoU), so they
    are computed in float64 by :func:`convex_quad_intersection_areas`.
    Only pairs whose circumscribed circles meet are computed at all (the
    others are 0), which also makes sparse N x M problems fast.

    Degenerate input gives finite numbers: ``w`` and ``h`` are clamped to at
    least ``MIN_RBOX_SIZE`` (0.01 px; a zero-area box thus overlaps an
    identical box fully), and each pair is computed relative to its own
    mean centre in float64 before the float32 kernel, so large coordinates
    keep precision. Gradients do not flow.

    Args:
        bboxes1 (Tensor | RotatedBoxes): shape (N, 5), ``(cx, cy, w, h, t)``.
        bboxes2 (Tensor | RotatedBoxes): shape (M, 5).
        mode (str): ``'iou'`` (intersection over union) or ``'iof'``
            (intersection over the area of ``bboxes1``).
        is_aligned (bool): Compare row i with row i only (N == M).

    Returns:
        Tensor: (N, M), or (N, ) if ``is_aligned``; dtype of ``bboxes1``.
    """
    if mode not in ('iou', 'iof'):
        raise ValueError(f"mode must be 'iou' or 'iof', got {mode!r}.")
    bboxes1, bboxes2 = _as_tensor(bboxes1), _as_tensor(bboxes2)
    _check_rboxes(bboxes1, 'bboxes1')
    _check_rboxes(bboxes2, 'bboxes2')
    rows, cols = bboxes1.size(0), bboxes2.size(0)
    if is_aligned and rows != cols:
        raise ValueError('is_aligned needs as many boxes in both sets, got '
                         f'{rows} and {cols}.')
    if rows == 0 or cols == 0:
        shape = (rows, ) if is_aligned else (rows, cols)
        return bboxes1.new_zeros(shape)

    b1 = _prepare(bboxes1.detach().double())
    b2 = _prepare(bboxes2.detach().double().to(b1.device))
    overlaps = b1.new_zeros((rows, ) if is_aligned else (rows, cols))
    idx1, idx2 = overlap_candidates(b1, b2, is_aligned)
    values = _pair_overlaps(b1[idx1], b2[idx2], mode)
    if is_aligned:
        overlaps[idx1] = values
    else:
        overlaps[idx1, idx2] = values
    return overlaps.nan_to_num(0.0, 0.0, 0.0).clamp(0.0, 1.0).to(bboxes1.dtype)


def overlap_candidates(boxes1: Tensor,
                       boxes2: Tensor,
                       is_aligned: bool = False) -> Tuple[Tensor, Tensor]:
    """Pairs of rotated boxes whose circumscribed circles meet (the only
    pairs that can overlap).

    Rows are processed in chunks so that memory stays bounded for large
    ``N x M``.

    Args:
        boxes1 (Tensor): (N, 5).
        boxes2 (Tensor): (M, 5).
        is_aligned (bool): Test row i against row i only.

    Returns:
        Tuple[Tensor, Tensor]: indices into ``boxes1`` and ``boxes2`` (equal
        if ``is_aligned``), sorted by the first.
    """
    rows, cols = len(boxes1), len(boxes2)
    radius1 = boxes1[:, 2:4].norm(dim=-1) / 2
    radius2 = boxes2[:, 2:4].norm(dim=-1) / 2
    step = rows if is_aligned else max(1, PAIR_CHUNK // max(cols, 1))
    found1, found2 = [], []
    for start in range(0, rows, max(step, 1)):
        xy1 = boxes1[start:start + step, :2]
        reach1 = radius1[start:start + step]
        if is_aligned:
            offset, reach = xy1 - boxes2[:, :2], reach1 + radius2
        else:
            offset = xy1[:, None] - boxes2[None, :, :2]
            reach = reach1[:, None] + radius2[None]
        squared = offset[..., 0]**2 + offset[..., 1]**2
        meet = (squared <= (reach * (1 + 1e-6))**2).nonzero(as_tuple=True)
        found1.append(meet[0] + start)
        found2.append(meet[0] + start if is_aligned else meet[1])
    if not found1:
        empty = torch.zeros((0, ), dtype=torch.long, device=boxes1.device)
        return empty, empty
    return torch.cat(found1), torch.cat(found2)


#: candidate pairs tested per chunk in ``rbbox_overlaps``
PAIR_CHUNK = 1 << 22


def _prepare(boxes: Tensor) -> Tensor:
    """Clamp ``w``, ``h`` to ``MIN_RBOX_SIZE`` (float64 copy)."""
    return torch.cat(
        [boxes[:, :2], boxes[:, 2:4].clamp(min=MIN_RBOX_SIZE), boxes[:, 4:]],
        dim=1)


def _pair_overlaps(b1: Tensor, b2: Tensor, mode: str) -> Tensor:
    """Overlaps of aligned float64 rbox pairs (P, 5): mmcv's kernel on each
    pair's local origin, exact float64 clipping for (nearly) parallel
    pairs."""
    if len(b1) == 0:
        return b1.new_zeros((0, ))
    origin = (b1[:, :2] + b2[:, :2]) / 2
    b1 = torch.cat([b1[:, :2] - origin, b1[:, 2:]], dim=1)
    b2 = torch.cat([b2[:, :2] - origin, b2[:, 2:]], dim=1)
    turn = torch.remainder(b1[:, 4] - b2[:, 4], math.pi / 2)
    parallel = torch.minimum(turn, math.pi / 2 - turn) < PARALLEL_TOL
    values = b1.new_zeros((len(b1), ))
    if parallel.any():
        values[parallel] = exact_quad_overlaps(
            rbox2corners(b1[parallel]), rbox2corners(b2[parallel]), mode)
    general = ~parallel
    if general.any():
        values[general] = box_iou_rotated(
            b1[general].float(), b2[general].float(), mode=mode,
            aligned=True).double()
    return values


def rbox2gaussian(
    boxes: Union[Tensor, 'RotatedBoxes']  # noqa: F821
) -> Tuple[Tensor, Tensor]:
    """Gaussian of each rotated box (uniform-box covariance).

    Args:
        boxes (Tensor | RotatedBoxes): shape (..., 5).

    Returns:
        Tuple[Tensor, Tensor]: means ``(cx, cy)`` of shape (..., 2) and
        covariances ``R diag(w^2, h^2) R^T / 12`` of shape (..., 2, 2), with
        ``R = [[cos t, -sin t], [sin t, cos t]]``.
    """
    boxes = _as_tensor(boxes)
    if boxes.size(-1) != 5:
        raise ValueError('rbox2gaussian expects boxes of shape (..., 5), '
                         f'got {tuple(boxes.shape)}.')
    cos, sin = torch.cos(boxes[..., 4]), torch.sin(boxes[..., 4])
    rot = torch.stack([cos, -sin, sin, cos], dim=-1).unflatten(-1, (2, 2))
    var = torch.diag_embed(boxes[..., 2:4].pow(2) / 12)
    return boxes[..., :2], rot @ var @ rot.transpose(-1, -2)


def rbbox_probiou(
        bboxes1: Union[Tensor, 'RotatedBoxes'],  # noqa: F821
        bboxes2: Union[Tensor, 'RotatedBoxes'],  # noqa: F821
        is_aligned: bool = False,
        eps: float = 1e-7) -> Tensor:
    """ProbIoU of rotated boxes (pure torch, differentiable).

    ``1 - sqrt(1 - exp(-B) + eps)`` with ``B`` the Bhattacharyya distance of
    the boxes' Gaussians clamped to ``[eps, 100]`` (the M4-SAR benchmark's
    clamping), see the module docstring. Identical boxes give about
    ``1 - sqrt(2 eps)``, not exactly 1.

    Args:
        bboxes1 (Tensor | RotatedBoxes): shape (N, 5).
        bboxes2 (Tensor | RotatedBoxes): shape (M, 5).
        is_aligned (bool): Compare row i with row i only (N == M).
        eps (float): Numerical guard, see above. Defaults to 1e-7.

    Returns:
        Tensor: (N, M), or (N, ) if ``is_aligned``.
    """
    bboxes1, bboxes2 = _as_tensor(bboxes1), _as_tensor(bboxes2)
    _check_rboxes(bboxes1, 'bboxes1')
    _check_rboxes(bboxes2, 'bboxes2')
    if is_aligned and bboxes1.size(0) != bboxes2.size(0):
        raise ValueError('is_aligned needs as many boxes in both sets, got '
                         f'{bboxes1.size(0)} and {bboxes2.size(0)}.')
    # at least float32: under mixed precision the squared box areas in the
    # determinants overflow float16 (65504) beyond 16 x 16 pixel boxes
    dtype = torch.promote_types(
        torch.promote_types(bboxes1.dtype, bboxes2.dtype), torch.float32)
    bboxes1, bboxes2 = bboxes1.to(dtype), bboxes2.to(dtype)
    mu1, sigma1 = rbox2gaussian(bboxes1)
    mu2, sigma2 = rbox2gaussian(bboxes2)
    # det(R diag(w^2, h^2) R^T / 12) = (w h / 12)^2
    det1 = (bboxes1[:, 2] * bboxes1[:, 3] / 12).pow(2)
    det2 = (bboxes2[:, 2] * bboxes2[:, 3] / 12).pow(2)
    if not is_aligned:
        mu1, sigma1, det1 = mu1[:, None], sigma1[:, None], det1[:, None]
        mu2, sigma2, det2 = mu2[None], sigma2[None], det2[None]
    sigma_sum = sigma1 + sigma2  # = 2 S
    a, b = sigma_sum[..., 0, 0], sigma_sum[..., 1, 1]
    c = sigma_sum[..., 0, 1]
    det_sum = a * b - c * c
    dx, dy = (mu1 - mu2).unbind(dim=-1)
    # 1/8 d^T S^-1 d = 1/4 d^T (S1 + S2)^-1 d
    mahalanobis = (b * dx * dx - 2 * c * dx * dy + a * dy * dy) / (det_sum +
                                                                   eps) / 4
    # 1/2 ln(det S / sqrt(det S1 det S2)), det S = det(S1 + S2) / 4
    log_term = torch.log(det_sum / (4 * (det1 * det2).sqrt() + eps) + eps) / 2
    bhattacharyya = (mahalanobis + log_term).clamp(eps, 100.0)
    hellinger = (1 - torch.exp(-bhattacharyya) + eps).sqrt()
    return 1 - hellinger
