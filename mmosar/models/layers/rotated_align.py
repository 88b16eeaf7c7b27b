"""Feature refinement along rotated boxes (R3Det's FRM)."""
from typing import List, Sequence

import torch
from mmcv.ops import rotated_feature_align
from mmengine.model import BaseModule, normal_init
from torch import Tensor, nn

from mmosar.registry import MODELS


@MODELS.register_module()
class FRM(BaseModule):
    """Feature Refinement Module (Yang et al., *R3Det*, AAAI 2021), as
    mmrotate 1.x ``FRM``.

    Per level: ``f = conv_5_1(conv_1_5(x)) + conv_1_1(x)``, re-aligned by
    mmcv's ``rotated_feature_align`` to each location's best rotated box
    (``points=1``, ``spatial_scale = 1 / stride``), and added to ``x``.
    On CPU, half-precision maps (e.g. under bfloat16 autocast) are aligned
    in float32: mmcv's CPU kernel has no half-precision variant.

    Args:
        feat_channels (int): Channels of the maps.
        strides (list[int]): Level strides (``spatial_scale = 1 / stride``).
    """

    def __init__(self, feat_channels: int, strides: Sequence[int]) -> None:
        super().__init__()
        self.feat_channels = feat_channels
        self.strides = strides
        self.conv_5_1 = nn.Conv2d(
            feat_channels, feat_channels, (5, 1), padding=(2, 0))
        self.conv_1_5 = nn.Conv2d(
            feat_channels, feat_channels, (1, 5), padding=(0, 2))
        self.conv_1_1 = nn.Conv2d(feat_channels, feat_channels, 1)

    def init_weights(self) -> None:
        """Convs ~ N(0, 0.01)."""
        for conv in (self.conv_5_1, self.conv_1_5, self.conv_1_1):
            normal_init(conv, std=0.01)

    def forward(self, x: List[Tensor],
                rois: List[List[Tensor]]) -> List[Tensor]:
        """Refined maps.

        Args:
            x (list[Tensor]): Per level (B, C, H, W).
            rois (list[list[Tensor]]): Per image, per level (H * W, 5) best
                box of each location (location-major).
        """
        out = []
        for feat, boxes, stride in zip(x, [torch.cat(r) for r in zip(*rois)],
                                       self.strides):
            refined = self.conv_5_1(self.conv_1_5(feat)) + self.conv_1_1(feat)
            if not refined.is_cuda and refined.dtype in (torch.float16,
                                                         torch.bfloat16):
                # mmcv's CPU kernel has no half-precision variant
                aligned = rotated_feature_align(
                    refined.float(), boxes.float(), 1 / stride).to(feat)
            else:
                aligned = rotated_feature_align(refined, boxes.to(refined),
                                                1 / stride)
            out.append(feat + aligned)
        return out
