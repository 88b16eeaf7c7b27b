"""Saliency-driven Deformable-DETR encoder of SDCoNet.

Each layer updates only the salient tokens: first a multi-head
self-attention among ``pre_attn_topk`` of them ("pre-attention"), then the
deformable self-attention over the whole sequence and the FFN, and the
updated tokens are written back into the memory.

Two arithmetic variants, chosen by config:

- paper intent (default): the deformable attention reads the current memory
  (the previous layer's output) and adds its output once,
  ``LN(q + attn(q + pos))``; the pre-attention takes the most salient tokens.
- released (``value_from_input=True``, ``double_residual=True``,
  ``pre_attn_num_classes=C``): the value of every layer is the encoder
  *input* (the backbone tokens), mmcv's attention adds its identity
  ``q + pos`` and the layer adds ``q`` again, ``LN(2 q + pos + attn(q +
  pos))``, and the pre-attention takes the top tokens of
  ``max_c(class_head(q)) * saliency``.
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
from torch import Tensor, nn

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
        pre_attn_topk: Number of tokens that attend to each other with a
            standard multi-head self-attention before the deformable
            attention (100 in the released code); 0 disables it.
        pre_attn_cfg: Config of that attention (mmcv ``MultiheadAttention``;
            ``embed_dims`` and ``batch_first`` are filled in).
        double_residual: The released arithmetic: the deformable attention
            gets ``q + pos`` as its query *and* identity and the layer adds
            ``q`` again, ``q <- q + (q + pos + attn)``; False gives
            ``q <- q + attn``.
        *args, **kwargs: :class:`DeformableDetrTransformerEncoderLayer`
            arguments.
    """

    def __init__(self,
                 *args,
                 pre_attn_topk: int = 100,
                 pre_attn_cfg: dict = dict(num_heads=8, dropout=0.0),
                 double_residual: bool = False,
                 **kwargs) -> None:
        self.pre_attn_topk = pre_attn_topk
        self.pre_attn_cfg = dict(pre_attn_cfg)
        self.double_residual = double_residual
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

    def forward(self,
                query: Tensor,
                query_pos: Tensor,
                value: Tensor,
                key_padding_mask: Optional[Tensor],
                query_padding_mask: Optional[Tensor],
                pre_attn_index: Optional[Tensor] = None,
                **kwargs) -> Tensor:
        """Update the selected tokens.

        Args:
            query: ``(B, K, C)`` selected tokens, most salient first.
            query_pos: ``(B, K, C)`` their positional embeddings.
            value: ``(B, N, C)`` the value sequence of the deformable
                attention.
            key_padding_mask: ``(B, N)`` padding mask of ``value`` or None.
            query_padding_mask: ``(B, K)`` padding mask of ``query`` or None.
            pre_attn_index: ``(B, k)`` positions (into ``K``) of the tokens
                of the pre-attention; None takes the first
                ``pre_attn_topk``.
            **kwargs: ``reference_points`` ``(B, K, L, 2)``,
                ``spatial_shapes``, ``level_start_index``, ``valid_ratios``.

        Returns:
            Tensor: ``(B, K, C)`` updated tokens.
        """
        if self.pre_attn_topk > 0:
            if pre_attn_index is None:
                k = min(self.pre_attn_topk, query.shape[1])
                pre_attn_index = torch.arange(
                    k, device=query.device).expand(query.shape[0], k)
            top = _gather_tokens(query, pre_attn_index)
            top_pos = _gather_tokens(query_pos, pre_attn_index)
            top_mask = (None if query_padding_mask is None else
                        query_padding_mask.gather(1, pre_attn_index))
            top = self.pre_attn_norm(
                self.pre_attn(
                    query=top,
                    key=top,
                    value=top,
                    query_pos=top_pos,
                    key_pos=top_pos,
                    key_padding_mask=top_mask))
            query = query.scatter(
                1,
                pre_attn_index.unsqueeze(-1).expand_as(top), top)
        if self.double_residual:
            query = query + self.self_attn(
                query=query + query_pos,
                value=value,
                key_padding_mask=key_padding_mask,
                **kwargs)
        else:
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
        value_from_input: The released arithmetic: every layer's deformable
            attention reads the encoder input (the backbone tokens); False
            reads the current memory.
        pre_attn_num_classes: None ranks the pre-attention tokens by
            saliency (the first ``pre_attn_topk`` selected tokens). A number
            ``C`` builds the released per-encoder class head
            ``pre_attn_class_head`` (Linear ``embed_dims -> C``,
            ``enhance_mcsp``) and takes, in every layer, the top tokens of
            ``max_c(pre_attn_class_head(q)) * saliency_logit``. The head only
            feeds a ``topk``, so it gets no gradient.
        *args, **kwargs: :class:`DeformableDetrTransformerEncoder`
            arguments; ``layer_cfg`` is a :class:`SalienceEncoderLayer`
            config.
    """

    def __init__(self,
                 *args,
                 layer_keep_ratio: Optional[Sequence[float]] = None,
                 value_from_input: bool = False,
                 pre_attn_num_classes: Optional[int] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.value_from_input = value_from_input
        self.pre_attn_class_head = None
        if pre_attn_num_classes is not None:
            self.pre_attn_class_head = nn.Linear(self.embed_dims,
                                                 pre_attn_num_classes)
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

    def pre_attention_scores(self, query: Tensor,
                             salience: Tensor) -> Tensor:
        """Released ranking score of the pre-attention tokens.

        Args:
            query: ``(B, K, C)`` selected tokens.
            salience: ``(B, K)`` their saliency logits.

        Returns:
            Tensor: ``(B, K)`` ``max_c(pre_attn_class_head(query)) *
            salience``.
        """
        return self.pre_attn_class_head(query).max(-1)[0] * salience

    def forward(self, query: Tensor, query_pos: Tensor,
                key_padding_mask: Optional[Tensor], spatial_shapes: Tensor,
                level_start_index: Tensor, valid_ratios: Tensor,
                salient_index: Tensor, salience: Optional[Tensor] = None,
                **kwargs) -> Tensor:
        """Encode.

        Args:
            query: ``(B, N, C)`` flattened multi-level features.
            query_pos: ``(B, N, C)`` positional + level embeddings.
            key_padding_mask: ``(B, N)`` padding mask or None.
            spatial_shapes: ``(L, 2)`` level sizes.
            level_start_index: ``(L, )`` level offsets.
            valid_ratios: ``(B, L, 2)`` valid ratios.
            salient_index: ``(B, K)`` selected tokens, most salient first.
            salience: ``(B, N)`` saliency logits (needed with
                ``pre_attn_num_classes``).

        Returns:
            Tensor: ``(B, N, C)`` memory.
        """
        if self.pre_attn_class_head is not None and salience is None:
            raise ValueError('SalienceEncoder with pre_attn_num_classes needs '
                             'the saliency logits')
        reference_points = self.get_encoder_reference_points(
            spatial_shapes, valid_ratios, device=query.device)
        encoder_input = query
        num_selected = salient_index.shape[1]
        for layer, ratio in zip(self.layers, self.layer_keep_ratio):
            index = salient_index[:, :max(1, math.ceil(num_selected * ratio))]
            selected = _gather_tokens(query, index)
            pre_attn_index = None
            if self.pre_attn_class_head is not None and layer.pre_attn_topk:
                scores = self.pre_attention_scores(selected,
                                                   salience.gather(1, index))
                pre_attn_index = scores.topk(
                    min(layer.pre_attn_topk, index.shape[1]), dim=1)[1]
            selected = layer(
                query=selected,
                query_pos=_gather_tokens(query_pos, index),
                value=encoder_input if self.value_from_input else query,
                key_padding_mask=key_padding_mask,
                query_padding_mask=(None if key_padding_mask is None else
                                    key_padding_mask.gather(1, index)),
                pre_attn_index=pre_attn_index,
                reference_points=_gather_tokens(reference_points, index),
                spatial_shapes=spatial_shapes,
                level_start_index=level_start_index,
                valid_ratios=valid_ratios,
                **kwargs)
            query = query.scatter(
                1,
                index.unsqueeze(-1).expand(-1, -1, query.shape[-1]), selected)
        return query
