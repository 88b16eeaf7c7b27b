"""Midpoint-offset coder of Oriented R-CNN's oriented RPN."""
import math
from typing import Optional, Sequence, Union

import torch
from mmdet.models.task_modules.coders import BaseBBoxCoder
from mmdet.structures.bbox import HorizontalBoxes, get_box_tensor
from torch import Tensor

from mmosar.registry import TASK_UTILS
from mmosar.structures.bbox import (
    RotatedBoxes,
    rbox2hbox,
    rbox2qbox,
    regularize_rboxes,
)


@TASK_UTILS.register_module()
class MidpointOffsetCoder(BaseBBoxCoder):
    """Encode a rotated box relative to a horizontal prior as 6 deltas
    ``(dx, dy, dw, dh, da, db)`` (Xie et al., *Oriented R-CNN*, ICCV 2021).

    With prior ``(px, py, pw, ph)`` (centre and size) and a target whose
    axis-aligned hull has centre ``(gx, gy)`` and size ``(gw, gh)``:
    ``dx = (gx - px) / pw``, ``dy = (gy - py) / ph``, ``dw = ln(gw / pw)``,
    ``dh = ln(gh / ph)``; ``da = (ga - gx) / gw`` with ``ga`` the x of the
    target corner on the hull's top side and ``db = (gb - gy) / gh`` with
    ``gb`` the y of the corner on its right side (corners within 0.1 px of
    the side; the largest if several). Deltas are normalised by
    ``target_means`` / ``target_stds``. As mmrotate, encoding runs in
    float32.

    Decoding rebuilds the hull ``(x1, y1, x2, y2)``, the midpoint-offset
    quadrilateral ``(gx + da gw, y1), (x2, gy + db gh), (gx - da gw, y2),
    (x1, gy - db gh)`` (``da``, ``db`` clamped to [-0.5, 0.5]), scales each
    vertex from the centre to the longest diagonal so that it becomes a
    rectangle, and returns that rectangle regularised to ``angle_version``.
    (mmrotate fits the rectangle with ``cv2.minAreaRect`` in float32; here
    its sides are read off exactly.)

    Args:
        target_means (Sequence[float]): 6 delta means.
        target_stds (Sequence[float]): 6 delta standard deviations.
        angle_version (str): ``'oc'``, ``'le90'`` or ``'le135'``.
            Defaults to ``'oc'``.
        use_box_type (bool): Decode to :class:`RotatedBoxes`. Defaults to
            True.
    """

    encode_size = 6

    def __init__(self,
                 target_means: Sequence[float] = (0., 0., 0., 0., 0., 0.),
                 target_stds: Sequence[float] = (1., 1., 1., 1., 1., 1.),
                 angle_version: str = 'oc',
                 use_box_type: bool = True) -> None:
        super().__init__(use_box_type=use_box_type)
        if len(target_means) != 6 or len(target_stds) != 6:
            raise ValueError('MidpointOffsetCoder needs 6 target_means and '
                             f'6 target_stds, got {target_means}, '
                             f'{target_stds}.')
        if angle_version not in ('oc', 'le90', 'le135'):
            raise ValueError('angle_version must be oc, le90 or le135, got '
                             f'{angle_version!r}.')
        self.means = tuple(target_means)
        self.stds = tuple(target_stds)
        self.angle_version = angle_version

    def encode(self, bboxes: Union[HorizontalBoxes, Tensor],
               gt_bboxes: Union[RotatedBoxes, Tensor]) -> Tensor:
        """Deltas (N, 6) of rotated targets (N, 5) from horizontal priors
        (N, 4)."""
        priors = get_box_tensor(bboxes).float()
        gts = regularize_rboxes(
            get_box_tensor(gt_bboxes), pattern=self.angle_version).float()
        if priors.size(-1) != 4 or gts.size(-1) != 5 or \
                priors.size(0) != gts.size(0):
            raise ValueError('MidpointOffsetCoder.encode needs (N, 4) priors '
                             'and (N, 5) targets, got '
                             f'{tuple(priors.shape)}, {tuple(gts.shape)}.')
        px = (priors[:, 0] + priors[:, 2]) * 0.5
        py = (priors[:, 1] + priors[:, 3]) * 0.5
        pw = priors[:, 2] - priors[:, 0]
        ph = priors[:, 3] - priors[:, 1]
        hull = rbox2hbox(gts)
        quad = rbox2qbox(gts)
        xs, ys = quad[:, 0::2], quad[:, 1::2]
        gx = (hull[:, 0] + hull[:, 2]) * 0.5
        gy = (hull[:, 1] + hull[:, 3]) * 0.5
        gw = hull[:, 2] - hull[:, 0]
        gh = hull[:, 3] - hull[:, 1]
        on_top = (ys - ys.min(dim=1, keepdim=True)[0]).abs() <= 0.1
        on_right = (xs - xs.max(dim=1, keepdim=True)[0]).abs() <= 0.1
        ga = torch.where(on_top, xs, torch.full_like(xs, -1000)).max(1)[0]
        gb = torch.where(on_right, ys, torch.full_like(ys, -1000)).max(1)[0]
        deltas = torch.stack([(gx - px) / pw, (gy - py) / ph,
                              torch.log(gw / pw),
                              torch.log(gh / ph), (ga - gx) / gw,
                              (gb - gy) / gh], dim=-1)
        return (deltas - deltas.new_tensor(self.means)) / deltas.new_tensor(
            self.stds)

    def decode(self,
               bboxes: Union[HorizontalBoxes, Tensor],
               pred_bboxes: Tensor,
               max_shape: Optional[Sequence[int]] = None,
               wh_ratio_clip: float = 16 / 1000
               ) -> Union[RotatedBoxes, Tensor]:
        """Rotated boxes (N, 5) from priors (N, 4) and deltas (N, 6).

        ``max_shape`` is accepted for mmdet's API; boxes are not clipped.
        ``dw``/``dh`` are clamped to ``|ln(wh_ratio_clip)|``.
        """
        priors = get_box_tensor(bboxes)
        if pred_bboxes.size(-1) != 6 or priors.size(-1) != 4:
            raise ValueError('MidpointOffsetCoder.decode needs (N, 4) priors '
                             'and (N, 6) deltas, got '
                             f'{tuple(priors.shape)}, '
                             f'{tuple(pred_bboxes.shape)}.')
        if pred_bboxes.size(0) == 0:
            boxes = pred_bboxes.new_zeros((0, 5))
            return RotatedBoxes(boxes) if self.use_box_type else boxes
        deltas = pred_bboxes * pred_bboxes.new_tensor(
            self.stds) + pred_bboxes.new_tensor(self.means)
        dx, dy, dw, dh, da, db = deltas.unbind(dim=-1)
        max_ratio = abs(math.log(wh_ratio_clip))
        dw = dw.clamp(min=-max_ratio, max=max_ratio)
        dh = dh.clamp(min=-max_ratio, max=max_ratio)
        px = (priors[:, 0] + priors[:, 2]) * 0.5
        py = (priors[:, 1] + priors[:, 3]) * 0.5
        pw = priors[:, 2] - priors[:, 0]
        ph = priors[:, 3] - priors[:, 1]
        gw, gh = pw * dw.exp(), ph * dh.exp()
        gx, gy = px + pw * dx, py + ph * dy
        da = da.clamp(min=-0.5, max=0.5)
        db = db.clamp(min=-0.5, max=0.5)
        # vertices relative to the centre: top, right, bottom, left midpoints
        top = torch.stack([da * gw, -gh * 0.5], dim=-1)
        right = torch.stack([gw * 0.5, db * gh], dim=-1)
        verts = torch.stack([top, right, -top, -right], dim=1)  # (N, 4, 2)
        radius = verts.norm(dim=-1)
        scale = radius.max(dim=1, keepdim=True)[0] / radius
        verts = verts * scale[..., None]
        side_w = verts[:, 1] - verts[:, 0]
        side_h = verts[:, 2] - verts[:, 1]
        boxes = torch.stack([
            gx, gy,
            side_w.norm(dim=-1),
            side_h.norm(dim=-1),
            torch.atan2(side_w[:, 1], side_w[:, 0])
        ], dim=-1)
        boxes = regularize_rboxes(boxes, pattern=self.angle_version)
        return RotatedBoxes(boxes) if self.use_box_type else boxes
