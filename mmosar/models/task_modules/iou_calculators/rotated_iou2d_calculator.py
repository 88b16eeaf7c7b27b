"""IoU calculators between rotated boxes, for mmdet assigners."""
from typing import Union

import torch
from mmdet.structures.bbox import (
    HorizontalBoxes,
    bbox_overlaps,
    get_box_tensor,
)
from torch import Tensor

from mmosar.registry import TASK_UTILS
from mmosar.structures.bbox import RotatedBoxes, rbbox_overlaps, rbox2hbox


def _rbox_tensor(boxes: Union[Tensor, RotatedBoxes], name: str) -> Tensor:
    """(N, 5) tensor of rotated boxes; drops a trailing score column."""
    boxes = get_box_tensor(boxes)
    if boxes.size(-1) not in (0, 5, 6):
        raise ValueError(f'{name} must be rotated boxes (N, 5) or rotated '
                         f'boxes with scores (N, 6), got {tuple(boxes.shape)}')
    return boxes[..., :5]


@TASK_UTILS.register_module()
class RBboxOverlaps2D:
    """Exact IoU / IoF between rotated boxes (polygon intersection).

    Called by mmdet assigners as ``calc(gt_bboxes, priors)``; the boxes may be
    :class:`RotatedBoxes` or tensors, with an optional score column.

    For all-pairs overlaps, only pairs whose circumscribed circles intersect
    are handed to the polygon kernel; the others cannot overlap and get 0.
    An assigner compares a few ground-truth boxes with tens of thousands of
    anchors, most of them far away, so this is much faster on CPU and gives
    the same result.
    """

    def __call__(self,
                 bboxes1: Union[Tensor, RotatedBoxes],
                 bboxes2: Union[Tensor, RotatedBoxes],
                 mode: str = 'iou',
                 is_aligned: bool = False) -> Tensor:
        """Overlaps of two sets of rotated boxes.

        Args:
            bboxes1 (Tensor | RotatedBoxes): Shape (M, 5) or (M, 6).
            bboxes2 (Tensor | RotatedBoxes): Shape (N, 5) or (N, 6).
            mode (str): ``'iou'`` or ``'iof'``. Defaults to ``'iou'``.
            is_aligned (bool): Pairwise (M == N) instead of all pairs.

        Returns:
            Tensor: Shape (M, N), or (M,) when ``is_aligned``.
        """
        bboxes1 = _rbox_tensor(bboxes1, 'bboxes1')
        bboxes2 = _rbox_tensor(bboxes2, 'bboxes2')
        if is_aligned or bboxes1.numel() == 0 or bboxes2.numel() == 0:
            return rbbox_overlaps(
                bboxes1, bboxes2, mode=mode, is_aligned=is_aligned)
        radius1 = bboxes1[:, 2:4].norm(dim=-1) / 2
        radius2 = bboxes2[:, 2:4].norm(dim=-1) / 2
        may_overlap = torch.cdist(bboxes1[:, :2], bboxes2[:, :2]) < (
            radius1[:, None] + radius2[None, :])
        rows, cols = may_overlap.nonzero(as_tuple=True)
        overlaps = bboxes1.new_zeros(may_overlap.shape)
        if rows.numel() > 0:
            overlaps[rows, cols] = rbbox_overlaps(
                bboxes1[rows], bboxes2[cols], mode=mode, is_aligned=True)
        return overlaps

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}()'


@TASK_UTILS.register_module()
class FakeRBboxOverlaps2D(RBboxOverlaps2D):
    """IoU between the axis-aligned boxes that circumscribe rotated boxes.

    This is the ``hbox`` setting of rotated RetinaNet: anchors are matched to
    ground truth as if both were horizontal.
    """

    def __call__(self,
                 bboxes1: Union[Tensor, RotatedBoxes],
                 bboxes2: Union[Tensor, RotatedBoxes],
                 mode: str = 'iou',
                 is_aligned: bool = False) -> Tensor:
        """See :meth:`RBboxOverlaps2D.__call__`."""
        hboxes1 = rbox2hbox(_rbox_tensor(bboxes1, 'bboxes1'))
        hboxes2 = rbox2hbox(_rbox_tensor(bboxes2, 'bboxes2'))
        return bbox_overlaps(
            hboxes1, hboxes2, mode=mode, is_aligned=is_aligned)


@TASK_UTILS.register_module()
class RBbox2HBboxOverlaps2D:
    """IoU between the axis-aligned hulls of rotated boxes and horizontal
    boxes (Oriented R-CNN's RPN: rotated ground truth vs. horizontal
    anchors), as mmrotate 1.x ``RBbox2HBboxOverlaps2D``.

    Called by mmdet assigners as ``calc(gt_bboxes, priors)``: ``bboxes1``
    are rotated (M, 5) (a 6th score column is dropped), ``bboxes2``
    horizontal (N, 4) ``(x1, y1, x2, y2)`` (a 5th column is dropped).
    """

    def __call__(self,
                 bboxes1: Union[Tensor, RotatedBoxes],
                 bboxes2: Union[Tensor, HorizontalBoxes],
                 mode: str = 'iou',
                 is_aligned: bool = False) -> Tensor:
        """Overlaps (M, N), or (M,) when ``is_aligned``."""
        hboxes1 = rbox2hbox(_rbox_tensor(bboxes1, 'bboxes1'))
        hboxes2 = get_box_tensor(bboxes2)
        if hboxes2.size(-1) == 5:
            hboxes2 = hboxes2[..., :4]
        if hboxes2.numel() and hboxes2.size(-1) != 4:
            raise ValueError('RBbox2HBboxOverlaps2D: bboxes2 must be '
                             f'horizontal (N, 4), got {tuple(hboxes2.shape)}')
        return bbox_overlaps(
            hboxes1, hboxes2, mode=mode, is_aligned=is_aligned)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}()'
