"""Label assigners for rotated detection."""
from .rotated_task_aligned_assigner import RotatedTaskAlignedAssigner

__all__ = ['RotatedTaskAlignedAssigner']
