"""Coders between horizontal priors and rotated or horizontal targets
(RoI Transformer's first stage and its RPN)."""
import math
from typing import Optional, Sequence, Union

import torch
from mmdet.models.task_modules.coders import (
    BaseBBoxCoder,
    DeltaXYWHBBoxCoder,
)
from mmdet.structures.bbox import HorizontalBoxes, get_box_tensor
from torch import Tensor

from mmosar.registry import TASK_UTILS
from mmosar.structures.bbox import (
    RotatedBoxes,
    norm_angle,
    rbox2hbox,
    regularize_rboxes,
)


@TASK_UTILS.register_module()
class DeltaXYWHHBBoxCoder(DeltaXYWHBBoxCoder):
    """mmdet's ``DeltaXYWHBBoxCoder`` whose targets may be rotated boxes:
    a rotated target (N, 5) is encoded through its axis-aligned hull
    (mmrotate 1.x ``DeltaXYWHHBBoxCoder``, the RPN coder of RoI
    Transformer). Decoding is mmdet's."""

    def encode(self, bboxes: Union[HorizontalBoxes, Tensor],
               gt_bboxes: Union[RotatedBoxes, Tensor]) -> Tensor:
        """Deltas (N, 4) of targets (N, 5) or (N, 4) from priors (N, 4)."""
        gts = get_box_tensor(gt_bboxes)
        if gts.size(-1) == 5:
            gts = rbox2hbox(gts)
        return super().encode(get_box_tensor(bboxes), gts)


