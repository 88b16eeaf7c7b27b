"""CALNet's cross-attention transformer as the M4-SAR benchmark builds it.

CALNet (He et al., ACM MM 2023) in the M4-SAR release is the class
``GPTcross`` at P3/P4/P5 followed by two ``Add_GPT`` layers. With stream
maps ``X_o, X_s`` of shape ``(B, C, H, W)`` and a FIXED token grid
``g = (gh, gw)`` (40x40 / 20x20 / 10x10 at P3/P4/P5 whatever the input
size, so small maps are pooled *up*):

1. ``T_m = tokens(AdaptiveAvgPool_g(X_m)) + E_m`` with one positional
   embedding per modality (then dropout); ``T = [T_o ; T_s]`` (``2N``
   tokens, ``N = gh gw``);
2. ``L`` pre-norm blocks ``T += CrossAttn(LN(T)); T += FFN(LN(T))`` where
   :class:`CALNetCrossAttention` lets every token query the keys and
   values of each modality separately, with PVT-style spatial reduction
   (a ``r x r`` stride-``r`` conv + LayerNorm on the key/value maps when
   ``r > 1``);
3. ``T <- LN(T)``, ``R_m = Bilinear_{H x W}(map(T_m))``;
   ``X'_m = X_m + R_m``.

Release vs paper: the paper's conflict-aware modules (CCR, SCF) are not in
the release by name; the release is this cross-attention transformer, and
that is what is implemented.
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
    merge_heads,
    scaled_attention,
    split_heads,
    tokens_to_map,
)

MODALITIES = ('optical', 'sar')


class CALNetCrossAttention(nn.Module):
    """Queries of all ``2N`` tokens against each modality's keys / values.

    With ``T = [T_o ; T_s]`` (``(B, 2N, C)``) on a ``gh x gw`` grid,
    ``Q = W_q T`` and for each modality m:
    ``K_m, V_m = W_kv^m LN_m(SR_m(T_m))`` (``SR_m``: ``r x r`` stride-``r``
    conv on the ``gh x gw`` map, identity when ``r = 1``),
    ``A_m = W_p^m softmax(Q K_m^T / sqrt(d)) V_m`` (``(B, 2N, C)``), then
    the two halves of ``A_m`` (queries from the optical and from the SAR
    tokens) are stacked as ``2C`` channels and mixed by a 1x1 conv back to
    ``C``: ``O_m = Conv_1x1([map(A_m[:N]), map(A_m[N:])])``. Output
    ``[tokens(O_o) ; tokens(O_s)]``.

    Args:
        channels (int): ``C``.
        grid_size (Sequence[int]): ``(gh, gw)``.
        sr_ratio (int): spatial reduction ``r`` of the keys / values.
        num_heads (int): attention heads (``d = C / heads``).
        dropout (float): attention and projection dropout.

    Shapes: ``(B, 2 gh gw, C) -> (B, 2 gh gw, C)``.
    """

    def __init__(self,
                 channels: int,
                 grid_size: Sequence[int],
                 sr_ratio: int = 1,
                 num_heads: int = 8,
                 dropout: float = 0.1) -> None:
        super().__init__()
        if channels % num_heads:
            raise ValueError(f'channels ({channels}) must be divisible by '
                             f'num_heads ({num_heads})')
        self.grid_size = tuple(grid_size)
        self.num_heads = num_heads
        self.sr_ratio = sr_ratio
        self.scale = (channels // num_heads)**-0.5
        self.q = nn.Linear(channels, channels)

        def per_modality(build):
            return nn.ModuleDict({m: build() for m in MODALITIES})

        self.kv = per_modality(lambda: nn.Linear(channels, 2 * channels))
        self.proj = per_modality(lambda: nn.Linear(channels, channels))
        self.mix = per_modality(lambda: nn.Conv2d(2 * channels, channels, 1))
        if sr_ratio > 1:
            self.reduce = per_modality(lambda: nn.Conv2d(
                channels, channels, sr_ratio, stride=sr_ratio))
            self.reduce_norm = per_modality(lambda: nn.LayerNorm(channels))
        self.attn_drop = nn.Dropout(dropout)
        self.proj_drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        q = split_heads(self.q(x), self.num_heads)
        outputs = []
        for modality, tokens in zip(MODALITIES, x.chunk(2, dim=1)):
            if self.sr_ratio > 1:
                reduced = self.reduce[modality](
                    tokens_to_map(tokens, self.grid_size))
                tokens = self.reduce_norm[modality](map_to_tokens(reduced))
            k, v = split_heads(self.kv[modality](tokens),
                               2 * self.num_heads).chunk(2, dim=1)
            attended = self.proj_drop(self.proj[modality](merge_heads(
                scaled_attention(q, k, v, self.scale, self.attn_drop))))
            halves = [tokens_to_map(h, self.grid_size)
                      for h in attended.chunk(2, dim=1)]
            outputs.append(
                map_to_tokens(self.mix[modality](torch.cat(halves, dim=1))))
        return torch.cat(outputs, dim=1)


@MODELS.register_module()
class CALNetCrossTransformer(TokenGridModule):
    """CALNet interaction at one level (released ``GPTcross``).

    Args:
        channels (int): ``C`` of each stream.
        grid_size (Sequence[int]): fixed token grid (40x40 / 20x20 / 10x10
            at P3 / P4 / P5 in the release).
        sr_ratio (int): key / value spatial reduction (3 / 2 / 1).
        num_layers (int): blocks (3 / 6 / 3).
        num_heads (int): attention heads.
        mlp_ratio (int): FFN expansion.
        dropout (float): embedding, attention and FFN dropout (0.1).
        init_cfg (dict, optional): mmengine init config.

    Shapes:
        ``(B, C, H, W), (B, C, H, W) -> (B, C, H, W), (B, C, H, W)``.
    """

    def __init__(self,
                 channels: int,
                 grid_size: Sequence[int] = (20, 20),
                 sr_ratio: int = 1,
                 num_layers: int = 3,
                 num_heads: int = 8,
                 mlp_ratio: int = 4,
                 dropout: float = 0.1,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.channels = channels
        self.grid_size = tuple(grid_size)
        num_tokens = self.grid_size[0] * self.grid_size[1]
        self.pos_embed_optical = nn.Parameter(
            torch.zeros(1, num_tokens, channels))
        self.pos_embed_sar = nn.Parameter(torch.zeros(1, num_tokens,
                                                      channels))
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*[
            TokenTransformerBlock(
                channels, num_heads, mlp_ratio, dropout,
                CALNetCrossAttention(channels, self.grid_size, sr_ratio,
                                     num_heads, dropout))
            for _ in range(num_layers)
        ])
        self.norm = nn.LayerNorm(channels)

    def forward(self, x_opt: Tensor, x_sar: Tensor) -> Tuple[Tensor, Tensor]:
        tokens = torch.cat([
            self.drop(self.pos_embed_optical + map_to_tokens(
                F.adaptive_avg_pool2d(x_opt, self.grid_size))),
            self.drop(self.pos_embed_sar + map_to_tokens(
                F.adaptive_avg_pool2d(x_sar, self.grid_size)))
        ], dim=1)
        tokens = self.norm(self.blocks(tokens))
        size = x_opt.shape[-2:]
        r_opt, r_sar = (
            F.interpolate(tokens_to_map(t, self.grid_size), size=size,
                          mode='bilinear', align_corners=False)
            for t in tokens.chunk(2, dim=1))
        return x_opt + r_opt, x_sar + r_sar
