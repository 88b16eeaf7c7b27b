"""Point-to-rotated-box distance coder (rotated FCOS, RTMDet-R)."""
from typing import Optional, Sequence, Union

import torch
from mmdet.models.task_modules.coders import BaseBBoxCoder
from mmdet.structures.bbox import get_box_tensor
from torch import Tensor

from mmosar.registry import TASK_UTILS
from mmosar.structures.bbox import RotatedBoxes, norm_angle, regularize_rboxes


@TASK_UTILS.register_module()
class DistanceAnglePointCoder(BaseBBoxCoder):
    """Encode a rotated box as the distances from a point to its 4 sides.

    For a box ``(cx, cy, w, h, t)`` and a point ``p``, the offset
    ``p - c`` is expressed in the box frame (axes ``u = (cos t, sin t)`` along
    ``w`` and ``v = (-sin t, cos t)`` along ``h``) as ``(ox, oy)``. The code is
    ``(left, top, right, bottom, t)`` with ``left = w/2 + ox``,
    ``top = h/2 + oy``, ``right = w/2 - ox``, ``bottom = h/2 - oy``. All four
    distances are positive exactly when the point lies inside the box.

    Args:
        angle_version (str, optional): Convention the targets are regularised
            to before encoding. Decoded boxes only have their angle wrapped
            into the convention's range (``norm_angle``; no ``w``/``h`` swap,
            nothing for ``'oc'``), as in mmrotate 1.x: a decoded box may have
            ``w < h``. Defaults to ``'oc'``.
        use_box_type (bool): Decode to :class:`RotatedBoxes`. Defaults to
            True.
    """

    encode_size = 5

    def __init__(self,
                 angle_version: Optional[str] = 'oc',
                 use_box_type: bool = True) -> None:
        super().__init__(use_box_type=use_box_type)
        self.angle_version = angle_version

    def _regularize(self, boxes: Tensor) -> Tensor:
        if self.angle_version is None:
            return boxes
        return regularize_rboxes(boxes, pattern=self.angle_version)

    def encode(self,
               points: Tensor,
               gt_bboxes: Union[Tensor, RotatedBoxes],
               max_dis: Optional[float] = None,
               eps: float = 0.1,
               regularize: bool = True) -> Tensor:
        """Distances (and angle) of rotated boxes seen from points.

        Args:
            points (Tensor): Points ``(x, y)``, shape (..., 2).
            gt_bboxes (Tensor | RotatedBoxes): Boxes, shape (..., 5),
                broadcastable with ``points``.
            max_dis (float, optional): Upper bound of the distances, minus
                ``eps``. Defaults to None.
            eps (float): Margin used with ``max_dis``. Defaults to 0.1.
            regularize (bool): Regularise the boxes to ``angle_version``
                first. Heads that regularise to their own ``angle_version``
                (as mmrotate 1.x heads do) pass False. Defaults to True.

        Returns:
            Tensor: ``(left, top, right, bottom, t)``, shape (..., 5).
        """
        boxes = get_box_tensor(gt_bboxes)
        if regularize:
            boxes = self._regularize(boxes)
        if boxes.size(-1) != 5 or points.size(-1) != 2:
            raise ValueError('DistanceAnglePointCoder.encode needs points '
                             '(..., 2) and rotated boxes (..., 5), got '
                             f'{tuple(points.shape)} and {tuple(boxes.shape)}')
        ctr, wh, angle = boxes.split([2, 2, 1], dim=-1)
        cos, sin = torch.cos(angle), torch.sin(angle)
        offset = points - ctr
        ox = cos * offset[..., :1] + sin * offset[..., 1:]
        oy = -sin * offset[..., :1] + cos * offset[..., 1:]
        half_w, half_h = wh[..., :1] / 2, wh[..., 1:] / 2
        dist = torch.cat(
            [half_w + ox, half_h + oy, half_w - ox, half_h - oy], dim=-1)
        if max_dis is not None:
            dist = dist.clamp(min=0, max=max_dis - eps)
        return torch.cat([dist, angle], dim=-1)

    def decode(self,
               points: Tensor,
               pred_bboxes: Tensor,
               max_shape: Optional[Sequence[int]] = None
               ) -> Union[Tensor, RotatedBoxes]:
        """Rotated boxes from points and ``(left, top, right, bottom, t)``.

        Args:
            points (Tensor): Points ``(x, y)``, shape (N, 2) or (B, N, 2).
            pred_bboxes (Tensor): Distances and angle, shape (N, 5) or
                (B, N, 5).
            max_shape (Sequence[int], optional): Not used (rotated boxes are
                not clipped); kept for the mmdet head API.

        Returns:
            Tensor | RotatedBoxes: Boxes ``(cx, cy, w, h, t)``, shape (..., 5).
        """
        if pred_bboxes.size(-1) != 5:
            raise ValueError('pred_bboxes must have last dim 5 (left, top, '
                             'right, bottom, angle), got shape '
                             f'{tuple(pred_bboxes.shape)}.')
        points = points[..., :2]
        near, far, angle = pred_bboxes.split([2, 2, 1], dim=-1)
        wh = near + far
        # centre offset in the box frame, then rotated into the image frame
        local = (far - near) / 2
        cos, sin = torch.cos(angle), torch.sin(angle)
        ox = cos * local[..., :1] - sin * local[..., 1:]
        oy = sin * local[..., :1] + cos * local[..., 1:]
        ctr = points + torch.cat([ox, oy], dim=-1)
        if self.angle_version not in (None, 'oc'):
            angle = norm_angle(angle, self.angle_version)
        boxes = torch.cat([ctr, wh, angle], dim=-1)
        if self.use_box_type:
            return RotatedBoxes(boxes)
        return boxes