@TASK_UTILS.register_module()
class DeltaXYWHTHBBoxCoder(BaseBBoxCoder):
    """Encode a rotated box as 5 deltas from a horizontal prior (mmrotate
    1.x ``DeltaXYWHTHBBoxCoder``, RoI Transformer's first stage).

    With prior centre/size ``(px, py, pw, ph)`` and a target regularised to
    ``angle_version``: ``dx = (gx - px) / pw``, ``dy = (gy - py) / ph``,
    ``dw = ln(gw / pw)``, ``dh = ln(gh / ph)``, ``dt = norm_angle(gt)``
    (divided by ``norm_factor * pi`` when set). With ``edge_swap`` the
    target is written as ``(gh, gw, gt + pi/2)`` unless its plain angle has
    the strictly smaller magnitude. Decoding inverts this (``dw``, ``dh``
    clamped to ``|ln(wh_ratio_clip)|``; with ``add_ctr_clamp`` the centre
    shift is clamped to ``ctr_clamp`` px), wraps the angle and, with
    ``edge_swap``, swaps ``w``/``h`` unless ``w > h``. Boxes are not clipped
    to the image. As mmrotate, encoding runs in float32.

    Args:
        target_means (Sequence[float]): 5 delta means.
        target_stds (Sequence[float]): 5 delta standard deviations.
        angle_version (str): ``'oc'``, ``'le90'``, ``'le135'`` or ``'r360'``.
        norm_factor (float, optional): Angle normaliser.
        edge_swap (bool): Allow the swapped form. Defaults to False.
        clip_border (bool): Accepted for mmrotate configs; unused (mmrotate
            does not clip either).
        add_ctr_clamp (bool): Clamp the centre shift. Defaults to False.
        ctr_clamp (int): Centre shift bound in px. Defaults to 32.
        use_box_type (bool): Decode to :class:`RotatedBoxes`.
    """

    encode_size = 5

    def __init__(self,
                 target_means: Sequence[float] = (0., 0., 0., 0., 0.),
                 target_stds: Sequence[float] = (1., 1., 1., 1., 1.),
                 angle_version: str = 'oc',
                 norm_factor: Optional[float] = None,
                 edge_swap: bool = False,
                 clip_border: bool = True,
                 add_ctr_clamp: bool = False,
                 ctr_clamp: int = 32,
                 use_box_type: bool = True) -> None:
        super().__init__(use_box_type=use_box_type)
        if angle_version not in ('oc', 'le90', 'le135', 'r360'):
            raise ValueError(f'Unknown angle_version {angle_version!r}.')
        self.means = tuple(target_means)
        self.stds = tuple(target_stds)
        self.angle_version = angle_version
        self.norm_factor = norm_factor
        self.edge_swap = edge_swap
        self.clip_border = clip_border
        self.add_ctr_clamp = add_ctr_clamp
        self.ctr_clamp = ctr_clamp

    def _wrap(self, angle: Tensor) -> Tensor:
        if self.angle_version == 'oc':
            return angle
        return norm_angle(angle, self.angle_version)

    def encode(self, bboxes: Union[HorizontalBoxes, Tensor],
               gt_bboxes: Union[RotatedBoxes, Tensor]) -> Tensor:
        """Deltas (N, 5) of rotated targets (N, 5) from horizontal priors
        (N, 4)."""
        priors = get_box_tensor(bboxes).float()
        gts = get_box_tensor(gt_bboxes)
        if self.angle_version != 'r360':
            gts = regularize_rboxes(gts, pattern=self.angle_version)
        gts = gts.float()
        px = (priors[:, 0] + priors[:, 2]) * 0.5
        py = (priors[:, 1] + priors[:, 3]) * 0.5
        pw = priors[:, 2] - priors[:, 0]
        ph = priors[:, 3] - priors[:, 1]
        gx, gy, gw, gh, gt = gts.unbind(dim=-1)
        dt = self._wrap(gt)
        if self.edge_swap:
            dt_swapped = self._wrap(gt + math.pi / 2)
            plain = dt.abs() < dt_swapped.abs()
            gw, gh = torch.where(plain, gw, gh), torch.where(plain, gh, gw)
            dt = torch.where(plain, dt, dt_swapped)
        if self.norm_factor:
            dt = dt / (self.norm_factor * math.pi)
        deltas = torch.stack([(gx - px) / pw, (gy - py) / ph,
                              torch.log(gw / pw),
                              torch.log(gh / ph), dt], dim=-1)
        return (deltas - deltas.new_tensor(self.means)) / deltas.new_tensor(
            self.stds)

    def decode(self,
               bboxes: Union[HorizontalBoxes, Tensor],
               pred_bboxes: Tensor,
               max_shape: Optional[Sequence[int]] = None,
               wh_ratio_clip: float = 16 / 1000
               ) -> Union[RotatedBoxes, Tensor]:
        """Rotated boxes (N, 5) from horizontal priors (N, 4) and deltas
        (N, 5)."""
        priors = get_box_tensor(bboxes)
        if pred_bboxes.size(-1) != 5 or priors.size(-1) != 4:
            raise ValueError('DeltaXYWHTHBBoxCoder.decode needs (N, 4) '
                             'priors and (N, 5) deltas, got '
                             f'{tuple(priors.shape)}, '
                             f'{tuple(pred_bboxes.shape)}.')
        deltas = pred_bboxes * pred_bboxes.new_tensor(
            self.stds) + pred_bboxes.new_tensor(self.means)
        dx, dy, dw, dh, dt = deltas.unbind(dim=-1)
        if self.norm_factor:
            dt = dt * (self.norm_factor * math.pi)
        px = (priors[..., 0] + priors[..., 2]) * 0.5
        py = (priors[..., 1] + priors[..., 3]) * 0.5
        pw = priors[..., 2] - priors[..., 0]
        ph = priors[..., 3] - priors[..., 1]
        ox, oy = pw * dx, ph * dy
        max_ratio = abs(math.log(wh_ratio_clip))
        if self.add_ctr_clamp:
            ox = ox.clamp(-self.ctr_clamp, self.ctr_clamp)
            oy = oy.clamp(-self.ctr_clamp, self.ctr_clamp)
            dw, dh = dw.clamp(max=max_ratio), dh.clamp(max=max_ratio)
        else:
            dw = dw.clamp(-max_ratio, max_ratio)
            dh = dh.clamp(-max_ratio, max_ratio)
        gw, gh, gt = pw * dw.exp(), ph * dh.exp(), self._wrap(dt)
        if self.edge_swap:
            keep = gw > gh
            gw, gh, gt = (torch.where(keep, gw, gh), torch.where(keep, gh, gw),
                          self._wrap(torch.where(keep, gt, gt + math.pi / 2)))
        boxes = torch.stack([px + ox, py + oy, gw, gh, gt], dim=-1)
        return RotatedBoxes(boxes) if self.use_box_type else boxes
