"""TransOSS: cross-modal optical-SAR ship re-identification model."""
from typing import List, Optional

import torch

from mmosar.registry import MODELS

from .base import ModalityAwareEmbedder


@MODELS.register_module()
class TransOSS(ModalityAwareEmbedder):
    """TransOSS (ICCV 2025) fine-tuning / inference model.

    :class:`TransOSSViT` backbone (dual-head tokenizer, MIE, SSE) followed
    by a :class:`BNNeckHead` (identity CE + soft-margin batch-hard triplet).
    ``predict`` stores the L2-normalised pre-BN global feature in
    ``pred_feature``, which :class:`CrossModalReIDMetric` ranks.

    Args:
        backbone (dict): Backbone config (``TransOSSViT``).
        head (dict): Head config (``BNNeckHead``).
        data_preprocessor (dict, optional): See
            :class:`ModalityAwareEmbedder`.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            backbone=backbone,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.head = MODELS.build(head)

    def loss(self, inputs: torch.Tensor, data_samples: List) -> dict:
        """Identity and triplet losses of a P x K batch."""
        return self.head.loss(self.extract_feat(inputs, data_samples),
                              data_samples)

    def predict(self, inputs: torch.Tensor, data_samples: List) -> List:
        """Data samples with ``pred_feature`` (C,) set."""
        return self.head.predict(
            self.extract_feat(inputs, data_samples), data_samples)
