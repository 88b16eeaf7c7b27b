"""RoI feature extractor for rotated RoIs."""
from typing import Optional, Sequence, Union

import torch
from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
from mmengine.utils import to_2tuple
from torch import Tensor

from mmosar.registry import MODELS


@MODELS.register_module()
class RotatedSingleRoIExtractor(SingleRoIExtractor):
    """Pool each rotated RoI from one FPN level (mmrotate 1.x
    ``RotatedSingleRoIExtractor``).

    RoIs are ``(batch_idx, cx, cy, w, h, t)``. A RoI of scale
    ``s = sqrt(w h)`` goes to level ``floor(log2(s / finest_scale + 1e-6))``
    clamped to the available levels (FPN's rule), and is pooled there by the
    configured mmcv layer, usually ``RoIAlignRotated`` (float32 and float64
    CPU kernels; on CPU, half-precision features, e.g. under bfloat16
    autocast, are pooled in float32).

    Args:
        roi_layer (dict): mmcv RoI layer, e.g. ``dict(type='RoIAlignRotated',
            out_size=7, sample_num=2, clockwise=True)``.
        out_channels (int): Channels of the pooled features.
        featmap_strides (list[int]): Strides of the input maps.
        finest_scale (int): Scale mapped to level 0. Defaults to 56.
        init_cfg (dict, optional): Initialisation config.
    """

    def map_roi_levels(self, rois: Tensor, num_levels: int) -> Tensor:
        """Level index (0-based) of each RoI (k, 6) by ``sqrt(w h)``."""
        scale = torch.sqrt(rois[:, 3] * rois[:, 4])
        levels = torch.floor(torch.log2(scale / self.finest_scale + 1e-6))
        return levels.clamp(min=0, max=num_levels - 1).long()

    def roi_rescale(self, rois: Tensor,
                    scale_factor: Union[float, Sequence[float]]) -> Tensor:
        """RoIs with ``w`` and ``h`` multiplied by ``scale_factor``
        (``(h_factor, w_factor)`` or one number)."""
        if scale_factor is None:
            return rois
        h_factor, w_factor = to_2tuple(scale_factor)
        new_rois = rois.clone()
        new_rois[:, 3] = w_factor * new_rois[:, 3]
        new_rois[:, 4] = h_factor * new_rois[:, 4]
        return new_rois

    def forward(self,
                feats: Sequence[Tensor],
                rois: Tensor,
                roi_scale_factor: Optional[float] = None) -> Tensor:
        """Pooled features (k, out_channels, out_h, out_w) of RoIs (k, 6)."""
        if not feats[0].is_cuda and feats[0].dtype in (torch.float16,
                                                       torch.bfloat16):
            feats = [feat.float() for feat in feats]
        return super().forward(tuple(feats), rois, roi_scale_factor)
