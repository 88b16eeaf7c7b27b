"""CSSA: Channel Switching and Spatial Attention (Cao et al., CVPRW 2023).

As the M4-SAR benchmark builds it at P3/P4/P5 (released class ``CSSA``).
With stream maps ``X_o, X_s`` of shape ``(B, C, H, W)``:

1. ECA channel weights per modality: ``w_m = sigmoid(Conv1d_k(GAP(X_m)))``
   (a ``k``-tap bias-free 1-D conv across the ``C`` pooled channels);
2. hard channel switching: ``X'_o = where(w_o < t, X_s, X_o)`` and
   ``X'_s = where(w_s < t, X_o, X_s)`` (threshold ``t = 0.5``);
3. parameter-free spatial attention over ``Z = [X'_o, X'_s]``:
   ``a = sigmoid(mean_c Z) * sigmoid(max_c Z)`` (per pixel, over all
   ``2C`` channels), ``Y = (a X'_o + a X'_s) / 2``.

The switch is a hard comparison, so no gradient reaches the ECA convs
through it (as released).
"""
from typing import Optional

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmosar.registry import MODELS


class ECAWeights(nn.Module):
    """``sigmoid(Conv1d_k(GAP(x)))``: ``(B, C, H, W) -> (B, C, 1, 1)``."""

    def __init__(self, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=kernel_size // 2,
                              bias=False)

    def forward(self, x: Tensor) -> Tensor:
        pooled = x.mean(dim=(2, 3)).unsqueeze(1)  # (B, 1, C)
        return torch.sigmoid(self.conv(pooled)).transpose(1, 2).unsqueeze(-1)


@MODELS.register_module()
class CSSA(BaseModule):
    """Channel switching + spatial attention fusion (see module docstring).

    Args:
        channels (int, optional): ``C``; unused by the computation (the
            module has ``2 k`` parameters whatever ``C``), kept so that
            every fusion takes the same arguments.
        kernel_size (int): ECA kernel ``k`` (3).
        switch_threshold (float): ``t`` (0.5).
        init_cfg (dict, optional): mmengine init config.

    Shapes: ``(B, C, H, W), (B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self,
                 channels: Optional[int] = None,
                 kernel_size: int = 3,
                 switch_threshold: float = 0.5,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.channels = channels
        self.switch_threshold = switch_threshold
        self.eca_optical = ECAWeights(kernel_size)
        self.eca_sar = ECAWeights(kernel_size)

    def forward(self, x_opt: Tensor, x_sar: Tensor) -> Tensor:
        t = self.switch_threshold
        opt = torch.where(self.eca_optical(x_opt) < t, x_sar, x_opt)
        sar = torch.where(self.eca_sar(x_sar) < t, x_opt, x_sar)
        both = torch.cat([opt, sar], dim=1)
        weighted = both * torch.sigmoid(both.mean(
            dim=1, keepdim=True)) * torch.sigmoid(both.amax(dim=1,
                                                          keepdim=True))
        weighted_opt, weighted_sar = weighted.chunk(2, dim=1)
        return (weighted_sar + weighted_opt) / 2
