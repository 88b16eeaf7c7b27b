"""Feature alignment to rotated boxes: R3Det's FRM, S2A-Net's AlignConv."""
from typing import List, Sequence

import torch
from mmcv.ops import DeformConv2d, rotated_feature_align
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


@MODELS.register_module()
class AlignConv(BaseModule):
    """Alignment convolution of S2A-Net (Han et al., TGRS 2021), as
    mmrotate 1.x ``AlignConv``: a ``kernel_size`` x ``kernel_size`` mmcv
    ``DeformConv2d`` (+ ReLU) whose sampling points at each location are
    the kernel grid laid over that location's anchor box: offsets
    ``(dy, dx)`` of point ``(i, j)`` (``i, j in [-pad, pad]``) move the
    regular grid position to ``c + R(t) (j w / k, i h / k)`` in feature
    coordinates (box centre ``c``, size ``w, h`` divided by the stride).

    Args:
        feat_channels (int): Channels of the maps.
        kernel_size (int): Kernel size (odd).
        strides (list[int]): Level strides.
        deform_groups (int): Deformable groups. Defaults to 1.

    On CPU, half-precision maps are convolved in float32 (mmcv's CPU kernel
    has no half-precision variant).
    """

    def __init__(self,
                 feat_channels: int,
                 kernel_size: int,
                 strides: Sequence[int],
                 deform_groups: int = 1) -> None:
        super().__init__()
        self.feat_channels = feat_channels
        self.kernel_size = kernel_size
        self.strides = strides
        self.deform_conv = DeformConv2d(
            feat_channels,
            feat_channels,
            kernel_size=kernel_size,
            padding=(kernel_size - 1) // 2,
            deform_groups=deform_groups)
        self.relu = nn.ReLU(inplace=True)

    def init_weights(self) -> None:
        """Deformable conv ~ N(0, 0.01)."""
        normal_init(self.deform_conv, std=0.01)

    @torch.no_grad()
    def get_offset(self, boxes: Tensor, featmap_size: Sequence[int],
                   stride: int) -> Tensor:
        """Offsets (2 k^2, H, W) of boxes (H * W, 5), location-major."""
        dtype, device = boxes.dtype, boxes.device
        feat_h, feat_w = featmap_size
        pad = (self.kernel_size - 1) // 2
        idx = torch.arange(-pad, pad + 1, dtype=dtype, device=device)
        yy, xx = torch.meshgrid(idx, idx, indexing='ij')
        xx, yy = xx.reshape(-1), yy.reshape(-1)
        yc, xc = torch.meshgrid(
            torch.arange(feat_h, dtype=dtype, device=device),
            torch.arange(feat_w, dtype=dtype, device=device),
            indexing='ij')
        x_conv = xc.reshape(-1)[:, None] + xx
        y_conv = yc.reshape(-1)[:, None] + yy
        x_ctr, y_ctr, w, h, angle = (boxes / boxes.new_tensor(
            [stride, stride, stride, stride, 1])).unbind(dim=1)
        cos, sin = torch.cos(angle), torch.sin(angle)
        x = (w / self.kernel_size)[:, None] * xx
        y = (h / self.kernel_size)[:, None] * yy
        x_anchor = cos[:, None] * x - sin[:, None] * y + x_ctr[:, None]
        y_anchor = sin[:, None] * x + cos[:, None] * y + y_ctr[:, None]
        offset = torch.stack([y_anchor - y_conv, x_anchor - x_conv], dim=-1)
        return offset.reshape(boxes.size(0), -1).permute(1, 0).reshape(
            -1, feat_h, feat_w)

    def forward(self, x: List[Tensor],
                rois: List[List[Tensor]]) -> List[Tensor]:
        """Aligned maps; ``rois`` per image, per level (H * W, 5)."""
        out = []
        for level, (feat, stride) in enumerate(zip(x, self.strides)):
            offsets = torch.stack([
                self.get_offset(img_rois[level].reshape(-1, 5),
                                feat.shape[-2:], stride)
                for img_rois in rois
            ])
            if not feat.is_cuda and feat.dtype in (torch.float16,
                                                   torch.bfloat16):
                # mmcv's CPU deformable conv has no half-precision kernel
                aligned = self.deform_conv(feat.float(),
                                           offsets.float()).to(feat)
            else:
                aligned = self.deform_conv(feat, offsets.to(feat))
            out.append(self.relu(aligned))
        return out
