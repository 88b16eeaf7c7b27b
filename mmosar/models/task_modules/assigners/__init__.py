"""Label assigners for rotated detection."""
from .rotated_atss_assigner import RotatedATSSAssigner
from .rotated_task_aligned_assigner import RotatedTaskAlignedAssigner

__all__ = ['RotatedATSSAssigner', 'RotatedTaskAlignedAssigner']
