"""EDE: the External Disturbance Enhancement of IFKD (paper eqs. 1-2).

A frozen external segmentation model (MobileSAM in the paper) looks at the
input image; its foreground probability ``sigmoid(external(x))`` is resized
to a teacher FPN level and perturbs the teacher feature, directly
(``T + M``, paper eq. 1) or through a learnable generator
``G = Conv3x3 -> ReLU -> Conv3x3``: ``EDE(T) = T + G(M * T)`` (residual,
single-stage released code) or ``G(M * T)`` (two-stage released code).
The perturbed teacher feature is the imitation target of the student (on
the low-resolution FPN levels in the released split, on every level in the
paper's eq. 12).

The external model is any registered module mapping the normalised input
batch ``(B, 3, H, W)`` to mask logits ``(B, 1, h, w)`` covering the same
field of view; it is frozen and never trained. :class:`ConvMaskPredictor` is
a small stand-in; :class:`~.mobile_sam.MobileSAMMaskPredictor` is the
paper's model.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmosar.registry import MODELS

COMBINES = ('multiply', 'add')


def load_external_weights(model: nn.Module, checkpoint: str) -> None:
    """Load a plain or mmengine-style state dict file into ``model``.

    Args:
        model: Module to fill.
        checkpoint: Local file path.

    Raises:
        FileNotFoundError: the file does not exist.
        KeyError: the file misses some of the model's weights (listed).
        ValueError: a weight has the wrong shape.
    """
    import os.path as osp
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(
            f'external model checkpoint {checkpoint!r} does not exist')
    state = torch.load(checkpoint, map_location='cpu', weights_only=True)
    if isinstance(state, dict) and 'state_dict' in state:
        state = state['state_dict']
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as error:  # shape mismatches
        raise ValueError(f'{checkpoint}: does not fit '
                         f'{type(model).__name__}: {error}') from None
    if missing:
        raise KeyError(f'{checkpoint}: missing {len(missing)} weights of '
                       f'{type(model).__name__}, e.g. {missing[:5]}')
    if unexpected:
        # e.g. the prompt encoder's point embeddings in mobile_sam.pt,
        # unused without prompts.
        model.extra_checkpoint_keys = list(unexpected)


@MODELS.register_module()
class ConvMaskPredictor(nn.Module):
    """Small convolutional foreground predictor (external-model stand-in).

    Stride-``2**depth`` conv stack ending in one logit channel. Used by the
    tests and toy configs where MobileSAM weights are not available.

    Args:
        in_channels: Input image channels.
        width: Hidden channels.
        depth: Number of stride-2 conv-ReLU blocks.
        checkpoint: Optional local weights file.
    """

    def __init__(self,
                 in_channels: int = 3,
                 width: int = 16,
                 depth: int = 3,
                 checkpoint: Optional[str] = None) -> None:
        super().__init__()
        layers = []
        for i in range(depth):
            layers += [
                nn.Conv2d(in_channels if i == 0 else width, width, 3, 2, 1),
                nn.ReLU(inplace=True)
            ]
        layers.append(nn.Conv2d(width, 1, 1))
        self.layers = nn.Sequential(*layers)
        if checkpoint is not None:
            load_external_weights(self, checkpoint)

    def forward(self, images: Tensor) -> Tensor:
        """Mask logits ``(B, 1, H / 2**depth, W / 2**depth)``."""
        return self.layers(images)


@MODELS.register_module()
class ExternalDisturbanceEnhancement(nn.Module):
    """EDE applied to one teacher FPN level.

    ``P = M * T`` (``combine='multiply'``, released code) or ``T + M``
    (``'add'``, paper eq. 1), with ``M`` the external mask resized to the
    level; the output is ``T + G(P)`` (``residual``, released single-stage),
    ``G(P)`` (released two-stage) or ``P`` (``generator=False``, paper eq.
    1: no generator). ``G = Conv3x3 -> ReLU -> Conv3x3`` is learnable and
    sits on the teacher side of the imitation loss: trained by that loss it
    can move the target towards what the student already produces (see
    configs/ifkd/README.md).

    Args:
        channels: Teacher feature channels.
        residual: Add the teacher feature back (``T + G(P)``); only with
            the generator.
        combine: ``'multiply'`` or ``'add'``.
        generator: Use the learnable generator ``G``.
        binarize: Threshold the probability at 0.5 before resizing (the
            released code uses MobileSAM's binary ``masks``, i.e. logits
            > 0; the paper uses the sigmoid probability).
    """

    def __init__(self,
                 channels: int = 256,
                 residual: bool = True,
                 combine: str = 'multiply',
                 generator: bool = True,
                 binarize: bool = False) -> None:
        super().__init__()
        if combine not in COMBINES:
            raise ValueError(
                f'combine must be one of {COMBINES}, got {combine!r}')
        self.residual = residual
        self.combine = combine
        self.binarize = binarize
        self.generator = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1)) if generator else None

    @staticmethod
    def resize_mask(mask: Tensor, size) -> Tensor:
        """``phi_EDE``: bilinear resize (``align_corners=False``) of the
        ``(B, 1, h, w)`` mask to the level's ``(H, W)`` (the released code
        resized to ``(C, H)``, which fails; this is its repair)."""
        return F.interpolate(
            mask, size=tuple(size), mode='bilinear', align_corners=False)

    def forward(self, teacher: Tensor, mask: Tensor) -> Tensor:
        """Perturbed teacher feature.

        Args:
            teacher: Teacher feature ``(B, C, H, W)``.
            mask: Foreground probability ``(B, 1, h, w)`` in [0, 1] over the
                (padded) input batch; resized bilinearly to ``(H, W)``
                (``phi_EDE`` of eq. 2).

        Returns:
            ``(B, C, H, W)``.
        """
        if self.binarize:
            mask = mask > 0.5
        mask = self.resize_mask(mask.to(teacher.dtype), teacher.shape[-2:])
        perturbed = teacher * mask if self.combine == 'multiply' \
            else teacher + mask
        if self.generator is None:
            return perturbed
        out = self.generator(perturbed)
        return teacher + out if self.residual else out
