"""KFIoU loss (Yang et al., ICLR 2023), as mmrotate 1.x ``KFLoss``."""
from typing import Optional

import torch
from mmdet.models.losses.utils import weighted_loss
from torch import Tensor, nn

from mmosar.registry import MODELS


def kf_gaussian(boxes: Tensor) -> Tensor:
    """Covariances (N, 2, 2) ``R diag(w/2, h/2)^2 R^T`` of rotated boxes
    (``w``, ``h`` clamped to [1e-7, 1e7])."""
    wh = boxes[:, 2:4].clamp(min=1e-7, max=1e7)
    cos, sin = torch.cos(boxes[:, 4]), torch.sin(boxes[:, 4])
    rot = torch.stack([cos, -sin, sin, cos], dim=-1).reshape(-1, 2, 2)
    scale = torch.diag_embed(wh * 0.5)
    return rot.bmm(scale.square()).bmm(rot.transpose(1, 2))


@weighted_loss
def kfiou_loss(pred: Tensor,
               target: Tensor,
               pred_decode: Tensor,
               targets_decode: Tensor,
               fun: str = 'none',
               beta: float = 1.0 / 9.0,
               eps: float = 1e-6) -> Tensor:
    """Per-box KFIoU loss.

    ``xy``: smooth-L1 (``beta``) of the centre deltas ``pred[:, :2]`` vs
    ``target[:, :2]``, summed. Overlap: with Gaussians ``S_p``, ``S_t`` of
    the decoded boxes, the Kalman product ``S = S_p - S_p (S_p + S_t)^-1
    S_p`` and volumes ``V = 4 sqrt(det)``,
    ``KFIoU = V(S) / (V(S_p) + V(S_t) - V(S) + eps)`` (1/3 for identical
    boxes). ``fun``: ``'none'`` ``1 - KFIoU``, ``'ln'`` ``-ln(KFIoU + eps)``,
    ``'exp'`` ``exp(1 - KFIoU) - 1``. Loss ``max(xy + kf, 0)``.
    """
    diff = (pred[:, :2] - target[:, :2]).abs()
    xy_loss = torch.where(diff < beta, 0.5 * diff * diff / beta,
                          diff - 0.5 * beta).sum(dim=-1)
    sigma_p = kf_gaussian(pred_decode)
    sigma_t = kf_gaussian(targets_decode)
    vol_p = 4 * sigma_p.det().sqrt()
    vol_t = 4 * sigma_t.det().sqrt()
    gain = sigma_p.bmm((sigma_p + sigma_t).inverse())
    sigma = sigma_p - gain.bmm(sigma_p)
    vol = 4 * sigma.det().clamp(eps).sqrt()
    vol = torch.where(torch.isnan(vol), torch.zeros_like(vol), vol)
    kfiou = vol / (vol_p + vol_t - vol + eps)
    if fun == 'ln':
        kf = -torch.log(kfiou + eps)
    elif fun == 'exp':
        kf = torch.exp(1 - kfiou) - 1
    else:
        kf = 1 - kfiou
    return (xy_loss + kf).clamp(0)


@MODELS.register_module()
class KFLoss(nn.Module):
    """KFIoU loss on deltas plus decoded boxes (mmrotate 1.x ``KFLoss``).

    Heads pass the deltas as ``pred`` / ``target`` and the decoded rotated
    boxes as ``pred_decode`` / ``targets_decode`` (e.g.
    ``RotatedRetinaHead(loss_bbox_type='kfiou')``).

    Args:
        fun (str): ``'none'``, ``'ln'`` or ``'exp'``. Defaults to ``'none'``.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight (float): Multiplier of the loss.
    """

    def __init__(self,
                 fun: str = 'none',
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 **kwargs) -> None:
        super().__init__()
        if fun not in ('none', 'ln', 'exp'):
            raise ValueError(f'KFLoss fun must be none, ln or exp, got '
                             f'{fun!r}.')
        if reduction not in ('none', 'mean', 'sum'):
            raise ValueError(f'Unknown reduction {reduction!r}.')
        self.fun = fun
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                pred_decode: Optional[Tensor] = None,
                targets_decode: Optional[Tensor] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> Tensor:
        """Weighted, reduced KFIoU loss of (N, 5) deltas and boxes."""
        if pred_decode is None or targets_decode is None:
            raise ValueError('KFLoss needs pred_decode and targets_decode '
                             '(decoded rotated boxes).')
        reduction = reduction_override or self.reduction
        if (weight is not None and not torch.any(weight > 0)
                and reduction != 'none'):
            return (pred * weight).sum()
        if weight is not None and weight.dim() > 1:
            weight = weight.mean(-1)
        return kfiou_loss(
            pred,
            target,
            weight=weight,
            avg_factor=avg_factor,
            reduction=reduction,
            pred_decode=pred_decode,
            targets_decode=targets_decode,
            fun=self.fun,
            **kwargs) * self.loss_weight
