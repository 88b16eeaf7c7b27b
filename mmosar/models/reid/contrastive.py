"""Optical-SAR contrastive pretraining model of TransOSS."""
import math
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmosar.registry import MODELS

from .base import ModalityAwareEmbedder

OPTICAL, SAR = 0, 1


@MODELS.register_module()
class OptiSarContrastive(ModalityAwareEmbedder):
    """Symmetric InfoNCE pretraining on co-registered optical/SAR pairs.

    A batch holds N optical and N SAR images whose ``gt_label`` is the pair
    id (any order: images are matched by pair id, so an identity sampler
    with two instances per id yields valid batches). The class-token
    features are L2-normalised and the loss is the symmetric InfoNCE of
    ``exp(t) * S @ O.T`` (rows SAR, columns optical) with a learnable
    temperature logit ``t`` initialised to ln(1/0.07). Only in-batch
    negatives are used.

    Args:
        backbone (dict): Backbone config (``TransOSSViT`` without size
            token, as in the paper's pretraining).
        loss (dict): Loss config. Defaults to ``SymmetricInfoNCELoss``.
        init_logit_scale (float): Initial ``t``. Defaults to ln(1/0.07).
        data_preprocessor (dict, optional): See
            :class:`ModalityAwareEmbedder`.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 loss: dict = dict(type='SymmetricInfoNCELoss'),
                 init_logit_scale: float = math.log(1 / 0.07),
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            backbone=backbone,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.loss_module = MODELS.build(loss)
        self.logit_scale = nn.Parameter(torch.tensor(float(init_logit_scale)))

    @staticmethod
    def pair_order(data_samples: List) -> Tuple[torch.Tensor, torch.Tensor]:
        """Indices of the optical and SAR images, aligned by pair id.

        Returns:
            tuple[torch.Tensor]: ``(optical_idx, sar_idx)``, each shape (N,),
            such that ``optical_idx[i]`` and ``sar_idx[i]`` share a pair id.

        Raises:
            ValueError: If a pair id does not appear exactly once per
                modality in the batch.
        """
        index = {OPTICAL: {}, SAR: {}}
        for i, ds in enumerate(data_samples):
            pid = int(ds.gt_label.item())
            by_modality = index[int(ds.modality)]
            if pid in by_modality:
                raise ValueError(f'pair id {pid} appears twice with modality '
                                 f'{int(ds.modality)} in one batch')
            by_modality[pid] = i
        if set(index[OPTICAL]) != set(index[SAR]) or not index[OPTICAL]:
            unmatched = set(index[OPTICAL]) ^ set(index[SAR])
            raise ValueError(
                'each pair id needs one optical and one SAR image per '
                f'batch; unmatched: {sorted(unmatched)}')
        pids = sorted(index[OPTICAL])
        return (torch.tensor([index[OPTICAL][p] for p in pids]),
                torch.tensor([index[SAR][p] for p in pids]))

    def pair_logits(self, inputs: torch.Tensor,
                    data_samples: List) -> torch.Tensor:
        """Scaled cosine similarities of the batch's pairs.

        Returns:
            torch.Tensor: Shape (N, N); see :meth:`logits_from_feats`.
        """
        return self.logits_from_feats(
            self.extract_feat(inputs, data_samples)[-1], data_samples)

    def logits_from_feats(self, feats: torch.Tensor,
                          data_samples: List) -> torch.Tensor:
        """Pair logits from the class-token features of a batch.

        .. math:: L = e^{t}\\, \\hat S \\hat O^{\\top}

        with ``S`` / ``O`` the L2-normalised features of the SAR / optical
        images, both ordered by pair id.

        Args:
            feats (torch.Tensor): Features of the batch, shape (2N, C).
            data_samples (list): With ``gt_label`` (pair id) and
                ``modality``.

        Returns:
            torch.Tensor: ``L``, shape (N, N); rows SAR, columns optical,
            positives on the diagonal.
        """
        feats = F.normalize(feats, dim=1)
        opt_idx, sar_idx = self.pair_order(data_samples)
        return self.logit_scale.exp() * (
            feats[sar_idx.to(feats.device)]
            @ feats[opt_idx.to(feats.device)].t())

    def loss(self, inputs: torch.Tensor, data_samples: List) -> dict:
        """Symmetric InfoNCE loss and the current logit scale."""
        logits = self.pair_logits(inputs, data_samples)
        return {
            'loss_infonce': self.loss_module(logits),
            'logit_scale': self.logit_scale.exp().detach()
        }

    def predict(self, inputs: torch.Tensor, data_samples: List) -> List:
        """Data samples with the L2-normalised ``pred_feature`` set."""
        feats = F.normalize(
            self.extract_feat(inputs, data_samples)[-1], dim=1)
        for ds, f in zip(data_samples, feats):
            ds.set_field(f, 'pred_feature', field_type='data')
        return data_samples
