"""IoU loss of rotated boxes, differentiable on CPU and CUDA."""
from torch import Tensor

from mmosar.registry import MODELS
from mmosar.structures.bbox import rbox2corners
from mmosar.structures.bbox.rotated_iou import convex_quad_intersection_areas

from .rotated_box_loss import BaseRotatedBoxLoss, clamp_box_size

try:  # compiled only for CUDA in mmcv 2.1
    from mmcv.ops import diff_iou_rotated_2d
except ImportError:  # pragma: no cover
    diff_iou_rotated_2d = None


def rotated_box_iou(pred: Tensor, target: Tensor) -> Tensor:
    """Differentiable IoU of aligned pairs of rotated boxes.

    On CUDA (when mmcv's ``diff_iou_rotated_2d`` is compiled) this is
    mmcv's kernel, as in mmrotate. Elsewhere the intersection polygon is
    clipped exactly in float64 by
    :func:`~mmosar.structures.bbox.rotated_iou.convex_quad_intersection_areas`
    and ``IoU = I / (w1 h1 + w2 h2 - I)``; gradients flow through the
    polygon's vertices.

    Args:
        pred (Tensor): (N, 5) boxes ``(cx, cy, w, h, t)``.
        target (Tensor): (N, 5).

    Returns:
        Tensor: (N,) IoUs, dtype of ``pred``.
    """
    if pred.is_cuda and diff_iou_rotated_2d is not None:
        return diff_iou_rotated_2d(pred[None].float(),
                                   target[None].float())[0].to(pred.dtype)
    pred64, target64 = pred.double(), target.double()
    # each pair relative to its mean centre keeps precision far from origin
    origin = (pred64[:, :2] + target64[:, :2]).detach() / 2
    quads1 = rbox2corners(pred64) - origin[:, None]
    quads2 = rbox2corners(target64) - origin[:, None]
    inter = convex_quad_intersection_areas(quads1, quads2)
    area1 = pred64[:, 2] * pred64[:, 3]
    area2 = target64[:, 2] * target64[:, 3]
    union = (area1 + area2 - inter).clamp(min=1e-12)
    return (inter / union).to(pred.dtype)


@MODELS.register_module()
class RotatedIoULoss(BaseRotatedBoxLoss):
    """IoU loss of rotated boxes (mmrotate 1.x ``RotatedIoULoss``).

    ``IoU`` is clamped to ``eps``; the loss per box is

    * ``'log'``: ``-ln IoU`` (default),
    * ``'linear'``: ``1 - IoU``,
    * ``'square'``: ``1 - IoU^2``.

    mmrotate computes the IoU with mmcv's CUDA-only ``diff_iou_rotated_2d``;
    here CUDA uses that kernel and every other device the exact float64
    polygon clipping of :func:`rotated_box_iou`, so the loss also trains on
    CPU. Widths and heights are clamped to ``1e-3`` first (a zero-size
    prediction then gives IoU ~0, i.e. a large but finite loss).

    Args:
        linear (bool): Deprecated alias of ``mode='linear'``.
        eps (float): Lower clamp of the IoU. Defaults to 1e-6.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight (float): Multiplier of the loss.
        mode (str): ``'log'``, ``'linear'`` or ``'square'``.
    """

    def __init__(self,
                 linear: bool = False,
                 eps: float = 1e-6,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 mode: str = 'log') -> None:
        super().__init__(reduction=reduction, loss_weight=loss_weight)
        if linear:
            mode = 'linear'
        if mode not in ('log', 'linear', 'square'):
            raise ValueError(f'RotatedIoULoss mode must be log, linear or '
                             f'square, got {mode!r}.')
        self.mode = mode
        self.eps = eps

    def box_loss(self, pred: Tensor, target: Tensor) -> Tensor:
        """Per-box loss of (M, 5) boxes, shape (M,)."""
        ious = rotated_box_iou(clamp_box_size(pred),
                               clamp_box_size(target)).clamp(min=self.eps)
        if self.mode == 'log':
            return -ious.log()
        if self.mode == 'linear':
            return 1 - ious
        return 1 - ious**2
