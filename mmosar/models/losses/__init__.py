"""Losses for rotated boxes (pure PyTorch, run on CPU and CUDA)."""
from .gaussian_dist_loss import GDLoss
from .kf_iou_loss import KFLoss
from .probiou_loss import ProbIoULoss
from .rotated_iou_loss import RotatedIoULoss, rotated_box_iou

__all__ = [
    'GDLoss', 'KFLoss', 'ProbIoULoss', 'RotatedIoULoss', 'rotated_box_iou'
]
