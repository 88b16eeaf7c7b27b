"""TransOSS ViT: mmpretrain's ViT with a cross-modal dual-head tokenizer.

Paper components (TransOSS, ICCV 2025) and where they live:

* Modality-shared Transformer Encoder: mmpretrain's
  :class:`~mmpretrain.models.backbones.VisionTransformer` (class token,
  position embedding and its resize, ``layers``, final ``ln1``, checkpoint
  pre-hook), unchanged and under mmpretrain's parameter names.
* Cross-modal Dual-head Tokenizer: ``patch_embed`` (optical, mmpretrain's)
  and ``patch_embed_sar`` (SAR, a second patch embedding of the same
  structure); each sample of a mixed batch goes through its modality's head.
* Modality Information Embedding (MIE): ``modality_embed``, a learned
  (num_modalities, 1, C) table; ``modality_embed_scale`` times the sample's
  row is added to the class and patch tokens with the position embedding.
* Ship Size Embedding (SSE): ``size_embed``, Linear(3, C) mapping the
  ship-size vector to one token appended after those additions (it gets
  neither).

The released implementation (Hoss-ReID) names these ``patch_embed_SAR``,
``mie_embed`` and ``wh_embed.linear_layer``; its checkpoints are converted
by :func:`mmosar.utils.converters.transoss.convert_transoss`.
"""
import copy
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed

from mmosar.registry import MODELS
from mmosar.utils.checkpoint import load_pretrained_strict

OPTICAL, SAR = 0, 1


