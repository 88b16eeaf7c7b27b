"""ICAFusion: iterative cross-attention fusion (Shen et al., PR 2024).

As the M4-SAR benchmark builds it at P3/P4/P5 (released class
``ICAFusion``). With stream maps ``X_o, X_s`` of shape ``(B, C, H, W)`` and
an anchor grid ``g = (gh, gw)``:

1. ``P_m = a_m AvgPool(X_m) + b_m MaxPool(X_m)`` with learnable scalars
   ``a_m, b_m`` (init 0.5). The pools are fixed-window pools that only
   act when the map is larger than ``g``: stride ``s = H // gh``, kernel
   ``H - (gh - 1) s`` (same for W); otherwise ``P_m = X_m`` (then
   ``H x W`` must equal ``g``);
2. ``T_m = tokens(P_m) + E_m`` (one positional embedding per modality);
3. ``L`` cross-transformer blocks, each run ``loops`` times
   (:class:`ICACrossBlock`);
4. ``R_m = Up_{H x W}(map(T_m))``, ``Y = ConvBNSiLU_1x1([X_o + R_o,
   X_s + R_s])``.

Released behaviour kept: ``Up`` is bilinear (``align_corners=False``) in
eval mode but nearest in training mode; the release also builds four
LayerNorm / MLP members per block that its forward never calls (30 tensors,
3.16 M parameters at scale s); they are not built here.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmosar.registry import MODELS

from .token_transformer import (
    map_to_tokens,
    merge_heads,
    scaled_attention,
    split_heads,
    token_ffn,
    tokens_to_map,
)
from .yolo_blocks import yolo_conv

MODALITIES = ('optical', 'sar')


def anchor_pool(x: Tensor, grid: Tuple[int, int], mode: str) -> Tensor:
    """The release's fixed-window pooling towards ``grid`` (see module
    docstring, step 1); identity when the map is not larger than it."""
    h, w = x.shape[-2:]
    if h <= grid[0] and w <= grid[1]:
        return x
    stride = (h // grid[0], w // grid[1])
    kernel = (h - (grid[0] - 1) * stride[0], w - (grid[1] - 1) * stride[1])
    pool = F.avg_pool2d if mode == 'avg' else F.max_pool2d
    return pool(x, kernel, stride)


class ICACrossAttention(nn.Module):
    """Dual cross-attention: each modality's keys / values are attended by
    the other modality's queries.

    ``u_m = LN_m(T_m)``, ``Q_m, K_m, V_m = W^m u_m``;
    ``A_o = W_out^o softmax(Q_s K_o^T / sqrt(d)) V_o`` and
    ``A_s = W_out^s softmax(Q_o K_s^T / sqrt(d)) V_s`` (``d = C / heads``).

    Shapes: ``(B, N, C), (B, N, C) -> (B, N, C), (B, N, C)``.
    """

    def __init__(self, channels: int, num_heads: int = 8,
                 dropout: float = 0.1) -> None:
        super().__init__()
        if channels % num_heads:
            raise ValueError(f'channels ({channels}) must be divisible by '
                             f'num_heads ({num_heads})')
        self.num_heads = num_heads
        self.scale = (channels // num_heads)**-0.5

        def per_modality(build):
            return nn.ModuleDict({m: build() for m in MODALITIES})

        self.norm = per_modality(lambda: nn.LayerNorm(channels))
        self.q_proj = per_modality(lambda: nn.Linear(channels, channels))
        self.k_proj = per_modality(lambda: nn.Linear(channels, channels))
        self.v_proj = per_modality(lambda: nn.Linear(channels, channels))
        self.out_proj = per_modality(lambda: nn.Linear(channels, channels))
        self.attn_drop = nn.Dropout(dropout)
        self.proj_drop = nn.Dropout(dropout)

    def init_weights(self) -> None:
        """Projections ``N(0, 0.001)`` with zero bias (as released)."""
        for proj in (self.q_proj, self.k_proj, self.v_proj, self.out_proj):
            for linear in proj.values():
                nn.init.normal_(linear.weight, std=0.001)
                nn.init.zeros_(linear.bias)

    def forward(self, t_opt: Tensor, t_sar: Tensor) -> Tuple[Tensor, Tensor]:
        qkv = {}
        for m, t in zip(MODALITIES, (t_opt, t_sar)):
            u = self.norm[m](t)
            qkv[m] = [split_heads(p[m](u), self.num_heads)
                      for p in (self.q_proj, self.k_proj, self.v_proj)]
        out = []
        for m, other in zip(MODALITIES, reversed(MODALITIES)):
            attended = scaled_attention(qkv[other][0], qkv[m][1], qkv[m][2],
                                        self.scale, self.attn_drop)
            out.append(self.proj_drop(self.out_proj[m](
                merge_heads(attended))))
        return tuple(out)


class ICACrossBlock(nn.Module):
    """Cross-transformer block with learnable residual coefficients.

    With ``c_1 .. c_8`` learnable scalars (init 1), repeated ``loops``
    times: ``(A_o, A_s) = CrossAttn(T_o, T_s)``,
    ``U_o = c_1 T_o + c_2 A_o``, ``U_s = c_3 T_s + c_4 A_s``,
    ``T_o = c_5 U_o + c_6 FFN_o(LN(U_o))``,
    ``T_s = c_7 U_s + c_8 FFN_s(LN(U_s))`` -- one LayerNorm shared by both
    modalities, as released.

    Shapes: ``(B, N, C), (B, N, C) -> (B, N, C), (B, N, C)``.
    """

    def __init__(self, channels: int, num_heads: int = 8,
                 mlp_ratio: int = 4, dropout: float = 0.1,
                 loops: int = 1) -> None:
        super().__init__()
        self.loops = loops
        self.attn = ICACrossAttention(channels, num_heads, dropout)
        self.ffn = nn.ModuleDict({
            m: token_ffn(channels, mlp_ratio, dropout)
            for m in MODALITIES
        })
        self.ffn_norm = nn.LayerNorm(channels)
        self.coefficients = nn.Parameter(torch.ones(8))

    def forward(self, t_opt: Tensor, t_sar: Tensor) -> Tuple[Tensor, Tensor]:
        c = self.coefficients
        for _ in range(self.loops):
            a_opt, a_sar = self.attn(t_opt, t_sar)
            u_opt = t_opt * c[0] + a_opt * c[1]
            u_sar = t_sar * c[2] + a_sar * c[3]
            t_opt = u_opt * c[4] + self.ffn['optical'](
                self.ffn_norm(u_opt)) * c[5]
            t_sar = u_sar * c[6] + self.ffn['sar'](
                self.ffn_norm(u_sar)) * c[7]
        return t_opt, t_sar


@MODELS.register_module()
class ICAFusion(BaseModule):
    """ICAFusion at one level (see the module docstring).

    Args:
        channels (int): ``C`` per modality.
        grid_size (Sequence[int]): anchor grid ``(gh, gw)`` (20x20 / 16x16 /
            8x8 at P3 / P4 / P5 in the release).
        num_layers (int): cross-transformer blocks (1).
        loops (int): iterations of each block with shared weights (1).
        num_heads (int): attention heads (8).
        mlp_ratio (int): FFN expansion (4).
        dropout (float): attention / FFN dropout (0.1).
        train_upsample (str): upsampling mode in training
            (``'nearest'``, released; eval is always bilinear).
        norm_cfg, act_cfg (dict, optional): of the output 1x1 conv.
        init_cfg (dict, optional): mmengine init config.

    Shapes: ``(B, C, H, W), (B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self,
                 channels: int,
                 grid_size: Sequence[int] = (16, 16),
                 num_layers: int = 1,
                 loops: int = 1,
                 num_heads: int = 8,
                 mlp_ratio: int = 4,
                 dropout: float = 0.1,
                 train_upsample: str = 'nearest',
                 norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.channels = channels
        self.grid_size = tuple(grid_size)
        self.train_upsample = train_upsample
        num_tokens = self.grid_size[0] * self.grid_size[1]
        self.pos_embed_optical = nn.Parameter(
            torch.zeros(1, num_tokens, channels))
        self.pos_embed_sar = nn.Parameter(torch.zeros(1, num_tokens,
                                                      channels))
        # [avg weight, max weight] per modality
        self.pool_weights_optical = nn.Parameter(torch.full((2, ), 0.5))
        self.pool_weights_sar = nn.Parameter(torch.full((2, ), 0.5))
        self.blocks = nn.ModuleList([
            ICACrossBlock(channels, num_heads, mlp_ratio, dropout, loops)
            for _ in range(num_layers)
        ])
        self.out_conv = yolo_conv(
            2 * channels, channels, norm_cfg=norm_cfg, act_cfg=act_cfg)

    def init_weights(self) -> None:
        super().init_weights()
        for block in self.blocks:
            block.attn.init_weights()

    def tokens(self, x: Tensor, pool_weights: Tensor,
               pos_embed: Tensor) -> Tensor:
        pooled = (anchor_pool(x, self.grid_size, 'avg') * pool_weights[0] +
                  anchor_pool(x, self.grid_size, 'max') * pool_weights[1])
        if tuple(pooled.shape[-2:]) != self.grid_size:
            raise ValueError(
                f'ICAFusion with grid {self.grid_size} got a '
                f'{tuple(x.shape[-2:])} map that pools to '
                f'{tuple(pooled.shape[-2:])}; the map must be at least as '
                'large as the grid (with H // gh, W // gw strides)')
        return map_to_tokens(pooled) + pos_embed

    def forward(self, x_opt: Tensor, x_sar: Tensor) -> Tensor:
        t_opt = self.tokens(x_opt, self.pool_weights_optical,
                            self.pos_embed_optical)
        t_sar = self.tokens(x_sar, self.pool_weights_sar, self.pos_embed_sar)
        for block in self.blocks:
            t_opt, t_sar = block(t_opt, t_sar)
        size = x_opt.shape[-2:]
        up = dict(mode=self.train_upsample) if self.training else dict(
            mode='bilinear', align_corners=False)
        fused = [
            F.interpolate(tokens_to_map(t, self.grid_size), size=size, **up)
            + x for t, x in ((t_opt, x_opt), (t_sar, x_sar))
        ]
        return self.out_conv(torch.cat(fused, dim=1))
