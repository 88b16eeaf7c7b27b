"""FAM: the Filter Augment Module of E2E-OSDet (M4-SAR).

FAM adds a fixed edge map to each image before its stem. The edge operator
is a ratio-of-averages detector (robust to multiplicative speckle): on a
single-band image ``I`` in ``[0, 1]``, reflect-padded by ``r`` and shifted
by ``eps``,

    S_L, S_R = sums over the left / right half windows (2r+1 rows x r+1
               columns, both containing the centre column),
    S_T, S_B = sums over the top / bottom half windows (r+1 rows x 2r+1
               columns, both containing the centre row),
    g_x = ln(S_L / S_R),  g_y = ln(S_T / S_B),
    E   = sqrt(g_x^2 + g_y^2)           (truncated to an integer, NaN -> 0)

and the module output is ``I' = I + 0.1 * E``: optical per channel
(``E`` of each band), SAR with ``E`` of one band added to every band.
The released code uses ``r = 5`` (11 x 11 windows), ``eps = 0.01``,
computes the window sums as convolutions with four 0/1 masks (buffers of
its checkpoints, :func:`half_window_masks`) and truncates ``E`` through
``uint8``; FAM has no parameters and no gradient. Here the masks are a
non-persistent buffer ``masks`` (the converter checks a checkpoint's masks
against the constants).
"""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmosar.registry import MODELS


def half_window_masks(radius: int = 5) -> Tensor:
    """The four half-window masks of the released edge operator.

    Returns:
        Tensor: ``(4, 1, 2r+1, 2r+1)`` float32, ones in the left ``r+1``
        columns, the right ``r+1`` columns, the top ``r+1`` rows and the
        bottom ``r+1`` rows (in this order), zeros elsewhere. These are the
        released ``Grad_edge`` buffers ``weight_x1, weight_x2, weight_y1,
        weight_y2``.
    """
    full, half = 2 * radius + 1, radius + 1
    masks = torch.zeros(4, 1, full, full)
    masks[0, 0, :, :half] = 1
    masks[1, 0, :, radius:] = 1
    masks[2, 0, :half, :] = 1
    masks[3, 0, radius:, :] = 1
    return masks


def ratio_edge_magnitude(image: Tensor,
                         masks: Tensor,
                         eps: float = 0.01,
                         quantize: bool = True) -> Tensor:
    """Log-ratio edge magnitude ``E`` of every band (no gradient).

    ``S = conv2d(pad_reflect(I) + eps, masks)`` gives the four window sums
    ``S_L, S_R, S_T, S_B``; ``E = sqrt(ln(S_L/S_R)^2 + ln(S_T/S_B)^2)``
    with NaN (a non-positive ratio) replaced by 0.

    Args:
        image (Tensor): ``(B, C, H, W)`` with values in ``[0, 1]``; each band
            is filtered independently. ``H, W > r`` (reflection pad).
            Computed in the image's dtype (at least float32).
        masks (Tensor): ``(4, 1, 2r+1, 2r+1)`` window masks (left, right,
            top, bottom), see :func:`half_window_masks`.
        eps (float): added to every pixel after padding.
        quantize (bool): truncate ``E`` toward zero through ``uint8`` as the
            released code does (values 0..255).

    Returns:
        Tensor: ``(B, C, H, W)`` magnitude in the image's dtype.
    """
    if image.dim() != 4:
        raise ValueError(f'FAM expects (B, C, H, W) images, got '
                         f'{tuple(image.shape)}')
    radius = masks.shape[-1] // 2
    height, width = image.shape[-2:]
    if min(height, width) <= radius:
        raise ValueError(f'FAM needs images larger than the filter radius '
                         f'{radius}, got {height}x{width}')
    b, c = image.shape[:2]
    with torch.no_grad():
        work = image if image.dtype in (torch.float32,
                                        torch.float64) else image.float()
        padded = F.pad(work.reshape(b * c, 1, height, width), [radius] * 4,
                       mode='reflect') + eps
        left, right, top, bottom = F.conv2d(padded,
                                            masks.to(work)).unbind(dim=1)
        grad_x = torch.log(left / right)
        grad_y = torch.log(top / bottom)
        magnitude = torch.sqrt(grad_x**2 + grad_y**2).nan_to_num_(0.0)
        if quantize:
            magnitude = magnitude.to(torch.uint8).to(work.dtype)
    return magnitude.view(b, c, height, width).to(image.dtype)


@MODELS.register_module()
class FAM(BaseModule):
    """Filter Augment Module: ``x + weight * E(x)`` (see module docstring).

    Args:
        mode (str): ``'per_channel'`` (optical: ``E`` of every band is added
            to that band) or ``'single_band'`` (SAR: ``E`` of ``band_index``
            is added to every band).
        band_index (int): band used in ``'single_band'`` mode; the released
            code uses the last SAR channel.
        radius (int): half window (5 -> 11 x 11 windows).
        eps (float): pixel offset after padding.
        weight (float): scale of the edge map (0.1).
        quantize (bool): truncate ``E`` to integers (released behaviour).
        data_mean, data_std (Sequence[float], optional): per-band mean/std
            (0-255 scale) that the data preprocessor applied. FAM then
            filters the de-normalised image ``(x * std + mean) / 255`` and
            adds ``weight * E * 255 / std``, i.e. exactly ``+ weight * E``
            in ``[0, 1]`` units. Leave None when inputs are already in
            ``[0, 1]`` (the released pipeline: divide by 255 only).

    Shapes:
        ``(B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self,
                 mode: str = 'per_channel',
                 band_index: int = -1,
                 radius: int = 5,
                 eps: float = 0.01,
                 weight: float = 0.1,
                 quantize: bool = True,
                 data_mean: Optional[Sequence[float]] = None,
                 data_std: Optional[Sequence[float]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        # constant windows, not trained and not stored in checkpoints
        self.register_buffer(
            'masks', half_window_masks(radius), persistent=False)
        if mode not in ('per_channel', 'single_band'):
            raise ValueError(f"FAM mode must be 'per_channel' or "
                             f"'single_band', got {mode!r}")
        if (data_mean is None) != (data_std is None):
            raise ValueError('FAM: give both data_mean and data_std or '
                             'neither')
        self.mode = mode
        self.band_index = band_index
        self.radius = radius
        self.eps = eps
        self.weight = weight
        self.quantize = quantize
        self.normalized = data_mean is not None
        if self.normalized:
            self.register_buffer(
                'data_mean',
                torch.tensor(data_mean, dtype=torch.float32).view(-1, 1, 1),
                persistent=False)
            self.register_buffer(
                'data_std',
                torch.tensor(data_std, dtype=torch.float32).view(-1, 1, 1),
                persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        unit = x
        if self.normalized:
            if self.data_mean.shape[0] not in (1, x.shape[1]):
                raise ValueError(f'FAM: {self.data_mean.shape[0]} mean '
                                 f'values for {x.shape[1]} channels')
            unit = (x * self.data_std + self.data_mean) / 255.0
        if self.mode == 'single_band':
            band = self.band_index % x.shape[1]
            unit = unit[:, band:band + 1]
        edges = ratio_edge_magnitude(unit, self.masks, self.eps,
                                     self.quantize)
        if self.normalized:
            edges = edges * (255.0 / self.data_std)
        return x + self.weight * edges
