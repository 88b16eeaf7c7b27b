"""Losses for rotated boxes (pure PyTorch, run on CPU and CUDA)."""
from .gaussian_dist_loss import GDLoss
from .probiou_loss import ProbIoULoss

__all__ = ['GDLoss', 'ProbIoULoss']
