"""Anchor generators that emit rotated anchors ``(cx, cy, w, h, t)``."""
import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmdet.models.task_modules.prior_generators import AnchorGenerator
from mmdet.structures.bbox import get_box_tensor
from torch import Tensor
from torch.nn.modules.utils import _pair

from mmosar.registry import TASK_UTILS
from mmosar.structures.bbox import RotatedBoxes, hbox2rbox, regularize_rboxes


@TASK_UTILS.register_module()
class FakeRotatedAnchorGenerator(AnchorGenerator):
    """mmdet's horizontal anchors, written as rotated boxes with angle 0.

    The anchors are regularised into ``angle_version``: with a long-edge
    convention (``le90``/``le135``) a tall anchor ``(w, h, 0)`` becomes
    ``(h, w, pi/2)`` wrapped into the range. All other arguments are those of
    :class:`mmdet.models.task_modules.AnchorGenerator`.

    Args:
        angle_version (str, optional): ``'oc'``, ``'le90'`` or ``'le135'``;
            None keeps the angle 0. Defaults to ``'oc'``.
        use_box_type (bool): Return :class:`RotatedBoxes` instead of
            tensors. Defaults to True, so that mmdet's
            ``anchor_inside_flags`` (``allowed_border >= 0``) tests rotated
            anchors by their centres instead of reading their columns as
            ``(x1, y1, x2, y2)``.
    """

    def __init__(self,
                 *args,
                 angle_version: Optional[str] = 'oc',
                 use_box_type: bool = True,
                 **kwargs) -> None:
        super().__init__(*args, use_box_type=use_box_type, **kwargs)
        self.angle_version = angle_version

    def _to_rbox(self, hboxes: Tensor) -> Tensor:
        """(N, 4) hboxes -> (N, 5) regularised rboxes with angle 0."""
        rboxes = hbox2rbox(get_box_tensor(hboxes))
        if self.angle_version is not None:
            rboxes = regularize_rboxes(rboxes, pattern=self.angle_version)
        return rboxes

    def _wrap(self, rboxes: Tensor) -> Union[Tensor, RotatedBoxes]:
        return RotatedBoxes(rboxes) if self.use_box_type else rboxes

    def single_level_grid_priors(self,
                                 featmap_size: Tuple[int, int],
                                 level_idx: int,
                                 dtype: torch.dtype = torch.float32,
                                 device: Union[str, torch.device] = 'cuda'
                                 ) -> Union[Tensor, RotatedBoxes]:
        """Rotated anchors of one level, shape (H * W * A, 5)."""
        hboxes = super().single_level_grid_priors(
            featmap_size, level_idx, dtype=dtype, device=device)
        return self._wrap(self._to_rbox(hboxes))

    def sparse_priors(self,
                      prior_idxs: Tensor,
                      featmap_size: Tuple[int, int],
                      level_idx: int,
                      dtype: torch.dtype = torch.float32,
                      device: Union[str, torch.device] = 'cuda'
                      ) -> Union[Tensor, RotatedBoxes]:
        """Rotated anchors at ``prior_idxs`` of one level, shape (N, 5)."""
        hboxes = super().sparse_priors(
            prior_idxs, featmap_size, level_idx, dtype=dtype, device=device)
        return self._wrap(self._to_rbox(hboxes))


@TASK_UTILS.register_module()
class RotatedAnchorGenerator(FakeRotatedAnchorGenerator):
    """Anchors at several angles: every horizontal anchor is repeated once per
    angle in ``angles`` (radians).

    Per location the order is (base anchor, angle), so a level has
    ``H * W * A * len(angles)`` anchors and ``num_base_priors`` counts the
    angles. Angles are added before regularisation into ``angle_version``.

    Args:
        angles (Sequence[float]): Anchor angles in radians. Defaults to
            ``(-pi/3, -pi/6, 0, pi/6, pi/3, pi/2)``.
        **kwargs: See :class:`FakeRotatedAnchorGenerator`.
    """

    def __init__(self,
                 *args,
                 angles: Sequence[float] = (-math.pi / 3, -math.pi / 6, 0.0,
                                            math.pi / 6, math.pi / 3,
                                            math.pi / 2),
                 **kwargs) -> None:
        if len(angles) == 0:
            raise ValueError('RotatedAnchorGenerator needs at least 1 angle.')
        self.angles = tuple(float(a) for a in angles)
        super().__init__(*args, **kwargs)

    @property
    def num_base_priors(self) -> List[int]:
        """Number of anchors per location at each level."""
        return [
            base.size(0) * len(self.angles) for base in self.base_anchors
        ]

    def _to_rbox(self, hboxes: Tensor) -> Tensor:
        rboxes = hbox2rbox(get_box_tensor(hboxes))
        angles = rboxes.new_tensor(self.angles)
        rboxes = rboxes[:, None, :].repeat(1, len(self.angles), 1)
        rboxes[..., 4] = angles
        rboxes = rboxes.reshape(-1, 5)
        if self.angle_version is not None:
            rboxes = regularize_rboxes(rboxes, pattern=self.angle_version)
        return rboxes

    def sparse_priors(self, *args, **kwargs):
        """Not supported: a prior index here spans (anchor, angle) pairs."""
        raise NotImplementedError(
            'RotatedAnchorGenerator does not implement sparse_priors.')


@TASK_UTILS.register_module()
class PseudoRotatedAnchorGenerator(AnchorGenerator):
    """Placeholder generator of refinement heads whose anchors are the
    previous stage's boxes (mmrotate 1.x ``PseudoRotatedAnchorGenerator``):
    one prior per location, only ``strides`` (for valid flags) are used.

    Args:
        strides (list[int]): Level strides.
    """

    def __init__(self, strides: List[int]) -> None:
        self.strides = [_pair(stride) for stride in strides]

    @property
    def num_base_priors(self) -> List[int]:
        """One prior per location on every level."""
        return [1 for _ in self.strides]

    def single_level_grid_priors(self, *args, **kwargs):
        """Not available: the priors are the previous stage's boxes."""
        raise NotImplementedError(
            'PseudoRotatedAnchorGenerator has no grid priors; the head '
            'takes the previous stage boxes as anchors.')
