"""CFT: Cross-Modality Fusion Transformer (Qingyun et al., PR 2022).

As built by the M4-SAR benchmark (released class ``GPT``, followed by two
``Add_GPT`` layers). With stream maps ``X_o, X_s`` of shape ``(B, C, H, W)``
and a token grid ``g = (gh, gw)`` (8 x 8):

1. ``T_m = tokens(AvgPool_g(X_m))`` (adaptive average pooling to ``g``,
   raster order), ``T = [T_o ; T_s] + E`` with a learned positional
   embedding ``E`` of ``2 gh gw`` tokens (then dropout);
2. ``T <- LN(Block_L(... Block_1(T)))``: ``L`` pre-norm self-attention
   blocks over the joint sequence, so every token attends to both
   modalities;
3. ``R_m = Bilinear_{H x W}(map(T_m))`` (``align_corners=False``);
4. ``X'_m = X_m + R_m``.

Subclasses change how the pooled maps become tokens
(:class:`~mmosar.models.layers.MMIFourierInteraction`) or add a term to
``R_m`` (:class:`~mmosar.models.layers.OSRInteraction`).
"""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmosar.registry import MODELS

from .token_transformer import (
    TokenGridModule,
    TokenTransformerBlock,
    map_to_tokens,
    tokens_to_map,
)


@MODELS.register_module()
class CrossModalityFusionTransformer(TokenGridModule):
    """CFT interaction: joint self-attention over both modalities' tokens.

    Args:
        channels (int): ``C`` of each stream.
        num_layers (int): transformer blocks ``L`` (8 in the release).
        num_heads (int): attention heads.
        mlp_ratio (int): FFN expansion.
        grid_size (Sequence[int]): token grid ``(gh, gw)`` (8, 8).
        dropout (float): embedding, attention and FFN dropout (0.1).
        init_cfg (dict, optional): mmengine init config.

    Shapes:
        ``(B, C, H, W), (B, C, H, W) -> (B, C, H, W), (B, C, H, W)``.
    """

    def __init__(self,
                 channels: int,
                 num_layers: int = 8,
                 num_heads: int = 8,
                 mlp_ratio: int = 4,
                 grid_size: Sequence[int] = (8, 8),
                 dropout: float = 0.1,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.channels = channels
        self.grid_size = tuple(grid_size)
        num_tokens = self.grid_size[0] * self.grid_size[1]
        self.pos_embed = nn.Parameter(torch.zeros(1, 2 * num_tokens,
                                                  channels))
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*[
            TokenTransformerBlock(channels, num_heads, mlp_ratio, dropout)
            for _ in range(num_layers)
        ])
        self.norm = nn.LayerNorm(channels)

    def pool(self, x: Tensor) -> Tensor:
        """Pooled token map ``(B, C, gh, gw)`` of one stream."""
        return F.adaptive_avg_pool2d(x, self.grid_size)

    def residuals(self, x_opt: Tensor,
                  x_sar: Tensor) -> Tuple[Tensor, Tensor]:
        """``R_o, R_s``: the transformer outputs upsampled to ``H x W``."""
        tokens = torch.cat(
            [map_to_tokens(self.pool(x_opt)),
             map_to_tokens(self.pool(x_sar))], dim=1)
        tokens = self.norm(self.blocks(self.drop(self.pos_embed + tokens)))
        size = x_opt.shape[-2:]
        return tuple(
            F.interpolate(tokens_to_map(t, self.grid_size), size=size,
                          mode='bilinear', align_corners=False)
            for t in tokens.chunk(2, dim=1))

    def forward(self, x_opt: Tensor, x_sar: Tensor) -> Tuple[Tensor, Tensor]:
        r_opt, r_sar = self.residuals(x_opt, x_sar)
        return x_opt + r_opt, x_sar + r_sar


@MODELS.register_module()
class MMIFourierInteraction(CrossModalityFusionTransformer):
    """MMI-Det's interaction (released ``MMI_fourier``, Zeng et al., TCSVT
    2024), as the M4-SAR release computes it.

    CFT whose pooled maps are gated before they become tokens:
    ``P_m = AvgPool_g(X_m)``, ``T_m = tokens(W_2 sigmoid(W_1 P_m) * P_m)``
    with bias-free 1x1 convs ``W_1: C -> 8`` and ``W_2: 8 -> C`` shared by
    both modalities.

    Release vs paper: the release also splits the pooled maps into low and
    high FFT frequencies (float32), but that result only fed an auxiliary
    "pattern" loss that is disabled, so it never reaches the output and is
    not computed here. MMI-Det's contour branch is not in the release.

    Args:
        channels (int): ``C``.
        gate_channels (int): hidden channels of the gate (8).
        **kwargs: :class:`CrossModalityFusionTransformer` arguments.
    """

    def __init__(self, channels: int, gate_channels: int = 8,
                 **kwargs) -> None:
        super().__init__(channels, **kwargs)
        self.gate_reduce = nn.Conv2d(channels, gate_channels, 1, bias=False)
        self.gate_expand = nn.Conv2d(gate_channels, channels, 1, bias=False)

    def pool(self, x: Tensor) -> Tensor:
        pooled = super().pool(x)
        return self.gate_expand(torch.sigmoid(
            self.gate_reduce(pooled))) * pooled
