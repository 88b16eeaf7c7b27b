"""AFM: the Area-attention Fusion Module of E2E-OSDet (M4-SAR).

AFM fuses the optical and SAR maps of one pyramid level into one map. It
is an MLLA-style block ("Demystify Mamba in Vision: A Linear Attention
Perspective") whose token mixer is a cross-modal area attention. With
optical ``F_o`` and SAR ``F_s`` (``B x C x H x W``):

1. conditional position encoding per modality:
   ``T_o = F_o + DW3x3_o(F_o)``, ``T_s = F_s + DW3x3_s(F_s)``;
2. ``N_o = LN_o(T_o)``, ``N_s = LN_s(T_s)`` (over channels, per token);
3. gate from the optical stream only: ``G = SiLU(Linear_g(N_o))``;
4. values ``V_o = SiLU(DW3x3_vo(Linear_o(N_o)))`` and
   ``V_s = SiLU(DW3x3_vs(Linear_s(N_s)))`` (one 3x3 depthwise conv per
   modality, ``dwc`` and ``dwc_1`` in the released code);
5. cross-modal area attention ``A = AreaAttn(V_o, V_s)``: summed qkv
   projections of both modalities, ``area = 2``, head dim 32, plus a 7x7
   depthwise positional term on ``v`` (:class:`AreaAttention`);
6. ``T = T_o + Linear_out(A * G)``;
7. output ``T + DW3x3_out(T)`` (a third CPE). There is no FFN.

The released code additionally builds an unused LayerNorm and gate
projection (``norm2``, ``act_proj_1``); they are not built here.
"""
from typing import Optional

import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmosar.registry import MODELS

from .area_attention import AreaAttention


def depthwise_conv3x3(channels: int) -> nn.Conv2d:
    """3x3 depthwise conv with bias (the CPE / value convs of AFM)."""
    return nn.Conv2d(channels, channels, 3, padding=1, groups=channels)


@MODELS.register_module()
class AFM(BaseModule):
    """Area-attention Fusion Module (see the module docstring).

    Args:
        channels (int): ``C`` of both inputs and of the output.
        head_dim (int): channels per attention head (32).
        area (int): areas of the area attention (2).
        norm_cfg (dict, optional): BatchNorm of the attention convs.
        init_cfg (dict, optional): mmengine init config.

    Shapes:
        ``forward(x_opt (B, C, H, W), x_sar (B, C, H, W)) -> (B, C, H, W)``.
    """

    def __init__(self,
                 channels: int,
                 head_dim: int = 32,
                 area: int = 2,
                 norm_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if channels % head_dim:
            raise ValueError(f'AFM: channels {channels} must be a multiple '
                             f'of head_dim {head_dim}')
        self.channels = channels
        self.cpe_opt = depthwise_conv3x3(channels)
        self.cpe_sar = depthwise_conv3x3(channels)
        self.norm_opt = nn.LayerNorm(channels)
        self.norm_sar = nn.LayerNorm(channels)
        self.gate_proj = nn.Linear(channels, channels)
        self.value_proj_opt = nn.Linear(channels, channels)
        self.value_proj_sar = nn.Linear(channels, channels)
        self.value_conv_opt = depthwise_conv3x3(channels)
        self.value_conv_sar = depthwise_conv3x3(channels)
        self.attn = AreaAttention(
            channels,
            channels // head_dim,
            area=area,
            num_inputs=2,
            norm_cfg=norm_cfg)
        self.out_proj = nn.Linear(channels, channels)
        self.cpe_out = depthwise_conv3x3(channels)

    @staticmethod
    def _values(normed: Tensor, proj: nn.Linear, conv: nn.Conv2d, h: int,
                w: int) -> Tensor:
        """``(B, L, C)`` tokens -> ``SiLU(conv(proj(tokens)))`` map."""
        v = proj(normed).transpose(1, 2).unflatten(2, (h, w))
        return F.silu(conv(v))

    def forward(self, x_opt: Tensor, x_sar: Tensor) -> Tensor:
        if x_opt.shape != x_sar.shape or x_opt.shape[1] != self.channels:
            raise ValueError(
                f'AFM({self.channels}) needs two (B, {self.channels}, H, W) '
                f'maps of equal shape, got {tuple(x_opt.shape)} and '
                f'{tuple(x_sar.shape)}')
        h, w = x_opt.shape[-2:]
        shortcut = x_opt + self.cpe_opt(x_opt)
        t_sar = x_sar + self.cpe_sar(x_sar)
        normed_opt = self.norm_opt(shortcut.flatten(2).transpose(1, 2))
        normed_sar = self.norm_sar(t_sar.flatten(2).transpose(1, 2))
        gate = F.silu(self.gate_proj(normed_opt))  # (B, L, C)
        attended = self.attn(
            self._values(normed_opt, self.value_proj_opt,
                         self.value_conv_opt, h, w),
            self._values(normed_sar, self.value_proj_sar,
                         self.value_conv_sar, h, w))
        update = self.out_proj(attended.flatten(2).transpose(1, 2) * gate)
        fused = shortcut + update.transpose(1, 2).unflatten(2, (h, w))
        return fused + self.cpe_out(fused)
