"""Saliency-driven Deformable-DETR encoder of SDCoNet.

Each layer updates only the salient tokens (the whole memory stays the value
of the deformable attention): first an optional multi-head self-attention
among the ``pre_attn_topk`` most salient tokens ("pre-attention"), then the
usual deformable self-attention and FFN for all selected tokens, which are
written back into the memory.
"""
import math
from typing import Optional, Sequence

import torch
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.transformer import MultiheadAttention
from mmdet.models.layers import (
    DeformableDetrTransformerEncoder,
    DeformableDetrTransformerEncoderLayer,
)
from mmengine.model import ModuleList
from torch import Tensor

from mmosar.registry import MODELS


def _gather_tokens(x: Tensor, index: Tensor) -> Tensor:
    """``x[b, index[b]]`` for ``x`` of shape ``(B, N, ...)``."""
    shape = index.shape + x.shape[2:]
    flat = index.view(*index.shape, *([1] * (x.dim() - 2))).expand(shape)
    return x.gather(1, flat)


@MODELS.register_module()
class SalienceEncoderLayer(DeformableDetrTransformerEncoderLayer):
    """Deformable encoder layer on the selected (salient) tokens.

    Args:
        pre_attn_topk: Number of most salient tokens that attend to each
            other with a standard multi-head self-attention before the
            deformable attention (100 in the released code); 0 disables it.
        pre_attn_cfg: Config of that attention (mmcv ``MultiheadAttention``;
            ``embed_dims`` and ``batch_first`` are filled in).
        *args, **kwargs: :class:`DeformableDetrTransformerEncoderLayer`
            arguments.
    """

    def __init__(self,
                 *args,
                 pre_attn_topk: int = 100,
                 pre_attn_cfg: dict = dict(num_heads=8, dropout=0.0),
                 **kwargs) -> None:
        self.pre_attn_topk = pre_attn_topk
        self.pre_attn_cfg = dict(pre_attn_cfg)
        super().__init__(*args, **kwargs)

    def _init_layers(self) -> None:
        super()._init_layers()
        if self.pre_attn_topk > 0:
            cfg = dict(self.pre_attn_cfg)
            cfg.update(embed_dims=self.embed_dims, batch_first=True)
            dropout = cfg.pop('dropout', 0.0)
            cfg.setdefault('attn_drop', dropout)
            cfg.setdefault('proj_drop', dropout)
            self.pre_attn = MultiheadAttention(**cfg)
            self.pre_attn_norm = build_norm_layer(self.norm_cfg,
                                                  self.embed_dims)[1]

    def forward(self, query: Tensor, query_pos: Tensor, value: Tensor,
                key_padding_mask: Optional[Tensor],
                query_padding_mask: Optional[Tensor], **kwargs) -> Tensor:
        """Update the selected tokens.

        Args:
            query: ``(B, K, C)`` selected tokens, most salient first.
            query_pos: ``(B, K, C)`` their positional embeddings.
            value: ``(B, N, C)`` the whole memory.
            key_padding_mask: ``(B, N)`` padding mask of ``value`` or None.
            query_padding_mask: ``(B, K)`` padding mask of ``query`` or None.
            **kwargs: ``reference_points`` ``(B, K, L, 2)``,
                ``spatial_shapes``, ``level_start_index``, ``valid_ratios``.

        Returns:
            Tensor: ``(B, K, C)`` updated tokens.
        """
        if self.pre_attn_topk > 0:
            k = min(self.pre_attn_topk, query.shape[1])
            top, top_pos = query[:, :k], query_pos[:, :k]
            top_mask = (None if query_padding_mask is None else
                        query_padding_mask[:, :k])
            top = self.pre_attn_norm(
                self.pre_attn(
                    query=top,
                    key=top,
                    value=top,
                    query_pos=top_pos,
                    key_pos=top_pos,
                    key_padding_mask=top_mask))
            query = torch.cat([top, query[:, k:]], dim=1)
        query = self.self_attn(
            query=query,
            value=value,
            query_pos=query_pos,
            key_padding_mask=key_padding_mask,
            **kwargs)
        query = self.norms[0](query)
        query = self.ffn(query)
        return self.norms[1](query)


@MODELS.register_module()
class SalienceEncoder(DeformableDetrTransformerEncoder):
    """Deformable-DETR encoder that updates only the salient tokens.

    Layer ``i`` updates the first ``ceil(K * layer_keep_ratio[i])`` of the
    ``K`` selected tokens (they come sorted by saliency, best first).

    Args:
        layer_keep_ratio: One ratio in ``(0, 1]`` per layer; None keeps all
            selected tokens in every layer (the released setting).
        *args, **kwargs: :class:`DeformableDetrTransformerEncoder`
            arguments; ``layer_cfg`` is a :class:`SalienceEncoderLayer`
            config.
    """

    def __init__(self,
                 *args,
                 layer_keep_ratio: Optional[Sequence[float]] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if layer_keep_ratio is None:
            layer_keep_ratio = (1.0, ) * self.num_layers
        if len(layer_keep_ratio) != self.num_layers or not all(
                0 < r <= 1 for r in layer_keep_ratio):
            raise ValueError(
                f'layer_keep_ratio needs {self.num_layers} values in (0, 1], '
                f'got {tuple(layer_keep_ratio)}')
        self.layer_keep_ratio = tuple(layer_keep_ratio)

    def _init_layers(self) -> None:
        self.layers = ModuleList([
            SalienceEncoderLayer(**self.layer_cfg)
            for _ in range(self.num_layers)
        ])
        self.embed_dims = self.layers[0].embed_dims

    def forward(self, query: Tensor, query_pos: Tensor,
                key_padding_mask: Optional[Tensor], spatial_shapes: Tensor,
                level_start_index: Tensor, valid_ratios: Tensor,
                salient_index: Tensor, **kwargs) -> Tensor:
        """Encode.

        Args:
            query: ``(B, N, C)`` flattened multi-level features.
            query_pos: ``(B, N, C)`` positional + level embeddings.
            key_padding_mask: ``(B, N)`` padding mask or None.
            spatial_shapes: ``(L, 2)`` level sizes.
            level_start_index: ``(L, )`` level offsets.
            valid_ratios: ``(B, L, 2)`` valid ratios.
            salient_index: ``(B, K)`` selected tokens, most salient first.

        Returns:
            Tensor: ``(B, N, C)`` memory.
        """
        reference_points = self.get_encoder_reference_points(
            spatial_shapes, valid_ratios, device=query.device)
        num_selected = salient_index.shape[1]
        for layer, ratio in zip(self.layers, self.layer_keep_ratio):
            index = salient_index[:, :max(1, math.ceil(num_selected * ratio))]
            selected = layer(
                query=_gather_tokens(query, index),
                query_pos=_gather_tokens(query_pos, index),
                value=query,
                key_padding_mask=key_padding_mask,
                query_padding_mask=(None if key_padding_mask is None else
                                    key_padding_mask.gather(1, index)),
                reference_points=_gather_tokens(reference_points, index),
                spatial_shapes=spatial_shapes,
                level_start_index=level_start_index,
                valid_ratios=valid_ratios,
                **kwargs)
            query = query.scatter(
                1,
                index.unsqueeze(-1).expand(-1, -1, query.shape[-1]), selected)
        return query
