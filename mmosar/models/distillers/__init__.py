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
)
from .ifkd_distiller import IFKDDistiller
from .mobile_sam import MobileSAMMaskPredictor

__all__ = [
    'ConvMaskPredictor', 'ExternalDisturbanceEnhancement',
    'load_external_weights', 'FrequencyDomainReconstruction', 'low_pass',
    'low_pass_window', 'HyperbolicSimilarityMask', 'map_to_ball',
    'mobius_add', 'poincare_distance', 'IFKDDistiller',
    'MobileSAMMaskPredictor'
]
