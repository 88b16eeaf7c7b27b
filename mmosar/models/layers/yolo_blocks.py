"""YOLO11-style building blocks (re-implemented from the architecture).

All convolutions are ``Conv2d (no bias) -> BatchNorm -> SiLU`` (mmcv
``ConvModule``) with YOLO's BatchNorm settings (momentum 0.03, eps 1e-3),
``padding = kernel_size // 2``, so a stride-1 block keeps ``H x W`` and a
stride-2 conv gives ``ceil(H / 2) x ceil(W / 2)``. Every block maps
``(B, in_channels, H, W)`` to ``(B, out_channels, H, W)``.

Blocks:

- :class:`YOLOBottleneck`: two convs, residual add when shapes match.
- :class:`C3k`: CSP block with two branches, bottlenecks on one of them.
- :class:`C3k2`: the YOLO11 "C2f"-style block: one 1x1 conv split into two
  halves, a chain of bottlenecks (or :class:`C3k` blocks) on the second
  half, every intermediate output concatenated and fused by a 1x1 conv.
- :class:`SPPF`: spatial pyramid pooling, three chained max-pools.
- :class:`PositionSensitiveAttention`, :class:`PSABlock`, :class:`C2PSA`:
  multi-head self-attention over all pixels with a depthwise positional
  conv, used on the stride-32 map.

Also the width/depth scaling rules of the YOLO11 model family
(:data:`YOLO11_ARCH_SETTINGS`, :func:`scale_channels`, :func:`scale_depth`).
"""
import math
from typing import Dict, Optional, Sequence, Tuple

import torch
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmosar.registry import MODELS

#: YOLO11 BatchNorm / activation settings.
YOLO_NORM_CFG = dict(type='BN', momentum=0.03, eps=0.001)
YOLO_ACT_CFG = dict(type='SiLU', inplace=True)

#: Scale name -> (deepen_factor, widen_factor, max_channels, c3k_everywhere).
#: ``c3k_everywhere``: the m/l/x models use C3k inner blocks in every C3k2.
YOLO11_ARCH_SETTINGS: Dict[str, Tuple[float, float, int, bool]] = {
    'n': (0.50, 0.25, 1024, False),
    's': (0.50, 0.50, 1024, False),
    'm': (0.50, 1.00, 512, True),
    'l': (1.00, 1.00, 512, True),
    'x': (1.00, 1.50, 512, True),
}


def get_arch_setting(arch: str) -> Tuple[float, float, int, bool]:
    """Returns ``(deepen, widen, max_channels, c3k_everywhere)``."""
    if arch not in YOLO11_ARCH_SETTINGS:
        raise ValueError(f'unknown YOLO11 scale {arch!r}; choose from '
                         f'{sorted(YOLO11_ARCH_SETTINGS)}')
    return YOLO11_ARCH_SETTINGS[arch]


def scale_channels(channels: int, widen_factor: float,
                   max_channels: int) -> int:
    """Width scaling: ``min(c, max) * widen`` rounded up to a multiple of 8."""
    return int(math.ceil(min(channels, max_channels) * widen_factor / 8) * 8)


def scale_depth(num_blocks: int, deepen_factor: float) -> int:
    """Depth scaling of a repeated block (never below 1)."""
    if num_blocks <= 1:
        return num_blocks
    return max(round(num_blocks * deepen_factor), 1)


def yolo_conv(in_channels: int,
              out_channels: int,
              kernel_size: int = 1,
              stride: int = 1,
              groups: int = 1,
              with_act: bool = True,
              norm_cfg: Optional[dict] = None,
              act_cfg: Optional[dict] = None) -> ConvModule:
    """``Conv2d(k, s, padding=k//2, bias=False) -> BN -> SiLU``.

    ``with_act=False`` drops the activation (YOLO's ``act=False``).
    """
    return ConvModule(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        padding=kernel_size // 2,
        groups=groups,
        norm_cfg=norm_cfg or YOLO_NORM_CFG,
        act_cfg=(act_cfg or YOLO_ACT_CFG) if with_act else None)


class YOLOInitModule(BaseModule):
    """``BaseModule`` that keeps PyTorch's default conv initialisation.

    mmcv's ``ConvModule.init_weights`` re-initialises its conv with Kaiming
    normal (fan_out) when the runner calls ``init_weights``; YOLO11 trains
    from PyTorch's default (Kaiming uniform, ``a = sqrt(5)``). Without an
    ``init_cfg`` every ``nn.Conv2d`` inside is reset to that default.
    """

    def init_weights(self) -> None:
        super().init_weights()
        if self.init_cfg is None:
            for module in self.modules():
                if isinstance(module, nn.Conv2d):
                    module.reset_parameters()


