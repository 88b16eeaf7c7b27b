"""Metric-learning losses for re-identification."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmosar.registry import MODELS


def pairwise_euclidean(feats: torch.Tensor) -> torch.Tensor:
    """Euclidean distance matrix with a gradient-safe square root.

    Args:
        feats (torch.Tensor): Embeddings, shape (N, C).

    Returns:
        torch.Tensor: Distances, shape (N, N).
    """
    sq = (feats * feats).sum(dim=1)
    dist_sq = sq[:, None] + sq[None, :] - 2 * feats @ feats.t()
    return dist_sq.clamp(min=1e-12).sqrt()


@MODELS.register_module()
class BatchHardTripletLoss(nn.Module):
    """Triplet loss with batch-hard mining on Euclidean distances.

    For every anchor the hardest positive (largest distance, same identity)
    and hardest negative (smallest distance, other identity) of the batch
    are used. With ``margin=None`` this is the soft-margin variant
    ``log(1 + exp(d_ap - d_an))`` (TransOSS, ``NO_MARGIN``); with a float it
    is the hinge ``max(0, d_ap - d_an + margin)``.

    Args:
        margin (float, optional): Hinge margin, or None for the soft margin.
            Defaults to None.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 margin: Optional[float] = None,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.margin = margin
        self.loss_weight = loss_weight

    def forward(self, feats: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        """Loss of a batch.

        Args:
            feats (torch.Tensor): Embeddings, shape (N, C).
            labels (torch.Tensor): Identities, shape (N,).

        Returns:
            torch.Tensor: Scalar loss averaged over anchors that have at
            least one negative in the batch.
        """
        dist = pairwise_euclidean(feats)
        same = labels[:, None] == labels[None, :]
        has_negative = (~same).any(dim=1)
        if not bool(has_negative.any()):
            raise ValueError('triplet loss needs at least two identities in '
                             'the batch (use an identity sampler)')
        dist_ap = dist.masked_fill(~same, float('-inf')).max(dim=1).values
        dist_an = dist.masked_fill(same, float('inf')).min(dim=1).values
        dist_ap, dist_an = dist_ap[has_negative], dist_an[has_negative]
        if self.margin is None:
            loss = F.softplus(dist_ap - dist_an)
        else:
            loss = F.relu(dist_ap - dist_an + self.margin)
        return self.loss_weight * loss.mean()


@MODELS.register_module()
class SymmetricInfoNCELoss(nn.Module):
    """CLIP-style symmetric InfoNCE over a matrix of pair logits.

    ``logits[i, j]`` scores row item ``i`` against column item ``j``; the
    positives are on the diagonal, every other entry of the row / column is
    a negative. The loss is

    .. math::

        \\tfrac12\\big(\\mathrm{CE}(L, I) + \\mathrm{CE}(L^{\\top}, I)\\big)

    with ``CE`` the mean cross-entropy against the targets ``0..N-1`` (the
    released ``clip_loss``).

    Args:
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        """Loss of a batch.

        Args:
            logits (torch.Tensor): Pair logits, shape (N, N).

        Returns:
            torch.Tensor: Scalar loss.
        """
        if logits.ndim != 2 or logits.shape[0] != logits.shape[1]:
            raise ValueError('expected a square (N, N) logit matrix, got '
                             f'shape {tuple(logits.shape)}')
        targets = torch.arange(logits.shape[0], device=logits.device)
        loss = 0.5 * (F.cross_entropy(logits, targets) +
                      F.cross_entropy(logits.t(), targets))
        return self.loss_weight * loss
