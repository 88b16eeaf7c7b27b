"""Cross-modal batch-hard triplet loss of the CMPC coarse search module."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmosar.registry import MODELS


def _batch_hard_margin(dist: torch.Tensor, same: torch.Tensor,
                       margin: float) -> torch.Tensor:
    """Hinge on the hardest positive and negative of every anchor row.

    Args:
        dist (Tensor): Anchor-to-candidate distances, shape (A, C).
        same (Tensor): Whether candidate j shares anchor i's label, (A, C).
        margin (float): Margin of the hinge.

    Returns:
        Tensor: Hinge per anchor that has both a positive and a negative,
        shape (A',).
    """
    valid = same.any(1) & (~same).any(1)
    hardest_pos = dist.masked_fill(~same, float('-inf')).amax(1)
    hardest_neg = dist.masked_fill(same, float('inf')).amin(1)
    return F.relu(hardest_pos - hardest_neg + margin)[valid]


@MODELS.register_module()
class CrossModalTripletLoss(nn.Module):
    """Batch-hard triplet loss whose triplets always cross the modality gap.

    SAR anchors are compared only with optical candidates and optical
    anchors only with SAR candidates (the ``Triplet_Hard_Mining`` loss of
    CMPC with ``self_mode`` off). Distances are squared Euclidean. For each
    anchor the farthest same-label and the closest other-label candidate of
    the other modality form the triplet; the hinge
    ``max(0, d_ap - d_an + margin)`` is averaged over anchors in each
    direction and the two directions are summed.

    Unlike a single-modality ReID triplet loss it never mines a negative of
    the anchor's own modality, so it only shapes the cross-modal distances.

    Args:
        margin (float): Hinge margin. Defaults to 0.5 (CMPC).
        loss_weight (float): Defaults to 1.0.
    """

    def __init__(self, margin: float = 0.5, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.margin = margin
        self.loss_weight = loss_weight

    def forward(self, sar_embeds: torch.Tensor, opt_embeds: torch.Tensor,
                sar_labels: torch.Tensor,
                opt_labels: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            sar_embeds (Tensor): SAR embeddings, shape (Ns, D).
            opt_embeds (Tensor): Optical embeddings, shape (No, D).
            sar_labels (Tensor): Location labels of the SAR samples, (Ns,).
            opt_labels (Tensor): Location labels of the optical samples,
                (No,).

        Returns:
            Tensor: Scalar loss (zero when no anchor has both a positive
            and a negative in the batch).
        """
        if sar_embeds.shape[1] != opt_embeds.shape[1]:
            raise ValueError('SAR and optical embeddings differ in width: '
                             f'{sar_embeds.shape} vs {opt_embeds.shape}')
        dist = torch.cdist(sar_embeds, opt_embeds).pow(2)  # (Ns, No)
        same = sar_labels[:, None] == opt_labels[None, :]
        total = sar_embeds.new_zeros(())
        for hinge in (_batch_hard_margin(dist, same, self.margin),
                      _batch_hard_margin(dist.t(), same.t(), self.margin)):
            if hinge.numel():
                total = total + hinge.mean()
        return self.loss_weight * total
