"""TransOSS ViT: a ViT with a cross-modal dual-head tokenizer.

Paper components, by their names in TransOSS (ICCV 2025):

* Cross-modal Dual-head Tokenizer: ``patch_embed`` (optical) and
  ``patch_embed_sar`` (SAR) with separate weights; each sample of a mixed
  batch is routed by its modality id.
* Modality Information Embedding (MIE): ``modality_embed``, a learned
  (num_modalities, 1, C) table; ``modality_embed_scale`` x the sample's row is
  added to every token together with the position embedding.
* Ship Size Embedding (SSE): ``size_embed``, Linear(3, C) mapping the
  ship-size vector to one token appended after the position and modality
  embeddings (it receives neither).
* Modality-shared Transformer Encoder: everything else (class token,
  position embedding, blocks, final LayerNorm) is shared.

Parameter names follow mmpretrain's ``VisionTransformer`` (``layers.i.ln1``,
``layers.i.attn.qkv``, ``layers.i.ffn.layers.0.0``, ``ln1``...), so
mmpretrain ViT checkpoints load as they are and timm ones are renamed on
load. The blocks are written here rather than imported from mmpretrain
because ``mmpretrain.models`` cannot be imported without torchvision.
"""
import math
import re
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks.drop import DropPath
from mmcv.cnn.bricks.transformer import FFN, PatchEmbed
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_, update_init_info

from mmosar.registry import MODELS

OPTICAL, SAR = 0, 1

ARCH_SETTINGS = {
    'base': dict(embed_dims=768, num_layers=12, num_heads=12,
                 feedforward_channels=3072),
    'small': dict(embed_dims=384, num_layers=12, num_heads=6,
                  feedforward_channels=1536),
}

# timm ViT / official TransOSS key fragments -> mmpretrain ViT key fragments.
_TIMM_TO_MMPRETRAIN = (
    (r'^patch_embed\.proj\.', 'patch_embed.projection.'),
    (r'^patch_embed_SAR\.proj\.', 'patch_embed_sar.projection.'),
    (r'^blocks\.(\d+)\.norm1\.', r'layers.\1.ln1.'),
    (r'^blocks\.(\d+)\.norm2\.', r'layers.\1.ln2.'),
    (r'^blocks\.(\d+)\.attn\.', r'layers.\1.attn.'),
    (r'^blocks\.(\d+)\.mlp\.fc1\.', r'layers.\1.ffn.layers.0.0.'),
    (r'^blocks\.(\d+)\.mlp\.fc2\.', r'layers.\1.ffn.layers.1.'),
    (r'^norm\.', 'ln1.'),
)
_TIMM_UNUSED = (r'^head\.', r'^pre_logits\.', r'^fc_norm\.')


def convert_timm_vit_keys(state_dict: dict, prefix: str = '') -> None:
    """Rename timm-style ViT keys under ``prefix`` to mmpretrain's, in place.

    Classification-head keys (``head.*``) are dropped. Keys that are already
    in mmpretrain format are left untouched.

    Args:
        state_dict (dict): Checkpoint state dict, modified in place.
        prefix (str): Prefix of the backbone's keys in ``state_dict``.
    """
    for key in [k for k in state_dict if k.startswith(prefix)]:
        local = key[len(prefix):]
        if any(re.match(p, local) for p in _TIMM_UNUSED):
            del state_dict[key]
            continue
        for pattern, repl in _TIMM_TO_MMPRETRAIN:
            new_local, n = re.subn(pattern, repl, local)
            if n:
                state_dict[prefix + new_local] = state_dict.pop(key)
                break


