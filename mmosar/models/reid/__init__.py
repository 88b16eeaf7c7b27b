"""TransOSS re-identification models, head and losses."""
from .bnneck_head import BNNeckHead
from .contrastive import OptiSarContrastive
from .losses import BatchHardTripletLoss, SymmetricInfoNCELoss
from .transoss import TransOSS

__all__ = [
    'TransOSS', 'OptiSarContrastive', 'BNNeckHead', 'BatchHardTripletLoss',
    'SymmetricInfoNCELoss'
]
