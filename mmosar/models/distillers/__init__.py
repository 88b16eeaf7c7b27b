"""Knowledge distillation: IFKD (EDE, FDR, HSM)."""
from .ede import (
                  ConvMaskPredictor,
                  ExternalDisturbanceEnhancement,
                  load_external_weights,
)
from .fdr import FrequencyDomainReconstruction, low_pass, low_pass_window
from .hsm import (
                  HyperbolicSimilarityMask,
                  map_to_ball,
                  mobius_add,
                  poincare_distance,
                  released_hsm_distance,
)
from .ifkd_converter import (
                             convert_ifkd_checkpoint,
                             convert_ifkd_distill_weights,
)
from .ifkd_distiller import IFKDDistiller
from .ifkd_loss import IFKDDistillLoss
from .mobile_sam import MobileSAMMaskPredictor

__all__ = [
    'ConvMaskPredictor', 'ExternalDisturbanceEnhancement',
    'load_external_weights', 'FrequencyDomainReconstruction', 'low_pass',
    'low_pass_window', 'HyperbolicSimilarityMask', 'map_to_ball',
    'mobius_add', 'poincare_distance', 'IFKDDistiller', 'IFKDDistillLoss',
    'convert_ifkd_checkpoint', 'convert_ifkd_distill_weights',
    'MobileSAMMaskPredictor', 'released_hsm_distance'
]