def resize_pos_embed(pos_embed: torch.Tensor,
                     src_grid: Tuple[int, int],
                     dst_grid: Tuple[int, int],
                     mode: str = 'bilinear',
                     num_extra_tokens: int = 1) -> torch.Tensor:
    """Interpolate a position embedding to another patch grid.

    Args:
        pos_embed (torch.Tensor): Shape (1, extra + h*w, C).
        src_grid (tuple[int, int]): Source grid (h, w).
        dst_grid (tuple[int, int]): Target grid (h', w').
        mode (str): ``F.interpolate`` mode. Defaults to ``'bilinear'``.
        num_extra_tokens (int): Leading tokens kept as they are (class
            token). Defaults to 1.

    Returns:
        torch.Tensor: Shape (1, extra + h'*w', C).
    """
    if tuple(src_grid) == tuple(dst_grid):
        return pos_embed
    extra = pos_embed[:, :num_extra_tokens]
    grid = pos_embed[:, num_extra_tokens:]
    channels = grid.shape[-1]
    if grid.shape[1] != src_grid[0] * src_grid[1]:
        raise ValueError(f'position embedding has {grid.shape[1]} patch '
                         f'tokens, not {src_grid[0]}x{src_grid[1]}')
    grid = grid.reshape(1, *src_grid, channels).permute(0, 3, 1, 2)
    grid = F.interpolate(
        grid.float(), size=tuple(dst_grid), mode=mode, align_corners=False)
    grid = grid.flatten(2).transpose(1, 2).to(pos_embed.dtype)
    return torch.cat((extra, grid), dim=1)


class ViTSelfAttention(nn.Module):
    """Multi-head self-attention with a fused qkv projection.

    Args:
        embed_dims (int): Token dimension C.
        num_heads (int): Number of heads.
        qkv_bias (bool): Bias in the qkv projection. Defaults to True.
    """

    def __init__(self, embed_dims: int, num_heads: int,
                 qkv_bias: bool = True) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims={embed_dims} is not divisible by '
                             f'num_heads={num_heads}')
        self.num_heads = num_heads
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, N, C)."""
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class ViTEncoderLayer(nn.Module):
    """Pre-norm transformer block: x + attn(ln1(x)), then x + ffn(ln2(x)).

    Args:
        embed_dims (int): Token dimension C.
        num_heads (int): Attention heads.
        feedforward_channels (int): Hidden width of the MLP.
        drop_path_rate (float): Stochastic depth of both branches.
        qkv_bias (bool): Bias in the qkv projection.
        norm_eps (float): LayerNorm epsilon.
    """

    def __init__(self, embed_dims: int, num_heads: int,
                 feedforward_channels: int, drop_path_rate: float = 0.,
                 qkv_bias: bool = True, norm_eps: float = 1e-6) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.attn = ViTSelfAttention(embed_dims, num_heads, qkv_bias)
        self.drop_path = DropPath(drop_path_rate)
        self.ln2 = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.ffn = FFN(
            embed_dims=embed_dims,
            feedforward_channels=feedforward_channels,
            num_fcs=2,
            act_cfg=dict(type='GELU'),
            ffn_drop=0.,
            dropout_layer=dict(type='DropPath', drop_prob=drop_path_rate))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, N, C)."""
        x = x + self.drop_path(self.attn(self.ln1(x)))
        return self.ffn(self.ln2(x), identity=x)


