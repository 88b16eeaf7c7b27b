"""Embedding head of the CMPC coarse search module."""
from typing import Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmosar.registry import MODELS


@MODELS.register_module()
class CrossModalEmbeddingHead(BaseModule):
    """Global max pooling plus a feature projector, shared by both modalities.

    Produces two L2-normalised outputs per image:

    - the retrieval feature (``out_feat`` in CMPC): the max-pooled backbone
      map, shape (N, in_channels); used for retrieval and the graph;
    - the projected embedding (``out_vec``): Linear + BatchNorm1d of the
      retrieval feature, shape (N, proj_channels); used by the triplet and
      adversarial losses.

    Args:
        in_channels (int): Backbone output channels. Defaults to 2048.
        proj_channels (int): Projection width. Defaults to 512.
        loss (dict): Config of the cross-modal metric loss on the projected
            embeddings. Defaults to ``CrossModalTripletLoss`` (margin 0.5).
        init_cfg (dict | list[dict]): Kaiming init of the projector.
    """

    def __init__(self,
                 in_channels: int = 2048,
                 proj_channels: int = 512,
                 loss: dict = dict(type='CrossModalTripletLoss', margin=0.5),
                 init_cfg: Union[dict, list] = dict(
                     type='Kaiming', layer='Linear', mode='fan_out')) -> None:
        super().__init__(init_cfg=init_cfg)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.projector = nn.Sequential(
            nn.Linear(in_channels, proj_channels),
            nn.BatchNorm1d(proj_channels))
        self.loss_module = MODELS.build(loss)

    def pool_project(
        self, feats: Union[torch.Tensor, Sequence[torch.Tensor]]
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Global max pooling and projection, before normalisation.

        Args:
            feats (Tensor | Sequence[Tensor]): Backbone map (N, C, H, W), or
                a tuple of maps of which the last is used.

        Returns:
            tuple[Tensor, Tensor]: Pooled features (N, in_channels) and
            projector outputs (N, proj_channels). In train mode the
            projector's BatchNorm uses the statistics of all N rows.
        """
        if isinstance(feats, (list, tuple)):
            feats = feats[-1]
        pooled = self.pool(feats).flatten(1)
        return pooled, self.projector(pooled)

    def forward(
        self, feats: Union[torch.Tensor, Sequence[torch.Tensor]]
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Pool, project and L2-normalise (see :meth:`pool_project`).

        Returns:
            tuple[Tensor, Tensor]: Retrieval features (N, in_channels) and
            projected embeddings (N, proj_channels), both L2-normalised.
        """
        pooled, projected = self.pool_project(feats)
        return F.normalize(pooled, dim=1), F.normalize(projected, dim=1)

    def loss(self, sar_embeds: torch.Tensor, opt_embeds: torch.Tensor,
             sar_labels: torch.Tensor, opt_labels: torch.Tensor) -> dict:
        """Cross-modal metric loss on projected embeddings (N, proj)."""
        return dict(
            loss_triplet=self.loss_module(sar_embeds, opt_embeds, sar_labels,
                                          opt_labels))
