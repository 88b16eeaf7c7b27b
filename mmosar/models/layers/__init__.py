"""Reusable layers: YOLO11 blocks and the E2E-OSDet modules."""
from .afm import AFM
from .area_attention import AreaAttention, area_attention
from .cmim import CMIM
from .fam import FAM, ratio_edge_magnitude
from .oriented_response import ORConv2d, RotationInvariantPooling
from .rotated_align import FRM, AlignConv
from .selective_scan import (
    selective_scan,
    selective_scan_chunked,
    selective_scan_ref,
)
from .simple_fusion import AddFusion, ConcatConvFusion
from .yolo_blocks import (
    C2PSA,
    SPPF,
    C3k,
    C3k2,
    PositionSensitiveAttention,
    PSABlock,
    YOLOBottleneck,
)

__all__ = [
    'AFM', 'FRM', 'AlignConv', 'ORConv2d', 'RotationInvariantPooling',
    'AreaAttention', 'area_attention', 'CMIM', 'FAM',
    'ratio_edge_magnitude', 'selective_scan', 'selective_scan_chunked',
    'selective_scan_ref', 'AddFusion', 'ConcatConvFusion', 'C2PSA', 'SPPF',
    'C3k', 'C3k2', 'PositionSensitiveAttention', 'PSABlock', 'YOLOBottleneck'
]
