"""Box coders for rotated boxes."""
from .angle_coder import CSLCoder, PSCCoder, PseudoAngleCoder
from .delta_midpointoffset_rbbox_coder import MidpointOffsetCoder
from .delta_xywht_hbbox_coder import DeltaXYWHHBBoxCoder, DeltaXYWHTHBBoxCoder
from .delta_xywht_rbbox_coder import DeltaXYWHTRBBoxCoder
from .distance_angle_point_coder import DistanceAnglePointCoder

__all__ = [
    'DeltaXYWHTRBBoxCoder', 'DeltaXYWHHBBoxCoder', 'DeltaXYWHTHBBoxCoder',
    'DistanceAnglePointCoder', 'MidpointOffsetCoder',
    'PseudoAngleCoder', 'CSLCoder', 'PSCCoder'
]
