"""Reusable layers: YOLO11 blocks, the E2E-OSDet modules, the fusions of
the M4-SAR benchmark baselines and the rotated-detector alignment layers."""
from .afm import AFM
from .area_attention import AreaAttention, area_attention
from .calnet import CALNetCrossTransformer
from .cft import CrossModalityFusionTransformer, MMIFourierInteraction
from .cmadet import CrossModalAlignment, OSRInteraction
from .cmim import CMIM
from .cssa import CSSA
from .fam import FAM, ratio_edge_magnitude
from .icafusion import ICAFusion
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
    'AFM', 'AreaAttention', 'area_attention', 'CALNetCrossTransformer',
    'CrossModalityFusionTransformer', 'MMIFourierInteraction',
    'CrossModalAlignment', 'OSRInteraction', 'CSSA', 'ICAFusion', 'CMIM',
    'FAM', 'FRM', 'AlignConv', 'ORConv2d', 'RotationInvariantPooling',
    'ratio_edge_magnitude', 'selective_scan', 'selective_scan_chunked',
    'selective_scan_ref', 'AddFusion', 'ConcatConvFusion', 'C2PSA', 'SPPF',
    'C3k', 'C3k2', 'PositionSensitiveAttention', 'PSABlock', 'YOLOBottleneck'
]
