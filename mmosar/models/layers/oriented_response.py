"""Oriented response convolution and rotation-invariant pooling (ORN,
Zhou et al., CVPR 2017), as used by S2A-Net's refinement head."""
import math
from typing import Tuple

import torch
import torch.nn.functional as F
from mmcv.ops import active_rotated_filter
from mmengine.utils import to_2tuple
from torch import Tensor, nn
from torch.nn import Parameter

#: positions (1-based, row-major) of a 3x3 kernel's ring, clockwise from the
#: top-left corner; a rotation by k * 45 degrees shifts the ring by k
_RING = (1, 2, 3, 6, 9, 8, 7, 4)


def _rotated_position(position: int, kernel_size: int, angle: float) -> int:
    """1-based kernel position that moves to ``position`` when the kernel
    is rotated by ``angle`` (a multiple of 45 degrees)."""
    if kernel_size == 1 or position == 5:
        return position
    steps = int(round(angle / 45))
    return _RING[(_RING.index(position) + steps) % 8]


class ORConv2d(nn.Conv2d):
    """Oriented response convolution (mmrotate 1.x ``ORConv2d``).

    The weight (out, in, nOrientation, kH, kW) is expanded by mmcv's
    ``active_rotated_filter`` into ``nRotation`` rotated copies (rotations by
    ``360 / nRotation`` degrees: kernel positions move round the 3x3 ring,
    orientation channels shift), giving ``out * nRotation`` output channels.
    ``indices`` (int32, (nOrientation, kH, kW, nRotation)) is the constant
    lookup table of that expansion.

    Args:
        in_channels (int): Input channels (per orientation).
        out_channels (int): Output channels per rotation.
        kernel_size (int): 1 or 3.
        arf_config (tuple): ``(nOrientation, nRotation)``, powers of 2.
        stride, padding, dilation, groups, bias: as ``nn.Conv2d``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 3,
                 arf_config: Tuple[int, int] = None,
                 stride: int = 1,
                 padding: int = 0,
                 dilation: int = 1,
                 groups: int = 1,
                 bias: bool = True) -> None:
        self.nOrientation, self.nRotation = to_2tuple(arf_config)
        for value in (self.nOrientation, self.nRotation):
            if value < 1 or value & (value - 1) or value > 8:
                raise ValueError(f'ORConv2d arf_config values must be 1, 2, '
                                 f'4 or 8, got {arf_config}.')
        super().__init__(in_channels, out_channels, kernel_size, stride,
                         padding, dilation, groups, bias)
        if self.kernel_size not in ((1, 1), (3, 3)):
            raise ValueError('ORConv2d supports 1x1 and 3x3 kernels, got '
                             f'{self.kernel_size}.')
        self.register_buffer('indices', self.get_indices())
        self.weight = Parameter(
            torch.empty(out_channels, in_channels, self.nOrientation,
                        *self.kernel_size))
        if bias:
            self.bias = Parameter(torch.empty(out_channels * self.nRotation))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He-normal weights over ``in * nOrientation * kH * kW``, zero
        bias."""
        fan_in = self.in_channels * self.nOrientation * math.prod(
            self.kernel_size)
        with torch.no_grad():
            self.weight.normal_(0, math.sqrt(2.0 / fan_in))
            if self.bias is not None:
                self.bias.zero_()

    def get_indices(self) -> Tensor:
        """(nOrientation, kH, kW, nRotation) int32 1-based lookup table."""
        kernel_h, kernel_w = self.kernel_size
        area = kernel_h * kernel_w
        d_orientation = 360 / self.nOrientation
        d_rotation = 360 / self.nRotation
        indices = torch.empty(self.nOrientation * area, self.nRotation,
                              dtype=torch.int32)
        for i in range(self.nOrientation):
            for j in range(area):
                for k in range(self.nRotation):
                    angle = d_rotation * k
                    layer = (i + math.floor(angle / d_orientation)
                             ) % self.nOrientation
                    indices[i * area + j, k] = layer * area + \
                        _rotated_position(j + 1, kernel_w, angle)
        return indices.view(self.nOrientation, kernel_h, kernel_w,
                            self.nRotation)

    def forward(self, x: Tensor) -> Tensor:
        """Convolution with the rotated filter bank."""
        return F.conv2d(x, active_rotated_filter(self.weight, self.indices),
                        self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class RotationInvariantPooling(nn.Module):
    """Max over the ``nOrientation`` responses of each channel group:
    (N, C * nOrientation, H, W) -> (N, C, H, W)."""

    def __init__(self, nInputPlane: int, nOrientation: int = 8) -> None:
        super().__init__()
        self.nInputPlane = nInputPlane
        self.nOrientation = nOrientation

    def forward(self, x: Tensor) -> Tensor:
        n, _, h, w = x.size()
        return x.view(n, -1, self.nOrientation, h, w).max(dim=2)[0]
