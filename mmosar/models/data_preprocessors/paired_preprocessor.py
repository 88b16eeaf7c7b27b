"""Data preprocessor for paired optical + SAR (multi-band) batches."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmdet.models.data_preprocessors import DetDataPreprocessor
from torch import Tensor

from mmosar.datasets.transforms.paired import modality_slices
from mmosar.registry import MODELS


@MODELS.register_module()
class PairedDetDataPreprocessor(DetDataPreprocessor):
    """Normalise each modality of a stacked optical + SAR image separately.

    Inputs are images whose bands are the optical bands followed by the SAR
    bands (see :class:`mmosar.datasets.transforms.LoadPairedImages`). The
    band count of each modality is read from the ``modality_channels``
    metainfo of the data samples (all samples of a batch must agree), or from
    the ``modality_channels`` argument when samples do not carry it (e.g. raw
    tensors at inference).

    For each image (C, H, W): the optical bands are reversed (BGR -> RGB) if
    ``bgr_to_rgb``, SAR bands are never reordered; then band ``c`` becomes
    ``(x_c - mean_c) / std_c`` with the statistics of its modality; then the
    batch is padded and stacked as in :class:`DetDataPreprocessor`
    (``pad_size_divisor``, ``pad_value`` applied after normalisation).

    Args:
        mean: Per-modality means on the 0-255 scale, e.g.
            ``dict(optical=[68.3, 69.7, 63.8], sar=[95.7])``. A modality's
            list has one value per band or a single value used for all its
            bands. None disables normalisation.
        std: Per-modality standard deviations, same keys as ``mean``.
        modality_channels: Fallback band counts, e.g.
            ``dict(optical=3, sar=1)``, used when data samples have no
            ``modality_channels`` metainfo.
        bgr_to_rgb: Reverse the 3 optical bands (OpenCV reads BGR).
        boxtype2tensor: Convert box-type ground truth to tensors. Defaults to
            False: rotated-box heads expect ``RotatedBoxes`` objects.
        **kwargs: Other :class:`DetDataPreprocessor` arguments
            (``pad_size_divisor``, ``pad_value``, ``batch_augments``...).
            ``rgb_to_bgr`` is not supported.
    """

    def __init__(self,
                 mean: Optional[Dict[str, Sequence[float]]] = None,
                 std: Optional[Dict[str, Sequence[float]]] = None,
                 modality_channels: Optional[Dict[str, int]] = None,
                 bgr_to_rgb: bool = False,
                 boxtype2tensor: bool = False,
                 **kwargs) -> None:
        if kwargs.pop('rgb_to_bgr', False):
            raise ValueError('PairedDetDataPreprocessor supports bgr_to_rgb '
                             '(optical bands only), not rgb_to_bgr')
        super().__init__(boxtype2tensor=boxtype2tensor, **kwargs)
        if (mean is None) != (std is None):
            raise ValueError('mean and std must both be dicts or both None')
        if mean is not None and set(mean) != set(std):
            raise ValueError(f'mean and std must have the same modalities, '
                             f'got {sorted(mean)} and {sorted(std)}')
        self.modality_mean = None if mean is None else {
            name: [float(v) for v in values]
            for name, values in mean.items()
        }
        self.modality_std = None if std is None else {
            name: [float(v) for v in values]
            for name, values in std.items()
        }
        if self.modality_std is not None and any(
                v <= 0 for values in self.modality_std.values()
                for v in values):
            raise ValueError(f'std values must be positive, got {std}')
        self.modality_channels = modality_channels
        self.optical_bgr_to_rgb = bgr_to_rgb

    def _batch_modality_channels(self, data_samples: Optional[list],
                                 num_bands: int) -> Dict[str, int]:
        """The batch's ``modality_channels``, checked against its bands."""
        found = []
        for sample in data_samples or []:
            channels = sample.metainfo.get('modality_channels')
            if channels is not None:
                found.append(dict(channels))
        if found:
            if any(channels != found[0] for channels in found):
                raise ValueError('all samples of a batch must have the same '
                                 f'modality_channels, got {found}')
            channels = found[0]
        elif self.modality_channels is not None:
            channels = dict(self.modality_channels)
        else:
            raise ValueError(
                'PairedDetDataPreprocessor needs modality_channels: add '
                '"modality_channels" to PackDetInputs meta_keys or set the '
                'modality_channels argument')
        if sum(channels.values()) != num_bands:
            raise ValueError(f'inputs have {num_bands} bands but '
                             f'modality_channels={channels}')
        return channels

    def _band_order_and_stats(
        self, channels: Dict[str, int], device: torch.device
    ) -> Tuple[List[int], Optional[Tensor], Optional[Tensor]]:
        """Band permutation and per-band mean / std of shape (C, 1, 1)."""
        order = list(range(sum(channels.values())))
        slices = modality_slices(channels)
        if self.optical_bgr_to_rgb:
            if channels.get('optical') != 3:
                raise ValueError('bgr_to_rgb needs 3 optical bands, got '
                                 f'modality_channels={channels}')
            optical = slices['optical']
            order[optical] = order[optical][::-1]
        if self.modality_mean is None:
            return order, None, None
        missing = set(channels) - set(self.modality_mean)
        if missing:
            raise ValueError(f'no mean/std for modalities {sorted(missing)} '
                             f'(modality_channels={channels})')
        mean, std = [], []
        for name, num in channels.items():
            for stats, out in ((self.modality_mean[name], mean),
                               (self.modality_std[name], std)):
                if len(stats) not in (1, num):
                    raise ValueError(
                        f'modality {name!r} has {num} band(s) but its '
                        f'mean/std have {len(stats)} values (give {num} or 1)')
                out.extend(stats * num if len(stats) == 1 else stats)
        as_tensor = (lambda values: torch.tensor(
            values, dtype=torch.float32, device=device).view(-1, 1, 1))
        return order, as_tensor(mean), as_tensor(std)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Reorder and normalise per modality, then pad and batch.

        Args:
            data: ``inputs`` (list of (C, H, W) tensors or an (N, C, H, W)
                tensor) and ``data_samples``.
            training: Whether in training (enables ``batch_augments``).

        Returns:
            dict: ``inputs`` (N, C, H', W') float tensor and
            ``data_samples``.
        """
        data = self.cast_data(data)
        inputs = data['inputs']
        batched = isinstance(inputs, Tensor)
        first = inputs[0]
        channels = self._batch_modality_channels(
            data.get('data_samples'), first.shape[0])
        order, mean, std = self._band_order_and_stats(channels, first.device)

        def normalise(img: Tensor) -> Tensor:
            img = img[..., order, :, :].float()
            return img if mean is None else (img - mean) / std

        if batched:
            data['inputs'] = normalise(inputs)
        else:
            for img in inputs:
                if img.shape[0] != first.shape[0]:
                    raise ValueError('all images of a batch must have the '
                                     f'same bands, got {img.shape[0]} and '
                                     f'{first.shape[0]}')
            data['inputs'] = [normalise(img) for img in inputs]
        return super().forward(data, training)
