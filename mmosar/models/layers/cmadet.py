"""CMADet's modules as the M4-SAR benchmark builds them.

CMADet (cross-modal alignment detector) in the M4-SAR release has two
parts:

- :class:`OSRInteraction` (released ``OSR``) at P2-P5: a 4-block CFT
  (:class:`~mmosar.models.layers.CrossModalityFusionTransformer`) whose
  upsampled output gets a channel-reweighted copy of the input added,
  ``R_m = Bilinear(T_m) + w_m * X_m`` with ``w`` from
  :class:`ChannelEnhancement` (released ``CEM1``); then ``X'_m = X_m + R_m``.
- :class:`CrossModalAlignment` (released ``CMA``) fusing P3-P5:
  :class:`AffineAlignment` (released ``MAM2``) warps the optical map with
  one predicted affine transform per image and fuses it with the SAR map
  by a 1x1 conv, then :class:`FeatureRectification` (released ``FRM``)
  rectifies that result against the SAR map and sums the two.

Release vs paper: the paper aligns with a dense, learned deformation; the
release predicts one global affine warp per image (a shift and two scale
terms). The release builds the warp in float32 (a float32 identity matrix
and a float32 cast of the optical map), so even a float64 model warps in
float32; :class:`AffineAlignment` does the same (``warp_dtype``).
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmosar.registry import MODELS

from .cft import CrossModalityFusionTransformer
from .token_transformer import scaled_attention
from .yolo_blocks import YOLO_ACT_CFG, YOLO_NORM_CFG


class ChannelEnhancement(nn.Module):
    """Channel weights from a one-dimensional token transformer (``CEM1``).

    The ``2C`` globally average-pooled channels of ``[X_o, X_s]`` are
    ``2C`` tokens of dimension 1 (plus a positional embedding):

    1. ``u = LN(t)``, ``[q, k, v] = W_qkv u`` (1 -> 3 x 16, no bias), split
       into the optical half (``_o``) and the SAR half (``_s``);
       ``a_o = softmax(q_o k_s^T) v_o``, ``a_s = softmax(q_s k_s^T) v_s``
       (scale 1), ``t = W_out [a_o ; a_s]`` (16 -> 1) -- no residual;
    2. ``t = FFN(LN(t))`` (1 -> 8 -> 1, GELU) -- no residual;
    3. ``w = sigmoid(t)``; returns ``w_o * X_o`` and ``w_s * X_s``.

    These are the released operations (including the absent residuals,
    and optical queries attending to SAR keys with optical values).
    Because a LayerNorm over one feature returns its bias, ``w`` does not
    depend on the input; the module is kept as released.

    Args:
        channels (int): ``C`` per modality.
        head_dim (int): attention width (16).
        ffn_dim (int): FFN width (8).
        dropout (float): dropout of the tokens, attention output and FFN.

    Shapes: ``(B, C, H, W), (B, C, H, W) -> (B, C, H, W), (B, C, H, W)``.
    """

    def __init__(self, channels: int, head_dim: int = 16, ffn_dim: int = 8,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.channel_embed = nn.Parameter(torch.randn(1, 2 * channels, 1))
        self.drop = nn.Dropout(dropout)
        self.attn_norm = nn.LayerNorm(1)
        self.qkv = nn.Linear(1, 3 * head_dim, bias=False)
        self.attn_out = nn.Sequential(nn.Linear(head_dim, 1),
                                      nn.Dropout(dropout))
        self.ffn_norm = nn.LayerNorm(1)
        self.ffn = nn.Sequential(
            nn.Linear(1, ffn_dim), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(ffn_dim, 1), nn.Dropout(dropout))
        self.no_drop = nn.Identity()

    def forward(self, x_opt: Tensor, x_sar: Tensor) -> Tuple[Tensor, Tensor]:
        x = torch.cat([x_opt, x_sar], dim=1)
        t = self.drop(x.mean(dim=(2, 3)).unsqueeze(-1) + self.channel_embed)
        q, k, v = self.qkv(self.attn_norm(t)).chunk(3, dim=-1)
        (q_o, q_s), (_, k_s), (v_o, v_s) = (z.chunk(2, dim=1)
                                            for z in (q, k, v))
        t = self.attn_out(
            torch.cat([
                scaled_attention(q_o, k_s, v_o, 1.0, self.no_drop),
                scaled_attention(q_s, k_s, v_s, 1.0, self.no_drop)
            ], dim=1))
        weights = torch.sigmoid(self.ffn(self.ffn_norm(t))).unsqueeze(-1)
        return (weights * x).chunk(2, dim=1)


@MODELS.register_module()
class OSRInteraction(CrossModalityFusionTransformer):
    """CMADet's interaction at P2-P5 (released ``OSR``).

    ``X'_m = X_m + Bilinear(T_m) + w_m * X_m`` with the CFT tokens ``T`` and
    the :class:`ChannelEnhancement` weights ``w``.

    Args:
        channels (int): ``C``.
        num_layers (int): transformer blocks (4 in the release).
        **kwargs: :class:`CrossModalityFusionTransformer` arguments.
    """

    def __init__(self, channels: int, num_layers: int = 4, **kwargs) -> None:
        super().__init__(channels, num_layers=num_layers, **kwargs)
        self.channel_enhance = ChannelEnhancement(channels)

    def residuals(self, x_opt: Tensor,
                  x_sar: Tensor) -> Tuple[Tensor, Tensor]:
        r_opt, r_sar = super().residuals(x_opt, x_sar)
        e_opt, e_sar = self.channel_enhance(x_opt, x_sar)
        return r_opt + e_opt, r_sar + e_sar


def _conv_bn(in_channels: int, out_channels: int, kernel_size: int,
             stride: int, padding: int, act: str, bias: bool,
             norm_cfg: Optional[dict]) -> ConvModule:
    return ConvModule(
        in_channels, out_channels, kernel_size, stride=stride,
        padding=padding, bias=bias, norm_cfg=norm_cfg or YOLO_NORM_CFG,
        act_cfg=dict(YOLO_ACT_CFG) if act == 'silu' else dict(
            type='ReLU', inplace=True))


class AffineAlignment(nn.Module):
    """One affine warp per image, then a 1x1 fusion (released ``MAM2``).

    ``n = Enc([X_o, X_s])`` (six strided conv-BN blocks down to 32
    channels), then from its global average: a shift ``(t_x, t_y)`` and two
    scale terms ``s_1, s_2`` (1x1 convs), ``theta = [[1 + s_1, 0, t_x],
    [0, 1 + s_2, t_y]]``, ``X~_o = GridSample(X_o, AffineGrid(theta))``
    (bilinear, zero padding, ``align_corners=True``) and
    ``F = ConvBNSiLU_1x1([X~_o, X_s])``.

    The encoder is as released, including a 1x1 conv with padding 1 that
    grows the map by two pixels per side pair.

    Args:
        channels (int): ``C`` per modality.
        warp_dtype (torch.dtype, optional): dtype of the warp
            (``torch.float32`` as released; ``None`` keeps the input dtype).
        norm_cfg (dict, optional): YOLO BN by default.

    Shapes: ``(B, C, H, W), (B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, channels: int,
                 warp_dtype: Optional[torch.dtype] = torch.float32,
                 norm_cfg: Optional[dict] = None) -> None:
        super().__init__()
        self.warp_dtype = warp_dtype
        # (in, out, kernel, stride, padding, activation, conv bias)
        spec = [(2 * channels, 128, 3, 2, 1, 'silu', False),
                (128, 128, 1, 1, 1, 'silu', False),
                (128, 64, 3, 2, 1, 'relu', True),
                (64, 64, 1, 1, 0, 'relu', True),
                (64, 32, 3, 2, 1, 'relu', True),
                (32, 32, 1, 1, 0, 'relu', True)]
        self.encoder = nn.Sequential(
            *[_conv_bn(*s, norm_cfg=norm_cfg) for s in spec])
        self.shift = nn.Conv2d(32, 2, 1)
        self.scale_x = nn.Conv2d(32, 1, 1)
        self.scale_y = nn.Conv2d(32, 1, 1)
        self.fuse = _conv_bn(2 * channels, channels, 1, 1, 0, 'silu', False,
                             norm_cfg)

    def init_weights(self) -> None:
        """Start from the identity warp: tiny weights, zero biases."""
        for head in (self.shift, self.scale_x, self.scale_y):
            nn.init.normal_(head.weight, std=5e-4)
            nn.init.zeros_(head.bias)

    def theta(self, x_opt: Tensor, x_sar: Tensor) -> Tensor:
        """The affine matrices ``(B, 2, 3)`` in ``warp_dtype``."""
        code = self.encoder(torch.cat([x_opt, x_sar], dim=1)).mean(
            dim=(2, 3), keepdim=True)
        shift = self.shift(code).flatten(1)
        scale_x = self.scale_x(code).flatten(1)
        scale_y = self.scale_y(code).flatten(1)
        zeros = torch.zeros_like(scale_x)
        theta = torch.stack([
            torch.cat([1 + scale_x, zeros, shift[:, :1]], dim=1),
            torch.cat([zeros, 1 + scale_y, shift[:, 1:]], dim=1)
        ], dim=1)
        return theta.to(self.warp_dtype or theta.dtype)

    def forward(self, x_opt: Tensor, x_sar: Tensor) -> Tensor:
        theta = self.theta(x_opt, x_sar)
        grid = F.affine_grid(theta, list(x_opt.shape), align_corners=True)
        warped = F.grid_sample(
            x_opt.to(theta.dtype), grid, mode='bilinear',
            padding_mode='zeros', align_corners=True).to(x_opt.dtype)
        return self.fuse(torch.cat([warped, x_sar], dim=1))