@MODELS.register_module()
class TransOSSViT(VisionTransformer):
    """ViT backbone of TransOSS with dual-head tokenizer, MIE and SSE.

    For an image ``x`` of modality ``m`` with ship-size vector ``s``, the
    sequence entering the first block is

    .. math::

        z_0 = [\\,[t_{cls};\\ E_m(x)] + P + \\lambda\\,M_m;\\ W s + b\\,]

    with ``E_m`` the modality's patch embedding (``B x hw x C``), ``P`` the
    position embedding (``1 x (1+hw) x C``, resized to the input grid),
    ``M_m`` the modality embedding row (``1 x C``), ``lambda`` =
    ``modality_embed_scale`` and the size token last (without the size
    token when ``with_size_token=False``). The blocks and the final
    LayerNorm are mmpretrain's.

    ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=...)`` loads
    **strictly** (:func:`mmosar.utils.checkpoint.load_pretrained_strict`):
    a missing or unexpected key is an error listing the keys, unless the
    dict names glob patterns in ``allowed_missing`` / ``allowed_unexpected``.
    ``converter='transoss'`` first converts a released Hoss-ReID checkpoint
    (full model, backbone-only or DDP). A checkpoint's position embedding of
    another square grid is resized by mmpretrain's pre-hook.

    Args:
        arch (str | dict): mmpretrain ViT arch (``'base'`` = ViT-B) or a dict
            with ``embed_dims``, ``num_layers``, ``num_heads`` and
            ``feedforward_channels``.
        img_size (int | Sequence[int]): Input size (H, W). Defaults to
            (256, 128).
        patch_size (int): Patch size and stride. Defaults to 16.
        num_modalities (int): Rows of the modality embedding; the tokenizer
            has two heads, so it must be 2.
        modality_embed_scale (float): MIE coefficient. Defaults to 3.0.
        with_size_token (bool): Append the SSE token. Defaults to True
            (False for contrastive pretraining).
        size_dims (int): Length of the ship-size vector. Defaults to 3.
        drop_rate (float): Dropout after the embeddings and in the blocks.
        drop_path_rate (float): Stochastic depth, linear over the blocks.
            Defaults to 0.1.
        qkv_bias (bool): Bias in the qkv projections. Defaults to True.
        norm_cfg (dict): Norm of the blocks and ``ln1``. Defaults to
            LayerNorm with eps 1e-6.
        out_type (str): ``'cls_token'`` (B, C) or ``'raw'`` (B, L, C).
        interpolate_mode (str): Position-embedding resize mode. Defaults to
            ``'bilinear'`` (the release's).
        init_cfg (dict, optional): See above.
    """
    OUT_TYPES = {'cls_token', 'raw'}

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
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 out_type: str = 'cls_token',
                 interpolate_mode: str = 'bilinear',
                 init_cfg: Optional[dict] = None) -> None:
        if num_modalities != 2:
            raise ValueError(
                'the dual-head tokenizer routes exactly two modalities, got '
                f'num_modalities={num_modalities}')
        pretrained_cfg = None
        if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
            # Loaded strictly in init_weights instead of by mmengine's
            # PretrainedInit (which skips mismatching keys with a warning).
            pretrained_cfg = {k: v for k, v in init_cfg.items() if k != 'type'}
            init_cfg = None
        super().__init__(
            arch=arch,
            img_size=img_size,
            patch_size=patch_size,
            drop_rate=drop_rate,
            drop_path_rate=drop_path_rate,
            qkv_bias=qkv_bias,
            norm_cfg=norm_cfg,
            final_norm=True,
            out_type=out_type,
            with_cls_token=True,
            interpolate_mode=interpolate_mode,
            init_cfg=init_cfg)
        self.pretrained_cfg = pretrained_cfg
        self.patch_embed_sar = copy.deepcopy(self.patch_embed)
        self.modality_embed_scale = modality_embed_scale
        self.modality_embed = nn.Parameter(
            torch.zeros(num_modalities, 1, self.embed_dims))
        self.size_embed = nn.Linear(size_dims, self.embed_dims) \
            if with_size_token else None

    @property
    def with_size_token(self) -> bool:
        """Whether the Ship Size Embedding token is appended."""
        return self.size_embed is not None

    def init_weights(self) -> None:
        """mmpretrain's ViT init, truncated-normal extras, then the strict
        checkpoint of ``init_cfg`` (if any)."""
        super().init_weights()
        trunc_normal_(self.cls_token, std=0.02)
        trunc_normal_(self.modality_embed, std=0.02)
        if self.size_embed is not None:
            trunc_normal_(self.size_embed.weight, std=0.02)
            nn.init.zeros_(self.size_embed.bias)
        if self.pretrained_cfg is not None:
            # mmpretrain's pre-hook resizes another grid's pos_embed; run it
            # before the strict shape comparison.
            load_pretrained_strict(
                self,
                **self.pretrained_cfg,
                prepare=lambda sd: self._prepare_pos_embed(sd, ''))

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
        tokens, grid = None, None
        for modality_id, embed in ((OPTICAL, self.patch_embed),
                                   (SAR, self.patch_embed_sar)):
            idx = torch.nonzero(modalities == modality_id).flatten()
            if idx.numel():
                part, grid = embed(x[idx])
                if tokens is None:
                    tokens = part.new_empty((x.shape[0], ) + part.shape[1:])
                tokens[idx] = part
        return tokens, tuple(grid)

    def embed_tokens(self,
                     x: torch.Tensor,
                     modalities: torch.Tensor,
                     ship_sizes: Optional[torch.Tensor] = None
                     ) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """The sequence entering block 0 (``z_0`` above).

        Args:
            x (torch.Tensor): Images, shape (B, 3, H, W).
            modalities (torch.Tensor): Modality ids, shape (B,), long.
            ship_sizes (torch.Tensor, optional): Ship-size vectors, shape
                (B, size_dims); required when ``with_size_token``.

        Returns:
            tuple: Tokens of shape (B, 1 + h*w [+ 1], C) and the grid (h, w).
        """
        if self.with_size_token and ship_sizes is None:
            raise ValueError('TransOSSViT with a size token needs ship_sizes')
        tokens, grid = self.embed_patches(x, modalities)
        cls_token = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat((cls_token, tokens), dim=1)
        x = x + resize_pos_embed(
            self.pos_embed,
            self.patch_resolution,
            grid,
            mode=self.interpolate_mode,
            num_extra_tokens=self.num_extra_tokens)
        x = x + self.modality_embed_scale * self.modality_embed[modalities]
        if self.with_size_token:
            size_token = self.size_embed(ship_sizes.to(x.dtype))
            x = torch.cat((x, size_token.unsqueeze(1)), dim=1)
        return self.drop_after_pos(x), grid

    def forward(self,
                x: torch.Tensor,
                modalities: torch.Tensor,
                ship_sizes: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, ...]:
        """Features of each image from the layers in ``out_indices``.

        Args:
            x (torch.Tensor): Images, shape (B, 3, H, W).
            modalities (torch.Tensor): Modality ids, shape (B,), long.
            ship_sizes (torch.Tensor, optional): Ship-size vectors, shape
                (B, size_dims); required when ``with_size_token``.

        Returns:
            tuple[torch.Tensor]: Per output layer, the class token after the
            final LayerNorm, shape (B, C) (or the whole sequence for
            ``out_type='raw'``).
        """
        x, grid = self.embed_tokens(x, modalities, ship_sizes)
        x = self.pre_norm(x)
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == len(self.layers) - 1:
                x = self.ln1(x)
            if i in self.out_indices:
                outs.append(self._format_output(x, grid))
        return tuple(outs)