class YOLOBlock(YOLOInitModule):
    """Base of the YOLO blocks: stores the norm / activation configs."""

    def __init__(self,
                 norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.norm_cfg = norm_cfg or YOLO_NORM_CFG
        self.act_cfg = act_cfg or YOLO_ACT_CFG

    def conv(self, in_channels: int, out_channels: int, kernel_size: int = 1,
             stride: int = 1, groups: int = 1,
             with_act: bool = True) -> ConvModule:
        return yolo_conv(in_channels, out_channels, kernel_size, stride,
                         groups, with_act, self.norm_cfg, self.act_cfg)


@MODELS.register_module()
class YOLOBottleneck(YOLOBlock):
    """``x (+) conv_k2(conv_k1(x))``; hidden width ``out * expansion``.

    The residual is added only when ``shortcut`` and ``in == out``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 shortcut: bool = True,
                 kernel_sizes: Sequence[int] = (3, 3),
                 expansion: float = 0.5,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        hidden = int(out_channels * expansion)
        self.conv1 = self.conv(in_channels, hidden, kernel_sizes[0])
        self.conv2 = self.conv(hidden, out_channels, kernel_sizes[1])
        self.add_identity = shortcut and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(self.conv1(x))
        return x + out if self.add_identity else out


@MODELS.register_module()
class C3k(YOLOBlock):
    """CSP block: ``conv3(cat(blocks(conv1(x)), conv2(x)))``.

    ``conv1``/``conv2`` are 1x1 convs to ``out * expansion`` channels;
    ``blocks`` are ``num_blocks`` bottlenecks with ``kernel_size`` convs and
    no inner expansion.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 num_blocks: int = 1,
                 shortcut: bool = True,
                 expansion: float = 0.5,
                 kernel_size: int = 3,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        hidden = int(out_channels * expansion)
        self.conv1 = self.conv(in_channels, hidden)
        self.conv2 = self.conv(in_channels, hidden)
        self.conv3 = self.conv(2 * hidden, out_channels)
        self.blocks = nn.Sequential(*[
            YOLOBottleneck(
                hidden,
                hidden,
                shortcut,
                (kernel_size, kernel_size),
                expansion=1.0,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg) for _ in range(num_blocks)
        ])

    def forward(self, x: Tensor) -> Tensor:
        return self.conv3(
            torch.cat([self.blocks(self.conv1(x)), self.conv2(x)], dim=1))


@MODELS.register_module()
class C3k2(YOLOBlock):
    """YOLO11's C3k2 block.

    ``conv1`` (1x1) maps to ``2c`` channels with ``c = out * expansion`` and
    is split into halves ``[a, b]``; ``num_blocks`` inner blocks are chained
    on ``b`` (``b_1 = m_1(b)``, ``b_2 = m_2(b_1)``...); ``conv2`` (1x1) fuses
    ``cat(a, b, b_1, ..., b_k)`` (``(2 + k) c`` channels) to ``out``. The
    inner block is a :class:`C3k` with two bottlenecks when ``use_c3k``,
    else a :class:`YOLOBottleneck` (3x3, 3x3, expansion 0.5).
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 num_blocks: int = 1,
                 use_c3k: bool = False,
                 expansion: float = 0.5,
                 shortcut: bool = True,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.hidden = int(out_channels * expansion)
        cfgs = dict(norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.conv1 = self.conv(in_channels, 2 * self.hidden)
        self.conv2 = self.conv((2 + num_blocks) * self.hidden, out_channels)
        self.blocks = nn.ModuleList([
            C3k(self.hidden, self.hidden, 2, shortcut, **cfgs)
            if use_c3k else YOLOBottleneck(
                self.hidden, self.hidden, shortcut, **cfgs)
            for _ in range(num_blocks)
        ])

    def forward(self, x: Tensor) -> Tensor:
        outs = list(self.conv1(x).chunk(2, dim=1))
        for block in self.blocks:
            outs.append(block(outs[-1]))
        return self.conv2(torch.cat(outs, dim=1))


@MODELS.register_module()
class SPPF(YOLOBlock):
    """Fast spatial pyramid pooling.

    ``y0 = conv1(x)`` (1x1, ``in / 2`` channels), ``y_i = maxpool_k(y_{i-1})``
    (stride 1, same size) for i = 1..3, output ``conv2(cat(y0..y3))``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 5,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        hidden = in_channels // 2
        self.conv1 = self.conv(in_channels, hidden)
        self.conv2 = self.conv(4 * hidden, out_channels)
        self.pool = nn.MaxPool2d(kernel_size, 1, kernel_size // 2)

    def forward(self, x: Tensor) -> Tensor:
        outs = [self.conv1(x)]
        for _ in range(3):
            outs.append(self.pool(outs[-1]))
        return self.conv2(torch.cat(outs, dim=1))


@MODELS.register_module()
class PositionSensitiveAttention(YOLOBlock):
    """Multi-head self-attention over all ``H x W`` positions.

    A 1x1 conv (+BN, no activation) gives, per head, ``key_dim`` query,
    ``key_dim`` key and ``head_dim`` value channels (``head_dim =
    channels / num_heads``, ``key_dim = head_dim * attn_ratio``);
    ``out = proj(softmax(q^T k / sqrt(key_dim)) v + pe(v))`` where ``pe``
    is a 3x3 depthwise conv (+BN) on the value map.
    """

    def __init__(self,
                 channels: int,
                 num_heads: int = 8,
                 attn_ratio: float = 0.5,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if channels % num_heads:
            raise ValueError(f'channels {channels} must be divisible by '
                             f'num_heads {num_heads}')
        self.num_heads = num_heads
        self.head_dim = channels // num_heads
        self.key_dim = int(self.head_dim * attn_ratio)
        self.scale = self.key_dim**-0.5
        qkv_channels = channels + 2 * self.key_dim * num_heads
        self.qkv = self.conv(channels, qkv_channels, with_act=False)
        self.proj = self.conv(channels, channels, with_act=False)
        self.pe = self.conv(
            channels, channels, 3, groups=channels, with_act=False)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        qkv = self.qkv(x).view(b, self.num_heads,
                               2 * self.key_dim + self.head_dim, h * w)
        q, k, v = qkv.split([self.key_dim, self.key_dim, self.head_dim],
                            dim=2)
        attn = ((q.transpose(-2, -1) @ k) * self.scale).softmax(dim=-1)
        out = (v @ attn.transpose(-2, -1)).view(b, c, h, w)
        out = out + self.pe(v.reshape(b, c, h, w))
        return self.proj(out)


@MODELS.register_module()
class PSABlock(YOLOBlock):
    """``x = x + attn(x); x = x + ffn(x)`` with a 2x-wide 1x1-conv FFN."""

    def __init__(self,
                 channels: int,
                 attn_ratio: float = 0.5,
                 num_heads: int = 4,
                 shortcut: bool = True,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        cfgs = dict(norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.attn = PositionSensitiveAttention(channels, num_heads,
                                               attn_ratio, **cfgs)
        self.ffn = nn.Sequential(
            self.conv(channels, 2 * channels),
            self.conv(2 * channels, channels, with_act=False))
        self.shortcut = shortcut

    def forward(self, x: Tensor) -> Tensor:
        if self.shortcut:
            x = x + self.attn(x)
            return x + self.ffn(x)
        return self.ffn(self.attn(x))


@MODELS.register_module()
class C2PSA(YOLOBlock):
    """CSP wrapper of :class:`PSABlock`.

    ``conv1`` (1x1) to ``2c`` channels (``c = in * expansion``), split into
    ``[a, b]``, ``b`` goes through ``num_blocks`` PSA blocks with ``c / 64``
    heads, output ``conv2(cat(a, b))``. Input and output widths must match.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 num_blocks: int = 1,
                 expansion: float = 0.5,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if in_channels != out_channels:
            raise ValueError('C2PSA needs in_channels == out_channels, got '
                             f'{in_channels} and {out_channels}')
        self.hidden = int(in_channels * expansion)
        cfgs = dict(norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.conv1 = self.conv(in_channels, 2 * self.hidden)
        self.conv2 = self.conv(2 * self.hidden, out_channels)
        self.blocks = nn.Sequential(*[
            PSABlock(
                self.hidden,
                attn_ratio=0.5,
                num_heads=max(self.hidden // 64, 1),
                **cfgs) for _ in range(num_blocks)
        ])

    def forward(self, x: Tensor) -> Tensor:
        a, b = self.conv1(x).split(self.hidden, dim=1)
        return self.conv2(torch.cat([a, self.blocks(b)], dim=1))
