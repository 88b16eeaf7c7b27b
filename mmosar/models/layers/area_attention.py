"""Area attention (YOLOv12-style): softmax attention inside token areas.

The ``L = H W`` tokens of a map, in raster order, are cut into ``area``
contiguous groups of ``L / area`` tokens; with ``H`` divisible by ``area``
these are horizontal bands of ``H / area`` rows. Every group attends only
to itself, which cuts the cost of global attention by ``area``.
"""
from typing import Optional

import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmosar.registry import MODELS

from .yolo_blocks import yolo_conv


def area_attention(query: Tensor, key: Tensor, value: Tensor,
                   area: int) -> Tensor:
    """Scaled dot-product attention within ``area`` contiguous token groups.

    Args:
        query, key, value (Tensor): ``(B, heads, L, head_dim)``; ``L`` must
            be divisible by ``area``.
        area (int): number of groups (1 = global attention).

    Returns:
        Tensor: ``(B, heads, L, head_dim)``, softmax scale
        ``head_dim ** -0.5``.
    """
    b, heads, length, dim = query.shape
    if length % area:
        raise ValueError(f'area attention: {length} tokens cannot be split '
                         f'into {area} areas')

    def split(t: Tensor) -> Tensor:
        # areas folded into the head axis: 4-D inputs let SDPA use its fused
        # (flash) kernels; with a 5-D view it falls back to the math path,
        # which materialises every (L/area)^2 attention matrix (4x slower on
        # CPU, 0.5 GiB per P3 map of a 512 px pair)
        return t.reshape(b, heads * area, length // area, -1)

    out = F.scaled_dot_product_attention(
        split(query), split(key), split(value))
    return out.reshape(b, heads, length, value.shape[-1])


@MODELS.register_module()
class AreaAttention(BaseModule):
    """Multi-head area attention on a feature map, optionally cross-modal.

    ``qkv = BN(Conv1x1(x))`` (``3C`` channels; with a second modality
    ``y``, ``+ BN(Conv1x1'(y))``: the two projections are summed). Per head
    the ``3 * head_dim`` channels are ``[q | k | v]``. Output
    ``proj(area_attention(q, k, v) + pe(v))`` where ``pe`` is a 7x7
    depthwise conv (+BN) and ``proj`` a 1x1 conv (+BN). When ``H`` is not
    divisible by ``area`` the inputs are zero-padded at the bottom and the
    output is cropped back.

    Args:
        channels (int): ``C``.
        num_heads (int): heads; ``head_dim = C / num_heads``.
        area (int): areas per map.
        num_inputs (int): 1 (self-attention) or 2 (cross-modal, summed qkv).
        norm_cfg (dict, optional): default YOLO BatchNorm.
        init_cfg (dict, optional): mmengine init config.

    Shapes:
        ``forward(x (B, C, H, W)[, y (B, C, H, W)]) -> (B, C, H, W)``.
    """

    def __init__(self,
                 channels: int,
                 num_heads: int,
                 area: int = 2,
                 num_inputs: int = 1,
                 norm_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if channels % num_heads:
            raise ValueError(f'channels {channels} must be divisible by '
                             f'num_heads {num_heads}')
        if num_inputs not in (1, 2):
            raise ValueError(f'num_inputs must be 1 or 2, got {num_inputs}')
        self.channels = channels
        self.num_heads = num_heads
        self.head_dim = channels // num_heads
        self.area = area
        cfg = dict(with_act=False, norm_cfg=norm_cfg)
        self.qkv = yolo_conv(channels, 3 * channels, **cfg)
        self.qkv_second = (
            yolo_conv(channels, 3 * channels, **cfg)
            if num_inputs == 2 else None)
        self.pe = yolo_conv(channels, channels, 7, groups=channels, **cfg)
        self.proj = yolo_conv(channels, channels, **cfg)

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        if (y is None) != (self.qkv_second is None):
            raise ValueError('AreaAttention: pass a second map exactly when '
                             'built with num_inputs=2')
        b, c, h, w = x.shape
        pad = -h % self.area
        if pad:
            x = F.pad(x, (0, 0, 0, pad))
            y = None if y is None else F.pad(y, (0, 0, 0, pad))
        qkv = self.qkv(x)
        if y is not None:
            qkv = qkv + self.qkv_second(y)
        hp = h + pad
        # (B, 3C, H, W) -> (B, heads, L, 3 * head_dim)
        qkv = qkv.flatten(2).transpose(1, 2).reshape(
            b, hp * w, self.num_heads, 3 * self.head_dim).transpose(1, 2)
        q, k, v = qkv.split(self.head_dim, dim=-1)
        out = area_attention(q, k, v, self.area)

        def to_map(t: Tensor) -> Tensor:  # (B, heads, L, hd) -> (B, C, H, W)
            return t.transpose(1, 2).reshape(b, hp, w, c).permute(0, 3, 1, 2)

        out = self.proj(to_map(out) + self.pe(to_map(v)))
        return out[:, :, :h] if pad else out
