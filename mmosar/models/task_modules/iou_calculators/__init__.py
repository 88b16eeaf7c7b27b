"""IoU calculators for rotated boxes (used by mmdet assigners)."""
from .rotated_iou2d_calculator import (
    FakeRBboxOverlaps2D,
    RBbox2HBboxOverlaps2D,
    RBboxOverlaps2D,
)

__all__ = ['RBboxOverlaps2D', 'FakeRBboxOverlaps2D', 'RBbox2HBboxOverlaps2D']
