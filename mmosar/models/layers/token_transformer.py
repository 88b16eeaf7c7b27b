"""Token-grid transformer pieces shared by the M4-SAR benchmark fusions.

CFT, MMI-Det, CMADet (OSR) and CALNet pool each stream's feature map to a
small grid of tokens, run transformer blocks over the tokens of both
modalities, and upsample the result back onto the maps. This module holds
what they share:

- :func:`map_to_tokens` / :func:`tokens_to_map`: ``(B, C, h, w)`` <->
  ``(B, h w, C)`` in raster order;
- :class:`TokenSelfAttention`: multi-head self-attention with separate
  query / key / value / output projections,
  ``softmax(Q K^T / sqrt(C / heads)) V``;
- :class:`TokenTransformerBlock`: the pre-norm block
  ``x + Attn(LN(x))`` then ``x + FFN(LN(x))`` with
  ``FFN = Linear(C, r C) -> GELU -> Linear(r C, C) -> Dropout``.

The attention is written out (no fused kernel) so that float64 runs match
the released implementations number for number.
"""
from typing import Optional, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn


def map_to_tokens(x: Tensor) -> Tensor:
    """``(B, C, h, w)`` -> ``(B, h w, C)``, raster order."""
    return x.flatten(2).transpose(1, 2)


def tokens_to_map(tokens: Tensor, grid: Tuple[int, int]) -> Tensor:
    """``(B, h w, C)`` -> ``(B, C, h, w)`` (inverse of
    :func:`map_to_tokens`)."""
    return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2],
                                          *grid)


def split_heads(x: Tensor, num_heads: int) -> Tensor:
    """``(B, N, C)`` -> ``(B, heads, N, C / heads)``."""
    return x.unflatten(-1, (num_heads, -1)).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """``(B, heads, N, d)`` -> ``(B, N, heads d)``."""
    return x.transpose(1, 2).flatten(2)


def scaled_attention(q: Tensor, k: Tensor, v: Tensor, scale: float,
                     dropout: nn.Module) -> Tensor:
    """``dropout(softmax(q k^T * scale)) v`` over the last two axes."""
    attn = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * scale, -1)
    return torch.matmul(dropout(attn), v)


class TokenSelfAttention(nn.Module):
    """Multi-head self-attention over tokens.

    ``Attn(x) = Dropout(W_o concat_h softmax(Q_h K_h^T / sqrt(d)) V_h)``
    with ``d = C / heads`` and biased linear projections.

    Args:
        channels (int): ``C``.
        num_heads (int): number of heads (``C`` must be divisible).
        dropout (float): attention and output dropout.

    Shapes: ``(B, N, C) -> (B, N, C)``.
    """

    def __init__(self, channels: int, num_heads: int = 8,
                 dropout: float = 0.1) -> None:
        super().__init__()
        if channels % num_heads:
            raise ValueError(f'channels ({channels}) must be divisible by '
                             f'num_heads ({num_heads})')
        self.num_heads = num_heads
        self.scale = (channels // num_heads)**-0.5
        self.q_proj = nn.Linear(channels, channels)
        self.k_proj = nn.Linear(channels, channels)
        self.v_proj = nn.Linear(channels, channels)
        self.out_proj = nn.Linear(channels, channels)
        self.attn_drop = nn.Dropout(dropout)
        self.proj_drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = (split_heads(proj(x), self.num_heads)
                   for proj in (self.q_proj, self.k_proj, self.v_proj))
        out = scaled_attention(q, k, v, self.scale, self.attn_drop)
        return self.proj_drop(self.out_proj(merge_heads(out)))


def token_ffn(channels: int, mlp_ratio: int, dropout: float) -> nn.Sequential:
    """``Linear(C, r C) -> GELU -> Linear(r C, C) -> Dropout``."""
    return nn.Sequential(
        nn.Linear(channels, mlp_ratio * channels), nn.GELU(),
        nn.Linear(mlp_ratio * channels, channels), nn.Dropout(dropout))


class TokenTransformerBlock(nn.Module):
    """Pre-norm transformer block: ``x += attn(LN1(x)); x += FFN(LN2(x))``.

    Args:
        channels (int): ``C``.
        num_heads (int): attention heads.
        mlp_ratio (int): FFN expansion ``r``.
        dropout (float): dropout of the attention and the FFN.
        attention (nn.Module, optional): replaces the self-attention
            (CALNet's cross-attention).

    Shapes: ``(B, N, C) -> (B, N, C)``.
    """

    def __init__(self,
                 channels: int,
                 num_heads: int = 8,
                 mlp_ratio: int = 4,
                 dropout: float = 0.1,
                 attention: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(channels)
        self.attn = attention or TokenSelfAttention(channels, num_heads,
                                                    dropout)
        self.norm2 = nn.LayerNorm(channels)
        self.ffn = token_ffn(channels, mlp_ratio, dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class TokenGridModule(BaseModule):
    """Base of the token-grid fusions: GPT-style weight initialisation.

    Linear weights ``N(0, 0.02)`` with zero bias, LayerNorms ``(1, 0)`` and
    positional embeddings zero, as the released CFT-family modules.
    """

    def init_weights(self) -> None:
        super().init_weights()
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for name, param in self.named_parameters():
            if name.split('.')[-1].startswith('pos_embed'):
                nn.init.zeros_(param)
