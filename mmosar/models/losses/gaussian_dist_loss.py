"""Gaussian distance losses for rotated boxes: GWD, KLD and Bhattacharyya.

Each box ``(cx, cy, w, h, t)`` becomes a 2-D Gaussian with mean ``(cx, cy)``
and covariance ``R diag(w^2/4, h^2/4) R^T`` (GWD paper, Yang et al. ICML 2021;
KLD paper, Yang et al. NeurIPS 2021). A distance ``d`` between the prediction's
and the target's Gaussian is turned into a bounded loss
``1 - 1 / (tau + f(d))`` with ``f`` = ``log1p`` or ``sqrt``.
"""
import torch
from torch import Tensor

from mmosar.registry import MODELS

from .rotated_box_loss import BaseRotatedBoxLoss, rbox_gaussian


def _det2(m: Tensor) -> Tensor:
    """Determinant of (..., 2, 2) matrices."""
    return m[..., 0, 0] * m[..., 1, 1] - m[..., 0, 1] * m[..., 1, 0]


def _trace2(m: Tensor) -> Tensor:
    return m[..., 0, 0] + m[..., 1, 1]


def _inv2(m: Tensor) -> Tensor:
    """Inverse of (..., 2, 2) matrices (adjugate / determinant)."""
    adj = torch.stack([m[..., 1, 1], -m[..., 0, 1], -m[..., 1, 0],
                       m[..., 0, 0]], dim=-1).unflatten(-1, (2, 2))
    return adj / _det2(m)[..., None, None]


def _mahalanobis2(diff: Tensor, inv: Tensor) -> Tensor:
    """``diff^T inv diff`` for diff (..., 2) and inv (..., 2, 2)."""
    return (diff[..., None, :] @ inv @ diff[..., :, None])[..., 0, 0]


def gwd_distance(mu_p: Tensor, sigma_p: Tensor, mu_t: Tensor,
                 sigma_t: Tensor, eps: float = 1e-7) -> Tensor:
    """Squared 2-Wasserstein distance between 2-D Gaussians.

    ``|mu_p - mu_t|^2 + tr(Sp) + tr(St) - 2 tr((Sp^1/2 St Sp^1/2)^1/2)``; for
    2x2 matrices ``tr(M^1/2) = sqrt(tr M + 2 sqrt(det M))`` with
    ``tr M = tr(Sp St)`` and ``det M = det Sp det St``.
    """
    centre = (mu_p - mu_t).pow(2).sum(-1)
    cross = _trace2(sigma_p @ sigma_t) + 2 * (
        _det2(sigma_p) * _det2(sigma_t)).clamp(min=eps).sqrt()
    shape = _trace2(sigma_p) + _trace2(sigma_t) - 2 * cross.clamp(
        min=eps).sqrt()
    return centre + shape.clamp(min=0)


def kld_distance(mu_p: Tensor, sigma_p: Tensor, mu_t: Tensor,
                 sigma_t: Tensor) -> Tensor:
    """``KL(N_p || N_t)`` between 2-D Gaussians.

    ``0.5 (d^T St^-1 d + tr(St^-1 Sp) + ln(det St / det Sp) - 2)``.
    """
    inv_t = _inv2(sigma_t)
    return 0.5 * (_mahalanobis2(mu_p - mu_t, inv_t) + _trace2(inv_t @ sigma_p)
                  + torch.log(_det2(sigma_t) / _det2(sigma_p)) - 2)


def bhattacharyya_distance(mu_p: Tensor, sigma_p: Tensor, mu_t: Tensor,
                           sigma_t: Tensor) -> Tensor:
    """Bhattacharyya distance between 2-D Gaussians.

    ``1/8 d^T S^-1 d + 1/2 ln(det S / sqrt(det Sp det St))``, S = (Sp+St)/2.
    """
    sigma = (sigma_p + sigma_t) / 2
    return (_mahalanobis2(mu_p - mu_t, _inv2(sigma)) / 8 + 0.5 * torch.log(
        _det2(sigma) / (_det2(sigma_p) * _det2(sigma_t)).sqrt()))


GAUSSIAN_DISTANCES = dict(
    gwd=gwd_distance, kld=kld_distance, bcd=bhattacharyya_distance)


@MODELS.register_module()
class GDLoss(BaseRotatedBoxLoss):
    """Gaussian distance loss: GWD, KLD or Bhattacharyya (BCD).

    ``loss = 1 - 1 / (tau + f(d))`` for ``tau > 0``, ``f(d)`` for ``tau == 0``,
    with ``d`` the chosen distance between the Gaussians of the predicted
    and the target boxes.

    Args:
        loss_type (str): ``'gwd'``, ``'kld'`` or ``'bcd'``. Defaults to
            ``'kld'``.
        fun (str): ``'log1p'``, ``'sqrt'`` or ``'none'``. Defaults to
            ``'log1p'``.
        tau (float): See above. Defaults to 1.0.
        min_size (float): Widths/heights are clamped to this. Defaults to
            1e-3.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight (float): Multiplier. Defaults to 1.0.
    """

    def __init__(self,
                 loss_type: str = 'kld',
                 fun: str = 'log1p',
                 tau: float = 1.0,
                 min_size: float = 1e-3,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(reduction=reduction, loss_weight=loss_weight)
        if loss_type not in GAUSSIAN_DISTANCES:
            raise ValueError(f'Unknown loss_type {loss_type!r}; expected one '
                             f'of {sorted(GAUSSIAN_DISTANCES)}.')
        if fun not in ('log1p', 'sqrt', 'none'):
            raise ValueError(f"Unknown fun {fun!r}; expected 'log1p', "
                             "'sqrt' or 'none'.")
        if tau < 0:
            raise ValueError(f'tau must be >= 0, got {tau}.')
        self.loss_type = loss_type
        self.fun = fun
        self.tau = tau
        self.min_size = min_size

    def box_loss(self, pred: Tensor, target: Tensor) -> Tensor:
        """Per-box loss of (M, 5) boxes, shape (M,)."""
        distance = GAUSSIAN_DISTANCES[self.loss_type](
            *rbox_gaussian(pred, self.min_size),
            *rbox_gaussian(target, self.min_size)).clamp(min=0)
        if self.fun == 'log1p':
            distance = torch.log1p(distance)
        elif self.fun == 'sqrt':
            distance = distance.clamp(min=1e-7).sqrt()
        if self.tau > 0:
            return 1 - 1 / (self.tau + distance)
        return distance
