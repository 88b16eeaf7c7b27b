"""Saliency-driven token (query) selection of SDCoNet (Salience-DETR style).

A saliency scorer gives each encoder token one logit, coarsest level first
(each finer level is modulated by the up-sampled score of the coarser one).
It is supervised by :class:`SalienceFocalLoss` against
:func:`salience_targets`, a soft "centre-ness" target on the tokens inside a
box of their level's size (both as released, from Salience-DETR).
:func:`select_salient_tokens` ranks the tokens by saliency and keeps the top
ones per level; those are the tokens the encoder updates and the
candidates of DINO's query selection.
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmosar.registry import MODELS


@MODELS.register_module()
class SaliencePredictor(BaseModule):
    """Saliency scorer of one feature level (Salience-DETR's mask predictor).

    LayerNorm, Linear, GELU; the channels are split into a local half and a
    global half (mean over the valid tokens of the level, broadcast); the
    concatenation goes through an MLP ``C -> C/2 -> C/4 -> 1`` with GELUs.

    Args:
        embed_dims: Token channels ``C``.
        hidden_dims: Width after the first Linear (even).
        init_cfg: Initialisation config.
    """

    def __init__(self,
                 embed_dims: int = 256,
                 hidden_dims: int = 256,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if hidden_dims % 4:
            raise ValueError(f'hidden_dims must be a multiple of 4, got '
                             f'{hidden_dims}')
        self.input_proj = nn.Sequential(
            nn.LayerNorm(embed_dims), nn.Linear(embed_dims, hidden_dims),
            nn.GELU())
        self.score_mlp = nn.Sequential(
            nn.Linear(hidden_dims, hidden_dims // 2), nn.GELU(),
            nn.Linear(hidden_dims // 2, hidden_dims // 4), nn.GELU(),
            nn.Linear(hidden_dims // 4, 1))

    def forward(self, tokens: Tensor, valid: Tensor) -> Tensor:
        """Saliency logits of the tokens of one level.

        Args:
            tokens: ``(B, N, C)`` tokens.
            valid: ``(B, N)`` bool, False for padding.

        Returns:
            Tensor: ``(B, N)`` logits.
        """
        z = self.input_proj(tokens)
        local, glob = z.chunk(2, dim=-1)
        weights = valid.unsqueeze(-1).to(glob.dtype)
        glob = (glob * weights).sum(
            1, keepdim=True) / weights.sum(
                1, keepdim=True).clamp(min=1)
        z = torch.cat([local, glob.expand_as(local)], dim=-1)
        return self.score_mlp(z).squeeze(-1)


def _level_slices(spatial_shapes: Tensor) -> List[Tuple[int, int, int, int]]:
    """``(start, end, h, w)`` of each level in the flattened token axis."""
    slices, start = [], 0
    for h, w in spatial_shapes.tolist():
        slices.append((start, start + h * w, h, w))
        start += h * w
    return slices


def token_centres(spatial_shapes: Tensor,
                  image_shape: Tuple[int, int],
                  device=None) -> Tensor:
    """Centre of every token in image pixels.

    Token ``(i, j)`` of a level of size ``h x w`` lies at
    ``((j + 0.5) * W / w, (i + 0.5) * H / h)``.

    Args:
        spatial_shapes: ``(L, 2)`` ``(h, w)`` per level.
        image_shape: ``(H, W)`` of the (padded) image the boxes refer to.

    Returns:
        Tensor: ``(N, 2)`` ``(x, y)`` for all levels, flattened row-major.
    """
    height, width = image_shape
    centres = []
    for _, _, h, w in _level_slices(spatial_shapes):
        ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) * (
            height / h)
        xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) * (
            width / w)
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing='ij')
        centres.append(torch.stack([grid_x, grid_y], -1).reshape(-1, 2))
    return torch.cat(centres)


def salience_targets(gt_bboxes: Sequence[Tensor], spatial_shapes: Tensor,
                     image_shape: Tuple[int, int],
                     level_ranges: Sequence[Tuple[float, float]]) -> Tensor:
    """Soft saliency target of every token (Salience-DETR's, as released).

    For a token centre ``(x, y)`` and a box, ``l, t, r, b`` are the distances
    to its left, top, right and bottom borders. The box contains the token
    when ``min(l, t, r, b) > 0`` and *fits* level ``l`` when the token is
    inside and ``max(l, t, r, b)`` is in ``(lo_l, hi_l]``. The box's value is
    ``1 - sqrt(dx^2 + dy^2) / 2`` with ``dx = (l - r) / (l + r)`` and
    ``dy = (t - b) / (t + b)`` (1 at the box centre). A token's target is
    the largest value over **all boxes containing it** if at least one box
    fits its level, else 0 (as the released ``SalienceCriterion``: the value
    may come from a box of another level).

    Token centres are ``(i + 0.5) * stride`` with ``stride = image size /
    feature size`` (float32, as released); the boxes keep their dtype.

    Args:
        gt_bboxes: One ``(M_i, 4)`` tensor of ``x1, y1, x2, y2`` boxes (image
            pixels) per image.
        spatial_shapes: ``(L, 2)`` level sizes.
        image_shape: ``(H, W)`` the boxes refer to (padded batch size).
        level_ranges: ``L`` pairs ``(lo, hi)`` in pixels.

    Returns:
        Tensor: ``(B, N)`` targets in ``[0, 1]`` (dtype of the boxes, at
        least float32).
    """
    slices = _level_slices(spatial_shapes)
    if len(level_ranges) != len(slices):
        raise ValueError(f'salience level_ranges has {len(level_ranges)} '
                         f'entries for {len(slices)} feature levels')
    device = spatial_shapes.device
    centres = token_centres(spatial_shapes, image_shape, device)
    lo = torch.cat([
        centres.new_full((end - start, ), float(r[0]))
        for (start, end, _, _), r in zip(slices, level_ranges)
    ])
    hi = torch.cat([
        centres.new_full((end - start, ), float(r[1]))
        for (start, end, _, _), r in zip(slices, level_ranges)
    ])
    targets = []
    for boxes in gt_bboxes:
        boxes = boxes.to(device=device)
        if not boxes.is_floating_point():
            boxes = boxes.float()
        dtype = torch.promote_types(boxes.dtype, centres.dtype)
        if boxes.numel() == 0:
            targets.append(centres.new_zeros(len(centres), dtype=dtype))
            continue
        x, y = centres[:, None, 0], centres[:, None, 1]
        left, top = x - boxes[None, :, 0], y - boxes[None, :, 1]
        right, bottom = boxes[None, :, 2] - x, boxes[None, :, 3] - y
        dists = torch.stack([left, top, right, bottom], -1)  # (N, M, 4)
        inside = dists.min(-1).values > 0
        largest = dists.max(-1).values
        fits = inside & (largest > lo[:, None]) & (largest <= hi[:, None])
        dx = (left - right) / (left + right)
        dy = (top - bottom) / (top + bottom)
        value = 1 - torch.sqrt(dx**2 + dy**2) / 2
        value = torch.where(inside, value, torch.zeros_like(value))
        target = value.max(-1).values
        targets.append(torch.where(fits.any(-1), target,
                                   torch.zeros_like(target)))
    return torch.stack(targets)


@MODELS.register_module()
class SalienceFocalLoss(nn.Module):
    """Focal loss of the saliency logits with soft targets (as released).

    With ``p = sigmoid(x)`` and soft target ``t``, each token's term is

    ``l = BCE(x, t) * [(1 - alpha) p^gamma (1 - t) + alpha t (1 - p)^gamma]``

    (Salience-DETR's ``sigmoid_focal_loss`` that SDCoNet releases; for binary
    targets it is the usual focal loss). The loss is

    ``loss = w * sum_valid l / max(P, 1)``

    with ``P`` the number of valid tokens with ``t > 0`` in the batch. The
    release writes it as ``w * N * sum_b (sum_n l / N) / P``, the same for
    images without padding; padding tokens are left out here.

    Args:
        alpha: Weight of the positive part.
        gamma: Focusing exponent.
        loss_weight: ``w`` (2.0 in SDCoNet).
    """

    def __init__(self,
                 alpha: float = 0.25,
                 gamma: float = 2.0,
                 loss_weight: float = 2.0) -> None:
        super().__init__()
        self.alpha = alpha
        self.gamma = gamma
        self.loss_weight = loss_weight

    def elementwise(self, logits: Tensor, targets: Tensor) -> Tensor:
        """Per-token focal term ``l`` (same shape as ``logits``)."""
        prob = logits.sigmoid()
        weight = ((1 - self.alpha) * prob.pow(self.gamma) * (1 - targets) +
                  self.alpha * targets * (1 - prob).pow(self.gamma))
        bce = F.binary_cross_entropy_with_logits(
            logits, targets.to(logits.dtype), reduction='none')
        return bce * weight

    def forward(self, logits: Tensor, targets: Tensor,
                valid: Tensor) -> Tensor:
        """Saliency loss.

        Args:
            logits: ``(B, N)`` saliency logits.
            targets: ``(B, N)`` soft targets in ``[0, 1]``.
            valid: ``(B, N)`` bool, False for padding tokens.

        Returns:
            Tensor: Scalar loss.
        """
        loss = self.elementwise(logits, targets)
        num_pos = ((targets > 0) & valid).sum().clamp(min=1)
        return self.loss_weight * (loss * valid).sum() / num_pos


def select_salient_tokens(scores: Tensor, valid: Tensor,
                          spatial_shapes: Tensor,
                          level_keep_ratio: Sequence[float]) -> Tensor:
    """Indices of the most salient tokens, best first.

    On level ``l`` the top ``ceil(ratio_l * n_l)`` tokens are kept, ``n_l``
    being the largest number of valid tokens of that level in the batch
    (padding ranks last). The kept tokens of all levels are then sorted by
    score, descending, so any prefix is the top of the selection.

    Args:
        scores: ``(B, N)`` saliency scores.
        valid: ``(B, N)`` bool, False for padding.
        spatial_shapes: ``(L, 2)`` level sizes.
        level_keep_ratio: ``L`` ratios in ``(0, 1]``.

    Returns:
        Tensor: ``(B, K)`` int64 token indices into the ``N`` axis.
    """
    slices = _level_slices(spatial_shapes)
    if len(level_keep_ratio) != len(slices):
        raise ValueError(f'level_keep_ratio has {len(level_keep_ratio)} '
                         f'entries for {len(slices)} feature levels')
    masked = scores.detach().masked_fill(~valid, float('-inf'))
    kept = []
    for (start, end, _, _), ratio in zip(slices, level_keep_ratio):
        if not 0 < ratio <= 1:
            raise ValueError(f'level_keep_ratio values must be in (0, 1], '
                             f'got {ratio}')
        num_valid = int(valid[:, start:end].sum(1).max())
        k = min(end - start, max(1, math.ceil(ratio * num_valid)))
        kept.append(masked[:, start:end].topk(k, dim=1).indices + start)
    kept = torch.cat(kept, dim=1)
    order = masked.gather(1, kept).argsort(dim=1, descending=True)
    return kept.gather(1, order)


def level_of_tokens(spatial_shapes: Tensor) -> Tensor:
    """``(N,)`` level index of every flattened token."""
    return torch.cat([
        torch.full((end - start, ),
                   lvl,
                   dtype=torch.long,
                   device=spatial_shapes.device)
        for lvl, (start, end, _,
                  _) in enumerate(_level_slices(spatial_shapes))
    ])


@MODELS.register_module()
class CoarseToFineSalience(BaseModule):
    """Saliency of all levels, coarsest first.

    For each finer level, its tokens ``m`` are modulated by the up-sampled
    (bilinear, align_corners) score ``s`` of the next coarser level,
    ``m <- m + m * s * alpha_l``, before its own score is predicted.

    Args:
        num_levels: Feature levels ``L``.
        predictor: Config of the shared :class:`SaliencePredictor`.
        fixed_alpha: None learns ``alpha`` (``L - 1`` values, initialised
            U(-0.3, 0.3)); a number fixes all of them (the released gradient
            routing model uses 1.0).
        init_cfg: Initialisation config.
    """

    def __init__(self,
                 num_levels: int = 4,
                 predictor: dict = dict(type='SaliencePredictor'),
                 fixed_alpha: Optional[float] = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.predictor = MODELS.build(predictor)
        if fixed_alpha is None:
            self.alpha = nn.Parameter(
                torch.empty(num_levels - 1).uniform_(-0.3, 0.3))
        else:
            self.register_buffer(
                'alpha', torch.full((num_levels - 1, ), float(fixed_alpha)))

    def forward(self, tokens: Tensor, valid: Tensor,
                spatial_shapes: Tensor) -> Tensor:
        """Saliency logits.

        Args:
            tokens: ``(B, N, C)`` tokens of all levels (finest first).
            valid: ``(B, N)`` bool, False for padding.
            spatial_shapes: ``(L, 2)`` level sizes.

        Returns:
            Tensor: ``(B, N)`` logits.
        """
        slices = _level_slices(spatial_shapes)
        scores: List[Optional[Tensor]] = [None] * len(slices)
        coarser = None
        for lvl in reversed(range(len(slices))):
            start, end, h, w = slices[lvl]
            level_tokens = tokens[:, start:end]
            if coarser is not None:
                score_map, (hc, wc) = coarser
                up = F.interpolate(
                    score_map.view(-1, 1, hc, wc),
                    size=(h, w),
                    mode='bilinear',
                    align_corners=True).flatten(1)
                level_tokens = level_tokens + (
                    level_tokens * up.unsqueeze(-1) * self.alpha[lvl])
            scores[lvl] = self.predictor(level_tokens, valid[:, start:end])
            coarser = (scores[lvl], (h, w))
        return torch.cat(scores, dim=1)
