"""Modality critic for the Wasserstein adversarial alignment of CMPC."""
from typing import Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmosar.registry import MODELS


@MODELS.register_module()
class ModalityWassersteinCritic(BaseModule):
    """WGAN critic that tells SAR embeddings from optical embeddings.

    An MLP ``D: R^C -> R`` (C -> hidden -> hidden -> 1, LeakyReLU 0.2). The
    critic is trained to score SAR embeddings high and optical ones low; its
    weights are clipped to ``[-clip_value, clip_value]`` after every step
    (the Lipschitz constraint of the original WGAN). The embedding network
    is then trained to raise the critic score of optical embeddings, which
    pulls the optical distribution towards the SAR one.

    Following the released CMPC code, both terms use "hard anchors": the
    ``hard_fraction`` of SAR embeddings with the lowest scores and of
    optical embeddings with the highest scores.

    Args:
        in_channels (int): Embedding width. Defaults to 512.
        hidden_channels (int): Hidden width. Defaults to 512.
        clip_value (float): Weight clipping bound. Defaults to 0.1.
        hard_fraction (float): Share of each modality used as anchors.
            Defaults to 0.5.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 in_channels: int = 512,
                 hidden_channels: int = 512,
                 clip_value: float = 0.1,
                 hard_fraction: float = 0.5,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not 0 < hard_fraction <= 1:
            raise ValueError(f'hard_fraction must be in (0, 1], got '
                             f'{hard_fraction}')
        self.clip_value = clip_value
        self.hard_fraction = hard_fraction
        self.net = nn.Sequential(
            nn.Linear(in_channels, hidden_channels), nn.LeakyReLU(0.2),
            nn.Linear(hidden_channels, hidden_channels), nn.LeakyReLU(0.2),
            nn.Linear(hidden_channels, 1))

    def forward(self, embeds: torch.Tensor) -> torch.Tensor:
        """Critic scores, shape (N,), of embeddings of shape (N, C)."""
        return self.net(embeds).squeeze(-1)

    def _hard(self, scores: torch.Tensor, largest: bool) -> torch.Tensor:
        num = max(1, int(round(scores.numel() * self.hard_fraction)))
        return scores.topk(num, largest=largest).values

    def hard_anchor_scores(
            self, sar_embeds: torch.Tensor,
            opt_embeds: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Scores of the SAR (lowest) and optical (highest) hard anchors."""
        sar_scores = self._hard(self(sar_embeds), largest=False)
        opt_scores = self._hard(self(opt_embeds), largest=True)
        return sar_scores, opt_scores

    def critic_loss(self, sar_embeds: torch.Tensor,
                    opt_embeds: torch.Tensor) -> torch.Tensor:
        """Negative Wasserstein estimate, minimised by the critic.

        Args:
            sar_embeds (Tensor): Detached SAR embeddings, shape (N, C).
            opt_embeds (Tensor): Detached optical embeddings, shape (N, C).

        Returns:
            Tensor: ``-mean D(SAR anchors) + mean D(optical anchors)``.
        """
        sar_scores, opt_scores = self.hard_anchor_scores(
            sar_embeds, opt_embeds)
        return opt_scores.mean() - sar_scores.mean()

    def generator_loss(self, opt_embeds: torch.Tensor) -> torch.Tensor:
        """Loss of the embedding network: ``-mean D(optical anchors)``."""
        return -self._hard(self(opt_embeds), largest=True).mean()

    @torch.no_grad()
    def clip_weights(self) -> None:
        """Clamp every parameter to ``[-clip_value, clip_value]``."""
        for param in self.parameters():
            param.clamp_(-self.clip_value, self.clip_value)
