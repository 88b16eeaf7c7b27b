"""Box coders for rotated boxes."""
from .delta_xywht_rbbox_coder import DeltaXYWHTRBBoxCoder
from .distance_angle_point_coder import DistanceAnglePointCoder

__all__ = ['DeltaXYWHTRBBoxCoder', 'DistanceAnglePointCoder']
