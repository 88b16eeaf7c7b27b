"""Delta coder between rotated anchors and rotated ground-truth boxes."""
import math
from typing import Optional, Sequence, Union

import torch
from mmdet.models.task_modules.coders import BaseBBoxCoder
from mmdet.structures.bbox import get_box_tensor
from torch import Tensor

from mmosar.registry import TASK_UTILS
from mmosar.structures.bbox import RotatedBoxes, norm_angle, regularize_rboxes


def _as_rbox_tensor(boxes: Union[Tensor, RotatedBoxes], name: str) -> Tensor:
    """Return the (..., 5) tensor of rotated boxes, or raise a clear error."""
    boxes = get_box_tensor(boxes)
    if boxes.size(-1) != 5:
        raise ValueError(f'{name} must be rotated boxes (cx, cy, w, h, t) '
                         f'with last dim 5, got shape {tuple(boxes.shape)}.')
    return boxes


@TASK_UTILS.register_module()
class DeltaXYWHTRBBoxCoder(BaseBBoxCoder):
    """Encode a rotated box as 5 deltas ``(dx, dy, dw, dh, dt)`` from a prior.

    With prior ``(px, py, pw, ph, pt)`` and target ``(gx, gy, gw, gh, gt)``:

    * centre: ``dx = (gx - px) / pw``, ``dy = (gy - py) / ph``; with
      ``proj_xy`` the offset ``(gx - px, gy - py)`` is first expressed in the
      prior's own frame (axes ``(cos pt, sin pt)`` and ``(-sin pt, cos pt)``).
    * size: ``dw = log(gw / pw)``, ``dh = log(gh / ph)``.
    * angle: ``dt = norm_angle(gt - pt)``, divided by ``norm_factor * pi``
      when ``norm_factor`` is set. With ``edge_swap`` the target may also be
      written as ``(gh, gw, gt + pi/2)`` (the same rectangle); the version with
      the smaller ``|dt|`` is used, so the angle delta never has to cross the
      boundary of the angle range.

    The deltas are then normalised with ``target_means`` / ``target_stds``.
    As in mmrotate 1.x, targets are first regularised to ``angle_version``,
    the swapped form is used unless the plain one has the strictly smaller
    ``|dt|``, and decoding wraps the angle (``norm_angle``, nothing for
    ``'oc'``) and, with ``edge_swap``, swaps ``w``/``h`` unless ``w > h``;
    with ``max_shape`` the centres are clamped to the image.

    Args:
        target_means (Sequence[float]): Means of the deltas. Defaults to 0.
        target_stds (Sequence[float]): Standard deviations of the deltas.
            Defaults to 1.
        angle_version (str, optional): ``'oc'``, ``'le90'`` or ``'le135'``.
            Used to wrap angle deltas and to regularise decoded boxes.
            Defaults to ``'oc'``.
        norm_factor (float, optional): Divide ``dt`` by ``norm_factor * pi``.
            Defaults to None.
        edge_swap (bool): Allow the ``(h, w, t + pi/2)`` form of the target.
            Defaults to False.
        proj_xy (bool): Express the centre offset in the prior's frame.
            Defaults to False.
        add_ctr_clamp (bool): Clamp the decoded centre shift to
            ``ctr_clamp`` pixels (and only upper-clamp ``dw``/``dh``).
            Defaults to False.
        ctr_clamp (int): Maximum centre shift in pixels. Defaults to 32.
        use_box_type (bool): Decode to :class:`RotatedBoxes` instead of a
            tensor. Defaults to True.
    """

    encode_size = 5

    def __init__(self,
                 target_means: Sequence[float] = (0., 0., 0., 0., 0.),
                 target_stds: Sequence[float] = (1., 1., 1., 1., 1.),
                 angle_version: Optional[str] = 'oc',
                 norm_factor: Optional[float] = None,
                 edge_swap: bool = False,
                 proj_xy: bool = False,
                 add_ctr_clamp: bool = False,
                 ctr_clamp: int = 32,
                 use_box_type: bool = True) -> None:
        super().__init__(use_box_type=use_box_type)
        if len(target_means) != 5 or len(target_stds) != 5:
            raise ValueError('target_means and target_stds need 5 values '
                             f'each, got {target_means} and {target_stds}.')
        if edge_swap and angle_version is None:
            raise ValueError('edge_swap=True needs an angle_version.')
        if angle_version is not None:
            norm_angle(0.0, angle_version)  # validates the name
        self.means = tuple(float(m) for m in target_means)
        self.stds = tuple(float(s) for s in target_stds)
        self.angle_version = angle_version
        self.norm_factor = norm_factor
        self.edge_swap = edge_swap
        self.proj_xy = proj_xy
        self.add_ctr_clamp = add_ctr_clamp
        self.ctr_clamp = ctr_clamp

    def _wrap(self, angle: Tensor) -> Tensor:
        """Angle wrapped into the convention's range as mmrotate's
        ``norm_angle`` (unchanged for ``None`` and ``'oc'``)."""
        if self.angle_version in (None, 'oc'):
            return angle
        return norm_angle(angle, self.angle_version)

    def encode(self, bboxes: Union[Tensor, RotatedBoxes],
               gt_bboxes: Union[Tensor, RotatedBoxes]) -> Tensor:
        """Deltas that turn ``bboxes`` into ``gt_bboxes``.

        Args:
            bboxes (Tensor | RotatedBoxes): Priors, shape (N, 5).
            gt_bboxes (Tensor | RotatedBoxes): Targets, shape (N, 5).

        Returns:
            Tensor: Normalised deltas, shape (N, 5).
        """
        priors = _as_rbox_tensor(bboxes, 'bboxes')
        gts = _as_rbox_tensor(gt_bboxes, 'gt_bboxes').to(priors.dtype)
        if self.angle_version is not None:
            gts = regularize_rboxes(gts, pattern=self.angle_version)
        if priors.shape[:-1] != gts.shape[:-1]:
            raise ValueError('bboxes and gt_bboxes must have the same number '
                             f'of boxes, got {tuple(priors.shape)} and '
                             f'{tuple(gts.shape)}.')
        px, py, pw, ph, pt = priors.unbind(-1)
        gx, gy, gw, gh, gt = gts.unbind(-1)
        ox, oy = gx - px, gy - py
        if self.proj_xy:
            cos, sin = torch.cos(pt), torch.sin(pt)
            ox, oy = cos * ox + sin * oy, -sin * ox + cos * oy
        dx, dy = ox / pw, oy / ph

        dt = self._wrap(gt - pt)
        if self.edge_swap:
            dt_swapped = self._wrap(gt + math.pi / 2 - pt)
            use_swap = ~(dt.abs() < dt_swapped.abs())
            gw, gh = (torch.where(use_swap, gh, gw),
                      torch.where(use_swap, gw, gh))
            dt = torch.where(use_swap, dt_swapped, dt)
        if self.norm_factor:
            dt = dt / (self.norm_factor * math.pi)
        dw, dh = torch.log(gw / pw), torch.log(gh / ph)

        deltas = torch.stack([dx, dy, dw, dh, dt], dim=-1)
        means = deltas.new_tensor(self.means)
        stds = deltas.new_tensor(self.stds)
        return (deltas - means) / stds

    def decode(self,
               bboxes: Union[Tensor, RotatedBoxes],
               pred_bboxes: Tensor,
               max_shape: Optional[Sequence[int]] = None,
               wh_ratio_clip: float = 16 / 1000
               ) -> Union[Tensor, RotatedBoxes]:
        """Apply deltas to priors.

        Args:
            bboxes (Tensor | RotatedBoxes): Priors, shape (N, 5) or (B, N, 5).
            pred_bboxes (Tensor): Normalised deltas, shape (N, 5) or
                (B, N, 5).
            max_shape (Sequence[int], optional): ``(H, W)``: as mmrotate,
                the decoded centres are clamped to ``[0, W - 1]`` x
                ``[0, H - 1]`` (sizes and angles are not clipped).
            wh_ratio_clip (float): Bound of ``|dw|`` and ``|dh|`` is
                ``|log(wh_ratio_clip)|``. Defaults to 16/1000.

        Returns:
            Tensor | RotatedBoxes: Decoded boxes, shape like ``pred_bboxes``.
        """
        priors = _as_rbox_tensor(bboxes, 'bboxes')
        if pred_bboxes.size(-1) != 5:
            raise ValueError('pred_bboxes must have last dim 5, got shape '
                             f'{tuple(pred_bboxes.shape)}.')
        means = pred_bboxes.new_tensor(self.means)
        stds = pred_bboxes.new_tensor(self.stds)
        dx, dy, dw, dh, dt = (pred_bboxes * stds + means).unbind(-1)
        px, py, pw, ph, pt = priors.unbind(-1)

        max_ratio = abs(math.log(wh_ratio_clip))
        ox, oy = dx * pw, dy * ph
        if self.add_ctr_clamp:
            ox = ox.clamp(-self.ctr_clamp, self.ctr_clamp)
            oy = oy.clamp(-self.ctr_clamp, self.ctr_clamp)
            dw, dh = dw.clamp(max=max_ratio), dh.clamp(max=max_ratio)
        else:
            dw = dw.clamp(-max_ratio, max_ratio)
            dh = dh.clamp(-max_ratio, max_ratio)
        if self.proj_xy:
            cos, sin = torch.cos(pt), torch.sin(pt)
            ox, oy = cos * ox - sin * oy, sin * ox + cos * oy
        if self.norm_factor:
            dt = dt * (self.norm_factor * math.pi)

        gx, gy = px + ox, py + oy
        if max_shape is not None:
            gx = gx.clamp(min=0, max=max_shape[1] - 1)
            gy = gy.clamp(min=0, max=max_shape[0] - 1)
        gw, gh, gt = pw * dw.exp(), ph * dh.exp(), self._wrap(pt + dt)
        if self.edge_swap:
            keep = gw > gh
            gw, gh, gt = (torch.where(keep, gw, gh), torch.where(keep, gh, gw),
                          self._wrap(torch.where(keep, gt, gt + math.pi / 2)))
        decoded = torch.stack([gx, gy, gw, gh, gt], dim=-1)
        if self.use_box_type:
            return RotatedBoxes(decoded)
        return decoded
