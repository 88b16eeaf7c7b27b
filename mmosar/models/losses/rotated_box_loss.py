"""Shared weighting and reduction of per-box losses on rotated boxes."""
from typing import Optional

import torch
from mmdet.models.losses.utils import weight_reduce_loss
from torch import Tensor, nn

from mmosar.structures.bbox import rbox2gaussian


def clamp_box_size(boxes: Tensor, min_size: float = 1e-3) -> Tensor:
    """Rotated boxes (N, 5) with ``w`` and ``h`` clamped to ``min_size``.

    Keeps Gaussian covariances invertible, so losses and their gradients stay
    finite for degenerate boxes (gradients of ``w``/``h`` below the bound
    are 0).
    """
    return torch.cat(
        [boxes[:, :2], boxes[:, 2:4].clamp(min=min_size), boxes[:, 4:5]],
        dim=-1)


def rbox_gaussian(boxes: Tensor,
                  min_size: float = 1e-3,
                  cov_scale: float = 3.0) -> tuple:
    """Gaussian of rotated boxes, sizes clamped by :func:`clamp_box_size`.

    Args:
        boxes (Tensor): (N, 5) rotated boxes.
        min_size (float): Smallest width/height used. Defaults to 1e-3.
        cov_scale (float): Multiplies the uniform-box covariance
            ``R diag(w^2, h^2) R^T / 12`` of :func:`rbox2gaussian`. The
            GWD/KLD papers use ``R diag(w^2, h^2) R^T / 4``, i.e. 3 (default).

    Returns:
        tuple[Tensor, Tensor]: means (N, 2) and covariances (N, 2, 2).
    """
    mu, sigma = rbox2gaussian(clamp_box_size(boxes, min_size))
    return mu, sigma * cov_scale


class BaseRotatedBoxLoss(nn.Module):
    """Base of losses computed per pair of rotated boxes ``(N, 5)``.

    Subclasses implement :meth:`box_loss`; this class applies the weights
    (an ``(N, 5)`` weight, as built by anchor heads, is averaged per box),
    evaluates only boxes with positive weight (anchor heads pass all-zero
    targets for negatives) and reduces.

    Args:
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight (float): Multiplier of the loss.
    """

    def __init__(self, reduction: str = 'mean', loss_weight: float = 1.0):
        super().__init__()
        if reduction not in ('none', 'mean', 'sum'):
            raise ValueError(f'Unknown reduction {reduction!r}.')
        self.reduction = reduction
        self.loss_weight = loss_weight

    def box_loss(self, pred: Tensor, target: Tensor) -> Tensor:
        """Per-box loss of (M, 5) boxes, shape (M,)."""
        raise NotImplementedError

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Weighted, reduced loss.

        Args:
            pred (Tensor): Predicted boxes (N, 5) ``(cx, cy, w, h, t)``.
            target (Tensor): Target boxes (N, 5).
            weight (Tensor, optional): (N,) or (N, 5) weights.
            avg_factor (float, optional): Divisor of the summed loss.
            reduction_override (str, optional): Overrides ``reduction``.

        Returns:
            Tensor: Scalar, or (N,) with reduction ``'none'``.
        """
        if pred.shape != target.shape or pred.size(-1) != 5:
            raise ValueError(f'{type(self).__name__} needs pred and target '
                             'rotated boxes of equal shape (N, 5), got '
                             f'{tuple(pred.shape)} and {tuple(target.shape)}')
        reduction = reduction_override or self.reduction
        if weight is not None and weight.dim() > 1:
            weight = weight.mean(dim=-1)
        loss = pred.new_zeros(pred.shape[:-1])
        keep = (weight > 0) if weight is not None else torch.ones_like(
            loss, dtype=torch.bool)
        if keep.any():
            loss = loss.masked_scatter(
                keep, self.box_loss(pred[keep], target[keep]))
        else:  # keep the graph connected
            loss = loss + 0 * pred[..., 0]
        return self.loss_weight * weight_reduce_loss(
            loss, weight, reduction=reduction, avg_factor=avg_factor)
