"""Dense (one-stage) detection heads."""
from .oriented_rpn_head import OrientedRPNHead
from .r3_head import R3Head, R3RefineHead, S2AHead, S2ARefineHead
from .rotated_atss_head import RotatedATSSHead
from .rotated_fcos_head import RotatedFCOSHead
from .rotated_retina_head import RotatedRetinaHead
from .rotated_rtmdet_head import RotatedRTMDetHead, RotatedRTMDetSepBNHead
from .yolo_obb_head import YOLOOBBHead, probiou_nms

__all__ = [
    'OrientedRPNHead', 'R3Head', 'R3RefineHead', 'RotatedRetinaHead',
    'RotatedFCOSHead', 'RotatedATSSHead', 'RotatedRTMDetHead',
    'RotatedRTMDetSepBNHead', 'S2AHead', 'S2ARefineHead', 'YOLOOBBHead',
    'probiou_nms'
]