class FeatureRectification(nn.Module):
    """Channel then spatial rectification of two maps (released ``FRM``).

    ``[c_1, c_2] = sigmoid(MLP([max X_1 + max X_2, mean X_1 + mean X_2]))``
    (global max / mean per channel, ``MLP: 2C -> 2C -> 2C`` with ReLU),
    ``X_i <- X_i + lambda_c c_i X_i``; then
    ``[s_1, s_2] = sigmoid(Conv_1x1(ReLU(Conv_1x1([X_1, X_2]))))``
    (``2C -> C -> 2`` maps), ``Y = sum_i X_i + lambda_s s_i X_i``.

    Args:
        channels (int): ``C``.
        lambda_c, lambda_s (float): rectification weights (0.5).

    Shapes: ``(B, C, H, W), (B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, channels: int, lambda_c: float = 0.5,
                 lambda_s: float = 0.5) -> None:
        super().__init__()
        self.lambda_c = lambda_c
        self.lambda_s = lambda_s
        self.channel_mlp = nn.Sequential(
            nn.Linear(2 * channels, 2 * channels), nn.ReLU(inplace=True),
            nn.Linear(2 * channels, 2 * channels), nn.Sigmoid())
        self.spatial_mlp = nn.Sequential(
            nn.Conv2d(2 * channels, channels, 1), nn.ReLU(inplace=True),
            nn.Conv2d(channels, 2, 1), nn.Sigmoid())

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        pooled = torch.cat([
            x1.amax(dim=(2, 3)) + x2.amax(dim=(2, 3)),
            x1.mean(dim=(2, 3)) + x2.mean(dim=(2, 3))
        ], dim=1)
        c1, c2 = self.channel_mlp(pooled)[..., None, None].chunk(2, dim=1)
        x1 = x1 + self.lambda_c * c1 * x1
        x2 = x2 + self.lambda_c * c2 * x2
        s1, s2 = self.spatial_mlp(torch.cat([x1, x2], dim=1)).chunk(2, dim=1)
        return (x1 + self.lambda_s * s1 * x1) + (x2 + self.lambda_s * s2 * x2)


@MODELS.register_module()
class CrossModalAlignment(BaseModule):
    """CMADet's fusion (released ``CMA``): ``FRM(MAM(X_o, X_s), X_s)``.

    Args:
        channels (int): ``C`` per modality.
        warp_dtype (torch.dtype, optional): see :class:`AffineAlignment`.
        norm_cfg (dict, optional): YOLO BN by default.
        init_cfg (dict, optional): mmengine init config.

    Shapes: ``(B, C, H, W), (B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, channels: int,
                 warp_dtype: Optional[torch.dtype] = torch.float32,
                 norm_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.channels = channels
        self.align = AffineAlignment(channels, warp_dtype, norm_cfg)
        self.rectify = FeatureRectification(channels)

    def init_weights(self) -> None:
        super().init_weights()
        self.align.init_weights()

    def forward(self, x_opt: Tensor, x_sar: Tensor) -> Tensor:
        return self.rectify(self.align(x_opt, x_sar), x_sar)
