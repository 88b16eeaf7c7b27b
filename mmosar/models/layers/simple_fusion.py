"""Parameter-light two-stream fusions (the ablation fallbacks of AFM)."""
from typing import Optional

import torch
from mmengine.model import BaseModule
from torch import Tensor

from mmosar.registry import MODELS

from .yolo_blocks import yolo_conv


@MODELS.register_module()
class AddFusion(BaseModule):
    """``x_opt + x_sar``; no parameters.

    Shapes: two ``(B, C, H, W)`` maps -> ``(B, C, H, W)``.
    """

    def __init__(self, channels: int, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.channels = channels

    def forward(self, x_opt: Tensor, x_sar: Tensor) -> Tensor:
        return x_opt + x_sar


@MODELS.register_module()
class ConcatConvFusion(BaseModule):
    """``Conv1x1-BN-SiLU(cat(x_opt, x_sar))``: ``2C -> C`` channels.

    Shapes: two ``(B, C, H, W)`` maps -> ``(B, C, H, W)``.
    """

    def __init__(self,
                 channels: int,
                 norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.channels = channels
        self.conv = yolo_conv(
            2 * channels, channels, norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, x_opt: Tensor, x_sar: Tensor) -> Tensor:
        return self.conv(torch.cat([x_opt, x_sar], dim=1))
