"""ProbIoU loss (Llerena et al., 2021), the box loss of YOLO-OBB / M4-SAR."""
import torch
from torch import Tensor

from mmosar.registry import MODELS
from mmosar.structures.bbox import rbbox_probiou

from .rotated_box_loss import BaseRotatedBoxLoss, clamp_box_size


@MODELS.register_module()
class ProbIoULoss(BaseRotatedBoxLoss):
    """Loss from the ProbIoU of two rotated boxes' Gaussians.

    ProbIoU = 1 - H with H the Hellinger distance between the boxes'
    Gaussians (covariance ``R diag(w^2, h^2) R^T / 12``), computed by
    :func:`mmosar.structures.bbox.rbbox_probiou`.

    Args:
        mode (str): ``'l1'``: ``1 - ProbIoU`` (= H, used by YOLO-OBB and
            M4-SAR); ``'l2'``: ``-ln(1 - H^2)``, the Bhattacharyya distance.
            Defaults to ``'l1'``.
        min_size (float): Widths/heights are clamped to this so gradients
            stay finite for degenerate boxes. Defaults to 1e-3.
        eps (float): Numerical guard passed to ``rbbox_probiou``.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight (float): Multiplier. Defaults to 1.0.
    """

    def __init__(self,
                 mode: str = 'l1',
                 min_size: float = 1e-3,
                 eps: float = 1e-7,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(reduction=reduction, loss_weight=loss_weight)
        if mode not in ('l1', 'l2'):
            raise ValueError(f"mode must be 'l1' or 'l2', got {mode!r}.")
        self.mode = mode
        self.min_size = min_size
        self.eps = eps

    def box_loss(self, pred: Tensor, target: Tensor) -> Tensor:
        """Per-box loss of (M, 5) boxes, shape (M,)."""
        hellinger = 1 - rbbox_probiou(
            clamp_box_size(pred, self.min_size),
            clamp_box_size(target, self.min_size),
            is_aligned=True,
            eps=self.eps)
        if self.mode == 'l1':
            return hellinger
        return -torch.log((1 - hellinger.pow(2)).clamp(min=self.eps))