@MODELS.register_module()
class TransOSSViT(BaseModule):
    """ViT backbone of TransOSS with dual-head tokenizer, MIE and SSE.

    The position embedding of a checkpoint with another grid (e.g. 14x14
    from ImageNet at 224) is resized to this model's grid (16x8 at 256x128)
    with ``interpolate_mode``, keeping the class token's embedding. A
    checkpoint without a SAR patch embedding initialises it from the
    optical one.

    Args:
        arch (str | dict): ``'base'`` (ViT-B), ``'small'`` or a dict with
            ``embed_dims``, ``num_layers``, ``num_heads`` and
            ``feedforward_channels`` (tests use a tiny one).
        img_size (int | Sequence[int]): Input size (H, W). Defaults to
            (256, 128).
        patch_size (int): Patch size and stride. Defaults to 16.
        num_modalities (int): Rows of the modality embedding; the tokenizer
            has two heads, so it must be 2.
        modality_embed_scale (float): MIE coefficient. Defaults to 3.0.
        with_size_token (bool): Append the SSE token. Defaults to True
            (False for contrastive pretraining).
        size_dims (int): Length of the ship-size vector. Defaults to 3.
        drop_rate (float): Dropout after the position embedding.
        drop_path_rate (float): Stochastic depth rate, linear over the
            blocks. Defaults to 0.1.
        qkv_bias (bool): Bias in the qkv projections. Defaults to True.
        norm_eps (float): LayerNorm epsilon. Defaults to 1e-6.
        interpolate_mode (str): Position-embedding resize mode. Defaults to
            ``'bilinear'``.
        init_cfg (dict, optional): E.g. ``dict(type='Pretrained',
            checkpoint=..., prefix='backbone.')``.
    """

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 img_size: Union[int, Sequence[int]] = (256, 128),
                 patch_size: int = 16,
                 num_modalities: int = 2,
                 modality_embed_scale: float = 3.0,
                 with_size_token: bool = True,
                 size_dims: int = 3,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.1,
                 qkv_bias: bool = True,
                 norm_eps: float = 1e-6,
                 interpolate_mode: str = 'bilinear',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if isinstance(arch, str):
            if arch not in ARCH_SETTINGS:
                raise ValueError(f'unknown arch {arch!r}; choose from '
                                 f'{sorted(ARCH_SETTINGS)} or give a dict')
            arch = ARCH_SETTINGS[arch]
        if num_modalities != 2:
            raise ValueError(
                'the dual-head tokenizer routes exactly two modalities, got '
                f'num_modalities={num_modalities}')
        self.embed_dims = arch['embed_dims']
        self.interpolate_mode = interpolate_mode
        self.num_extra_tokens = 1  # class token
        img_size = (img_size, img_size) if isinstance(img_size, int) \
            else tuple(img_size)

        def patch_embed() -> PatchEmbed:
            return PatchEmbed(
                in_channels=3,
                embed_dims=self.embed_dims,
                conv_type='Conv2d',
                kernel_size=patch_size,
                stride=patch_size,
                input_size=img_size)

        self.patch_embed = patch_embed()
        self.patch_embed_sar = patch_embed()
        self.patch_resolution = tuple(self.patch_embed.init_out_size)
        num_patches = self.patch_resolution[0] * self.patch_resolution[1]
        self.cls_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        self.pos_embed = nn.Parameter(
            torch.zeros(1, num_patches + 1, self.embed_dims))
        self.modality_embed_scale = modality_embed_scale
        self.modality_embed = nn.Parameter(
            torch.zeros(num_modalities, 1, self.embed_dims))
        self.size_embed = nn.Linear(size_dims, self.embed_dims) \
            if with_size_token else None
        self.drop_after_pos = nn.Dropout(p=drop_rate)
        rates = torch.linspace(0, drop_path_rate, arch['num_layers']).tolist()
        self.layers = nn.ModuleList(
            ViTEncoderLayer(self.embed_dims, arch['num_heads'],
                            arch['feedforward_channels'], rate, qkv_bias,
                            norm_eps) for rate in rates)
        self.ln1 = nn.LayerNorm(self.embed_dims, eps=norm_eps)
        self._register_load_state_dict_pre_hook(self._adapt_checkpoint)

    @property
    def with_size_token(self) -> bool:
        """Whether the Ship Size Embedding token is appended."""
        return self.size_embed is not None

    def init_weights(self) -> None:
        """Random init (ViT style), then the checkpoint of ``init_cfg``."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Conv2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                nn.init.trunc_normal_(m.weight, std=math.sqrt(1 / fan_in))
                nn.init.zeros_(m.bias)
        for param in (self.cls_token, self.pos_embed, self.modality_embed):
            trunc_normal_(param, std=0.02)
        if hasattr(self, '_params_init_info'):  # set by a parent's init
            update_init_info(
                self, init_info=f'ViT init in {type(self).__name__}.'
                'init_weights (trunc normal std 0.02, conv fan-in)')
        super().init_weights()

    def _adapt_checkpoint(self, state_dict: dict, prefix: str, *args,
                          **kwargs) -> None:
        """Rename timm keys, fill a missing SAR head, resize pos_embed."""
        convert_timm_vit_keys(state_dict, prefix)
        opt_prefix = prefix + 'patch_embed.'
        sar_prefix = prefix + 'patch_embed_sar.'
        if not any(k.startswith(sar_prefix) for k in state_dict):
            for key in [k for k in state_dict if k.startswith(opt_prefix)]:
                state_dict[sar_prefix + key[len(opt_prefix):]] = \
                    state_dict[key].clone()
        name = prefix + 'pos_embed'
        if name in state_dict and \
                state_dict[name].shape != self.pos_embed.shape:
            num_patches = state_dict[name].shape[1] - self.num_extra_tokens
            side = math.isqrt(num_patches)
            if side * side != num_patches:
                raise ValueError(
                    f'cannot resize a checkpoint position embedding of '
                    f'{num_patches} patches (not a square grid)')
            print_log(
                f'resize pos_embed from {side}x{side} to '
                f'{self.patch_resolution[0]}x{self.patch_resolution[1]}',
                logger='current')
            state_dict[name] = resize_pos_embed(
                state_dict[name], (side, side), self.patch_resolution,
                self.interpolate_mode, self.num_extra_tokens)

    def embed_patches(self, x: torch.Tensor, modalities: torch.Tensor
                      ) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Route each sample through its modality's patch embedding.

        Args:
            x (torch.Tensor): Images, shape (B, 3, H, W).
            modalities (torch.Tensor): Modality ids (0 optical, 1 SAR),
                shape (B,).

        Returns:
            tuple: Patch tokens in the input order, shape (B, h*w, C), and
            the patch grid (h, w).
        """
        if modalities.shape != (x.shape[0], ):
            raise ValueError(f'expected {x.shape[0]} modality ids, got shape '
                             f'{tuple(modalities.shape)}')
        if not bool(((modalities == OPTICAL) | (modalities == SAR)).all()):
            raise ValueError('modality ids must be 0 (optical) or 1 (SAR), '
                             f'got {modalities.unique().tolist()}')
        parts, indices, grid = [], [], None
        for modality_id, embed in ((OPTICAL, self.patch_embed),
                                   (SAR, self.patch_embed_sar)):
            idx = torch.nonzero(modalities == modality_id).flatten()
            if idx.numel():
                tokens, grid = embed(x[idx])
                parts.append(tokens)
                indices.append(idx)
        restore = torch.argsort(torch.cat(indices))
        return torch.cat(parts)[restore], tuple(grid)

    def forward(self,
                x: torch.Tensor,
                modalities: torch.Tensor,
                ship_sizes: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor]:
        """Global (class-token) feature of each image.

        Args:
            x (torch.Tensor): Images, shape (B, 3, H, W).
            modalities (torch.Tensor): Modality ids, shape (B,), long.
            ship_sizes (torch.Tensor, optional): Ship-size vectors, shape
                (B, size_dims); required when ``with_size_token``.

        Returns:
            tuple[torch.Tensor]: One tensor of shape (B, C): the class token
            after the final LayerNorm.
        """
        if self.with_size_token and ship_sizes is None:
            raise ValueError('TransOSSViT with a size token needs ship_sizes')
        tokens, grid = self.embed_patches(x, modalities)
        cls_token = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat((cls_token, tokens), dim=1)
        x = x + resize_pos_embed(self.pos_embed, self.patch_resolution, grid,
                                 self.interpolate_mode, self.num_extra_tokens)
        x = x + self.modality_embed_scale * self.modality_embed[modalities]
        if self.with_size_token:
            size_token = self.size_embed(ship_sizes.to(x.dtype))
            x = torch.cat((x, size_token.unsqueeze(1)), dim=1)
        x = self.drop_after_pos(x)
        for layer in self.layers:
            x = layer(x)
        return (self.ln1(x)[:, 0], )
